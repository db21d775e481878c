"""Saving and loading runs: model in its library's format, metadata and metrics in JSON.

Everything is written atomically (a temporary file or directory, then a rename), so a crash
never leaves a half-written artifact. Directories that are replaced while others may read them
(a study's ``best/``, a promoted model) are symlinks swapped with one ``os.replace``.
Nothing here unpickles.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf

from trainer.atomic import atomic_write_json
from trainer.errors import UserError
from trainer.learners import save_learner
from trainer.learners.base import Learner
from trainer.learners.saved import FORMAT_VERSION, load_checked_model, read_metadata
from trainer.learners.saved import METADATA_FILE as METADATA_FILE
from trainer.learners.saved import MODEL_DIR as MODEL_DIR
from trainer.learners.saved import file_digests as file_digests
from trainer.learners.saved import read_json as read_json
from trainer.scaling import Scaler
from trainer.trading import Rule

METRICS_FILE = "metrics.json"
CONFIG_FILE = ".hydra/config.yaml"
PACKAGES = (
    "quantsweep",
    "numpy",
    "pandas",
    "xgboost-cpu",
    "xgboost",
    "lightgbm",
    "torch",
    "optuna",
    "hydra-core",
)


def publish_dir(src: Path, dest: Path) -> None:
    """Make ``dest`` show a copy of ``src``, atomically for every reader.

    ``dest`` is a symlink to a sibling ``.<name>-<id>`` directory; the copy is completed first
    and the link swapped with ``os.replace``, so ``dest`` is always the old or the new tree.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    target = dest.parent / f".{dest.name}-{uuid.uuid4().hex[:12]}"
    shutil.copytree(src, target, symlinks=False)
    link_tmp = dest.parent / f".{dest.name}.link-{uuid.uuid4().hex[:8]}"
    os.symlink(target.name, link_tmp)
    old = os.readlink(dest) if dest.is_symlink() else None
    if dest.exists() and not dest.is_symlink():
        shutil.rmtree(dest)  # a plain directory from an older layout
    os.replace(link_tmp, dest)
    if old is not None and (dest.parent / old).exists() and old != target.name:
        shutil.rmtree(dest.parent / old, ignore_errors=True)


T = TypeVar("T")
# A publisher swaps the link once per better trial or promotion, seconds apart at least.
READ_ATTEMPTS = 5


def read_pinned(given: Path, read: Callable[[Path], T]) -> tuple[Path, T]:
    """Resolve ``given`` (a study's ``best/``, a promoted model: links ``publish_dir`` swaps)
    and ``read`` the directory it names; returns (that directory, what ``read`` returned).

    ``publish_dir`` deletes the copy it replaced, possibly while it is being read: a read that
    failed while the link moved meanwhile is retried on the new target, so what is read is
    always one complete copy. A read that failed while nothing moved fails as it is.
    """
    for _ in range(READ_ATTEMPTS - 1):
        root = Path(os.path.realpath(given))
        try:
            return root, read(root)
        except (OSError, UserError):
            if Path(os.path.realpath(given)) == root:
                raise
    root = Path(os.path.realpath(given))
    return root, read(root)


def package_versions() -> dict[str, str]:
    return dict(_package_versions())


# Versions and git revision memoised per process: a process runs the packages and code it
# started with, and each lookup (a git subprocess, a metadata scan per package) is a visible
# share of a short trial.
@functools.cache
def _package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return out


def git_revision(cwd: Path | None = None) -> str | None:
    where = os.path.realpath(cwd if cwd is not None else os.getcwd())
    if where not in _REVISIONS:
        try:
            res = subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5
            )
        except subprocess.TimeoutExpired:
            return None  # git slow under load: asked again next time, not remembered
        except (OSError, subprocess.SubprocessError):
            res = None  # no git
        ok = res is not None and res.returncode == 0
        _REVISIONS[where] = (res.stdout.strip() or None) if ok and res is not None else None
    return _REVISIONS[where]


_REVISIONS: dict[str, str | None] = {}


def save_run(
    run_dir: Path,
    learner: Learner,
    model_name: str,
    metadata: dict[str, Any],
    metrics: dict[str, Any],
) -> None:
    """Write model/, metadata.json and metrics.json into a run directory."""
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / f".{MODEL_DIR}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    save_learner(learner, model_name, tmp)
    final = run_dir / MODEL_DIR
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    meta = {"format_version": FORMAT_VERSION, **metadata, "model_sha256": file_digests(final)}
    atomic_write_json(run_dir / METADATA_FILE, meta)
    atomic_write_json(run_dir / METRICS_FILE, metrics)


@dataclass(frozen=True)
class Run:
    """A saved run, loaded back: its learner, scaler, threshold and composed config."""

    path: Path
    learner: Learner
    metadata: dict[str, Any]
    metrics: dict[str, Any]
    config: DictConfig

    @property
    def threshold(self) -> float:
        return float(self.metadata["threshold"])

    @property
    def rule(self) -> Rule:
        """The decision rule calibrated on valid (runs saved before rules: the threshold)."""
        saved = self.metadata.get("rule")
        if isinstance(saved, dict):
            return Rule(**saved)
        allow_short = bool(OmegaConf.select(self.config, "costs.allow_short", default=False))
        return Rule(upper=self.threshold, lower=self.threshold, allow_short=allow_short)

    @property
    def scaler(self) -> Scaler:
        return Scaler.from_json(self.metadata["scaler"])

    @property
    def feature_names(self) -> list[str]:
        return list(self.metadata["feature_names"])


def load_run(path: str | Path) -> Run:
    """Load a run directory, a study's ``best/`` or a promoted model (no pickle)."""
    root = Path(path)
    meta = read_metadata(root)
    cfg_path = root / CONFIG_FILE
    if not cfg_path.is_file():
        raise UserError(f"{cfg_path}: missing composed config of the run")
    config = OmegaConf.load(cfg_path)
    if not isinstance(config, DictConfig):
        raise UserError(f"{cfg_path}: not a mapping")
    learner = load_checked_model(root, meta)
    metrics = read_json(root / METRICS_FILE, "run metrics")
    return Run(root, learner, meta, metrics, config)
