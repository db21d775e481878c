"""After each complete trial of a sweep: keep ``<study_dir>/best/`` the best run, atomically.

``best/`` is a symlink to a complete sibling copy, replaced with one rename
(``trainer.artifacts.publish_dir``): a reader or a crash sees the old or the new run, never a
half-copied one. ``best.json`` beside it names the trial it holds. Workers of one machine
serialise on a lock file, so a slower copy of a worse trial never lands after a better one.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna

from hydra_plugins.quantsweep_sweeper.link import atomic_write_json, publish_dir

BEST_DIR = "best"
BEST_FILE = "best.json"


@contextmanager
def locked(study_dir: Path, name: str) -> Iterator[None]:
    study_dir.mkdir(parents=True, exist_ok=True)
    with open(study_dir / f".{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def published_trial(study_dir: Path) -> int | None:
    try:
        data: dict[str, Any] = json.loads((study_dir / BEST_FILE).read_text())
    except (OSError, ValueError):
        return None
    number = data.get("trial")
    return number if isinstance(number, int) and (study_dir / BEST_DIR).exists() else None


def best_trial(study: Any) -> Any:
    """The study's best complete trial, or None while it has none."""
    try:
        return study.best_trial
    except ValueError:  # no complete trial yet
        return None


def remove_leftovers(study_dir: Path) -> None:
    """Copies and links of ``best/`` that a killed process left half-made.

    They are only ever made under the ``best`` lock, so under it any copy that ``best/`` does
    not point to, and any temporary link, belongs to no live process.
    """
    best = study_dir / BEST_DIR
    current = os.readlink(best) if best.is_symlink() else None
    for path in study_dir.glob(f".{BEST_DIR}-*"):
        if path.name != current:
            shutil.rmtree(path, ignore_errors=True)
    for path in study_dir.glob(f".{BEST_DIR}.link-*"):
        path.unlink(missing_ok=True)


def sync_best(study: optuna.Study, study_dir: Path) -> int | None:
    """Make ``best/`` hold the study's best complete trial; returns its number (None: none)."""
    with locked(study_dir, "best"):
        remove_leftovers(study_dir)
        best = best_trial(study)
        if best is None:
            return None
        if published_trial(study_dir) == best.number:
            return best.number
        run_dir = best.user_attrs.get("run_dir")
        if not isinstance(run_dir, str) or not Path(run_dir).is_dir():
            return None
        publish_dir(Path(run_dir), study_dir / BEST_DIR)
        atomic_write_json(
            study_dir / BEST_FILE,
            {"trial": best.number, "value": best.value, "params": best.params, "run_dir": run_dir},
        )
        return best.number
