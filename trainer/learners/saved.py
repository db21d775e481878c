"""A saved model directory and its ``metadata.json``, read back and checked (no pickle).

The part of loading a run that learners need too: an ensemble's ``path:`` member is a saved
run. ``trainer.artifacts.load_run`` adds the run's composed config and metrics.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from trainer.errors import UserError
from trainer.learners import load_learner
from trainer.learners.base import Learner

FORMAT_VERSION = 1
MODEL_DIR = "model"
METADATA_FILE = "metadata.json"


def read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: missing {what}") from None
    except ValueError:
        raise UserError(f"{path}: {what} is not valid JSON (truncated or tampered)") from None


def file_digests(directory: Path) -> dict[str, str]:
    """sha256 of every file under ``directory``, by relative path (recorded in metadata.json)."""
    return {
        p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def check_digests(directory: Path, recorded: Any) -> None:
    """Refuse model files that differ from the digests saved with them (truncated, tampered)."""
    if not isinstance(recorded, dict):
        raise UserError(f"{directory.parent / METADATA_FILE}: 'model_sha256' is not a mapping")
    if not directory.is_dir():
        raise UserError(f"{directory}: missing; the run has no saved model")
    found = file_digests(directory)
    changed = sorted(k for k in recorded.keys() | found.keys() if recorded.get(k) != found.get(k))
    if changed:
        shown = ", ".join(changed[:3]) + (" ..." if len(changed) > 3 else "")
        verb = "differs" if len(changed) == 1 else "differ"
        raise UserError(
            f"{directory}: {shown} {verb} from the sha256 recorded in {METADATA_FILE}"
            " (truncated, tampered or missing); retrain the run or restore its files"
        )


def read_metadata(root: Path) -> dict[str, Any]:
    """``metadata.json`` of a run directory, its format version and required keys checked."""
    if not root.is_dir():
        raise UserError(f"{root}: no such run directory")
    meta = read_json(root / METADATA_FILE, "run metadata")
    version = meta.get("format_version") if isinstance(meta, dict) else None
    if version != FORMAT_VERSION:
        raise UserError(
            f"{root / METADATA_FILE}: format_version {version!r}, this quantsweep reads"
            f" {FORMAT_VERSION}; retrain the run with this version"
        )
    for key in ("threshold", "scaler", "feature_names", "target"):
        if key not in meta:
            raise UserError(f"{root / METADATA_FILE}: key '{key}' missing (tampered?)")
    return dict(meta)


def load_checked_model(root: Path, meta: dict[str, Any]) -> Learner:
    """The run's learner, after its files are checked against the digests in ``meta``."""
    if "model_sha256" in meta:  # runs saved before checksums were recorded have none
        check_digests(root / MODEL_DIR, meta["model_sha256"])
    return load_learner(root / MODEL_DIR)
