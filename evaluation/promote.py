"""Promotion: publish the evaluated recipe's refit (``evaluation.refit``) as
``artifacts/promoted/<target>/``, bound to its evaluation by a manifest.

Called by ``python -m evaluation`` only when every guardrail of the run's own strategy passed and
nothing blocks it. The promoted directory holds what ``python -m trainer.predict`` and
``forward=`` read like any run: ``model/`` (the refit), ``metadata.json`` (its features, scaler,
threshold, data hash), ``metrics.json`` (its valid part), ``.hydra/config.yaml`` (the evaluated
config) and ``manifest.json``: the report's path, the config and data hashes, the sha256 of every
file here and of every file of the run the evaluation read, git revision and package versions.
A champion it replaces moves, whole, to ``history/<time>/`` inside the new tree.

The new tree is completed in a sibling directory first and swapped in with one ``os.replace`` of
a symlink (``trainer.artifacts.publish_dir``): a kill at any moment leaves the previous promoted
model intact and loadable.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from evaluation.refit import Refit
from trainer.artifacts import CONFIG_FILE, MODEL_DIR, file_digests, publish_dir, save_run
from trainer.config import TrainConfig, to_dict
from trainer.predict import model_id

MANIFEST_FILE = "manifest.json"
HISTORY_DIR = "history"
COPIED = (MODEL_DIR, ".hydra", "metadata.json", "metrics.json")


def promote_refit(
    refit: Refit,
    config: TrainConfig,
    promoted_root: Path,
    target: str,
    manifest: dict[str, Any],
) -> Path:
    """Publish the evaluation's ``refit`` of ``config`` as ``promoted_root/target``."""
    promoted_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=promoted_root, prefix=f".{target}.refit-") as tmp:
        run_dir = Path(tmp)
        save_run(run_dir, refit.learner, config.model.name, refit.metadata, refit.metrics)
        (run_dir / CONFIG_FILE).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / CONFIG_FILE).write_text(OmegaConf.to_yaml(OmegaConf.create(to_dict(config))))
        return promote(run_dir, promoted_root, target, manifest)


def promote(run_dir: Path, promoted_root: Path, target: str, manifest: dict[str, Any]) -> Path:
    """Publish the run directory ``run_dir`` with ``manifest`` (plus the sha256 of every file
    and the model's id) as ``promoted_root/target``; the champion it replaces goes to
    ``history/``. Returns the destination."""
    dest = promoted_root / target
    promoted_root.mkdir(parents=True, exist_ok=True)
    # Staged beside the destination (same filesystem), then published with an atomic swap.
    with tempfile.TemporaryDirectory(dir=promoted_root, prefix=f".{target}.stage-") as tmp:
        stage = Path(tmp) / target
        stage.mkdir()
        for name in COPIED:
            src = run_dir / name
            if src.is_dir():
                shutil.copytree(src, stage / name)
            elif src.is_file():
                shutil.copy2(src, stage / name)
        files = file_digests(stage)
        ident = model_id(file_digests(stage / MODEL_DIR))  # what predict writes beside each hour
        if dest.is_dir():
            _keep_history(dest, stage / HISTORY_DIR)
        manifest = {**manifest, "model_id": ident, "files": files}
        text = json.dumps(manifest, indent=2, sort_keys=True, default=str)
        (stage / MANIFEST_FILE).write_text(text + "\n")
        publish_dir(stage, dest)
    return dest


def _keep_history(current: Path, history: Path) -> None:
    """The current champion, whole (its own history aside), into ``history/<time>/``."""
    old_history = current / HISTORY_DIR
    if old_history.is_dir():
        shutil.copytree(old_history, history, symlinks=False)
    history.mkdir(parents=True, exist_ok=True)
    stamp = _stamp(current)
    name, n = stamp, 1
    while (history / name).exists():
        n += 1
        name = f"{stamp}_{n}"
    shutil.copytree(
        current,
        history / name,
        symlinks=False,
        ignore=lambda d, names: [HISTORY_DIR] if Path(d) == current else [],
    )


def _stamp(current: Path) -> str:
    """When the champion was promoted (its manifest), as a folder name; else now."""
    try:
        when = json.loads((current / MANIFEST_FILE).read_text())["promoted_at"]
        t = datetime.fromisoformat(str(when))
    except (OSError, ValueError, KeyError, TypeError):
        t = datetime.now(timezone.utc)
    return t.strftime("%Y-%m-%dT%H-%M-%SZ")
