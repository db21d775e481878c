"""What ``python -m evaluation run=PATH`` (or ``forward=PATH``) evaluates: a run directory, a
study's ``best/`` or a promoted model, read once, and the run's composed config with the user's
overrides applied (``trainer.run_config``).

The run is read once, at the start: a symlink (a study's ``best/``, a promoted model) is
resolved then and the resolved directory recorded; every file under it is read and its sha256
kept (``Snapshot``); config, metadata and metrics are parsed from those bytes. Before a
promotion the directory is hashed again (``Snapshot.changes``): a run edited, or a study that
moved on, during the evaluation blocks it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer.artifacts import CONFIG_FILE, METADATA_FILE, METRICS_FILE, load_run, read_pinned
from trainer.config import CONF_DIR, TrainConfig
from trainer.errors import UserError
from trainer.run_config import GROUPS, HYDRA_FILE, compose_run_config

__all__ = ["CONF_DIR", "GROUPS", "Snapshot", "Source", "compose_run_config", "open_source"]

MANIFEST_FILE = "manifest.json"
HISTORY_DIR = "history"  # a promoted model's replaced champions: not part of the model
STUDY_MARKERS = ("summary.json", "journal.log", "best.json")  # the sweeper's study folder


@dataclass(frozen=True)
class Snapshot:
    """The files of a run as the evaluation read them: relative path -> sha256."""

    root: Path  # the resolved directory
    files: dict[str, str]

    @classmethod
    def read(cls, root: Path) -> tuple[Snapshot, dict[str, bytes]]:
        """Hash every file under ``root``; also returns the small text files' bytes."""
        files: dict[str, str] = {}
        texts: dict[str, bytes] = {}
        for rel, path in _walk(root):
            data = path.read_bytes()
            files[rel] = hashlib.sha256(data).hexdigest()
            if rel in (CONFIG_FILE, HYDRA_FILE, METADATA_FILE, METRICS_FILE, MANIFEST_FILE):
                texts[rel] = data
        return cls(root, files), texts

    def changes(self) -> list[str]:
        """Files added, removed or changed since the snapshot (empty: none)."""
        if not self.root.is_dir():
            return ["the whole directory (removed)"]
        now = {rel: _sha256(path) for rel, path in _walk(self.root)}
        return sorted(k for k in self.files.keys() | now.keys() if self.files.get(k) != now.get(k))


def _walk(root: Path) -> list[tuple[str, Path]]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if here == root:
            dirnames[:] = [d for d in dirnames if d != HISTORY_DIR]
        dirnames.sort()
        for name in sorted(filenames):
            path = here / name
            out.append((path.relative_to(root).as_posix(), path))
    return out


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


@dataclass(frozen=True)
class Source:
    path: Path  # the resolved directory holding model/, metadata.json, metrics.json, .hydra/
    kind: str  # run | study_best | promoted
    study_dir: Path | None  # the study a best/ belongs to
    metadata: dict[str, Any]
    metrics: dict[str, Any]
    config: TrainConfig  # the run's config with the overrides applied
    overrides: list[str]
    requested: Path | None = None  # the path as given (a symlink such as best/), None: = path
    snapshot: Snapshot | None = None
    stored_config: TrainConfig | None = None  # the run's config without the overrides
    manifest: dict[str, Any] | None = None  # a promoted model's manifest

    @property
    def target(self) -> str:
        """Promotion target, e.g. ``1h_direction``."""
        return f"{self.config.target.horizon}_{self.config.target.task}"

    @property
    def given(self) -> Path:
        return self.requested if self.requested is not None else self.path


def open_source(path: str, overrides: list[str]) -> Source:
    given = Path(path)
    if not given.is_dir():
        raise UserError(
            f"run={path}: no such directory (a run, a study's best/ or a promoted model)"
        )
    # best/ is swapped by a running study: the directory is resolved and read once, whole
    root, (snapshot, texts) = read_pinned(given, lambda root: _read(path, root))
    metadata = _parse_json(root / METADATA_FILE, texts[METADATA_FILE])
    metrics = _parse_json(root / METRICS_FILE, texts[METRICS_FILE])
    config_text = texts[CONFIG_FILE].decode()
    hydra_bytes = texts.get(HYDRA_FILE)
    hydra_text = hydra_bytes.decode() if hydra_bytes is not None else None
    config = compose_run_config(root, overrides, config_text, hydra_text)
    stored = compose_run_config(root, [], config_text, hydra_text) if overrides else config
    kind, study, manifest = "run", None, None
    if MANIFEST_FILE in texts:
        kind, manifest = "promoted", _parse_json(root / MANIFEST_FILE, texts[MANIFEST_FILE])
    elif given.name == "best" or any((given.parent / m).exists() for m in STUDY_MARKERS):
        kind, study = "study_best", given.parent
    return Source(
        root,
        kind,
        study,
        metadata,
        metrics,
        config,
        list(overrides),
        requested=given,
        snapshot=snapshot,
        stored_config=stored,
        manifest=manifest,
    )


def _read(path: str, root: Path) -> tuple[Snapshot, dict[str, bytes]]:
    snapshot, texts = Snapshot.read(root)
    missing = [f for f in (CONFIG_FILE, METADATA_FILE, METRICS_FILE) if f not in texts]
    if missing:
        raise UserError(
            f"run={path}: not a quantsweep run directory ({', '.join(missing)} missing); pass a"
            " run directory under outputs/, a study's best/ or artifacts/promoted/<target>"
        )
    # The saved artifact must load (format version, metadata keys, model files and their
    # checksums) before any work: a truncated or tampered model is never evaluated or promoted.
    load_run(root)
    return snapshot, texts


def _parse_json(path: Path, data: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(data)
    except ValueError:
        raise UserError(f"{path}: not valid JSON (truncated or tampered)") from None
    if not isinstance(parsed, dict):
        raise UserError(f"{path}: expected a JSON object")
    return parsed
