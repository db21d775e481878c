"""The reproducibility manifest of a report, and ``python -m evaluation verify=PATH``.

Every report records what is needed to redo it: the market data's sha256, the resolved
config and its hash, the git revision, seeds, library versions and the settings that make
a fit deterministic. ``verify`` re-trains the run from its stored config into a temporary
directory and compares every metric, bit for bit.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from trainer.artifacts import METRICS_FILE, git_revision, package_versions
from trainer.config import TrainConfig, TrialConfig, to_dict
from trainer.errors import UserError


def config_hash(conf: TrainConfig) -> str:
    """sha256 of the resolved config as canonical JSON (keys sorted)."""
    text = json.dumps(to_dict(conf), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def reproducibility(
    conf: TrainConfig, data_hash: str, run_data_hash: str | None, threads: int
) -> dict[str, Any]:
    seeds: dict[str, Any] = {"seed": conf.seed, "python": conf.seed, "numpy": conf.seed}
    data_seed = getattr(conf.data, "seed", None)
    if data_seed is not None:
        seeds["data"] = data_seed
    return {
        "data_sha256": data_hash,
        "run_data_sha256": run_data_hash,
        "data_matches_run": run_data_hash is None or run_data_hash == data_hash,
        "config_sha256": config_hash(conf),
        "config": to_dict(conf),
        "git_revision": git_revision(),
        "seeds": seeds,
        "versions": {**package_versions(), "python": platform.python_version()},
        "determinism": {
            # Trees: fixed seed, hist method, fixed thread count -> identical models across runs.
            "threads": threads,
            "device": conf.hardware.device,
            "precision": conf.hardware.precision,
            "tf32": conf.hardware.tf32,
            "cudnn_benchmark": conf.hardware.cudnn_benchmark,
            "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED"),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "CUBLAS_WORKSPACE_CONFIG": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        },
    }


@dataclass(frozen=True)
class Verification:
    run: Path
    matches: bool
    data_matches: bool
    differences: list[str]  # "valid.f1_up: 0.61 != 0.62"
    n_compared: int


def run_of(path: str) -> Path:
    """A run directory itself, or the run a report (evaluation.json) was made from."""
    root = Path(path)
    report = root / "evaluation.json"
    if report.is_file():
        try:
            data = json.loads(report.read_text())
            return Path(data["source"]["path"])
        except (ValueError, KeyError, TypeError):
            raise UserError(f"{report}: not an evaluation report (no source.path)") from None
    return root


def verify(
    conf: TrainConfig, run_dir: Path, recorded: dict[str, Any], data_hash: str | None
) -> Verification:
    """Re-train ``conf`` and compare its metrics.json with ``recorded``."""
    from trainer.train import train

    conf = replace(conf, trial=TrialConfig(), progress=False)
    with tempfile.TemporaryDirectory(prefix="quantsweep-verify-") as tmp:
        out = Path(tmp)
        train(conf, out)
        fresh = json.loads((out / METRICS_FILE).read_text())
        new_hash = json.loads((out / "metadata.json").read_text()).get("data_hash")
    diffs = compare(recorded, fresh)
    n = len(list(_leaves(recorded)))
    return Verification(run_dir, not diffs, data_hash is None or data_hash == new_hash, diffs, n)


def compare(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Every leaf where two JSON trees differ (exact: reproducible means bit-identical)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in a or key not in b:
                out.append(f"{path}: only in {'recorded' if key in a else 'retrained'}")
            else:
                out.extend(compare(a[key], b[key], path))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in compare(x, y, f"{prefix}[{i}]")
        ]
    return [] if a == b else [f"{prefix}: {a!r} != {b!r}"]


def _leaves(tree: Any) -> Any:
    if isinstance(tree, dict):
        for v in tree.values():
            yield from _leaves(v)
    elif isinstance(tree, list):
        for v in tree:
            yield from _leaves(v)
    else:
        yield tree
