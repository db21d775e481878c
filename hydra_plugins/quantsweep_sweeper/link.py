"""Where the sweeper and the trainer meet: storage specs, the pruner spec, trial lookup.

The sweeper asks a trial and launches its job with ``trial.study_name``, ``trial.storage`` and
``trial.number`` overrides; the job (``trainer.tuning``) calls ``load_trial``, named in its
``trial.link``, which reopens the same storage, rebuilds the pruner from the study's user attrs
(Optuna does not store pruners) and returns the trial to report to. The other way, this is the
only module of the plugin that imports the trainer: what the sweeper uses of it is listed
below; the trainer's hooks it calls (``warmup``, ``fingerprint``) are named in its config.
``lint-imports`` holds both directions. Imported by Hydra's plugin scan, so Optuna is imported
inside the functions only.
"""

from __future__ import annotations

import functools
import re
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

# What the sweeper uses of the trainer, all of it (lint-imports holds that no other module of
# the plugin imports the trainer).
from trainer.artifacts import package_versions as package_versions
from trainer.artifacts import publish_dir as publish_dir
from trainer.atomic import atomic_write as atomic_write
from trainer.atomic import atomic_write_json as atomic_write_json
from trainer.console import progress_bar as progress_bar
from trainer.errors import MAX_PROCESSES as MAX_PROCESSES
from trainer.errors import SEED_MAX as SEED_MAX
from trainer.errors import StudyStop as StudyStop
from trainer.errors import UserError as UserError
from trainer.errors import at_most as at_most
from trainer.errors import check_finite as check_finite
from trainer.errors import check_seed as check_seed
from trainer.errors import finite as finite
from trainer.errors import flatten as flatten
from trainer.errors import path_text as path_text
from trainer.errors import plain_name as plain_name
from trainer.errors import shown as shown
from trainer.errors import writable_dir as writable_dir
from trainer.hardware import cpu_count as cpu_count
from trainer.tracking import NullTracker as NullTracker
from trainer.tracking import Tracker as Tracker
from trainer.tracking import config_tracker as config_tracker

if TYPE_CHECKING:
    import optuna
    from optuna.pruners import BasePruner
    from optuna.storages import BaseStorage

PRUNER_ATTR = "quantsweep.pruner"  # study user attr: {"kind": ..., "kwargs": {...}}
# study user attr: what the objective depends on besides the searched params (data_hash, ...)
FINGERPRINT_ATTR = "quantsweep.fingerprint"
PRUNERS = ("median", "hyperband", "wilcoxon", "threshold", "none")

# Defaults per pruner; hydra.sweeper.pruner_kwargs overrides any of them.
# median: five finished trials before anything is pruned, so the median means something.
# wilcoxon: walk-forward folds as instances; two folds before a test.
# threshold: stop any trial whose reported value falls below `lower` (or above `upper`).
PRUNER_DEFAULTS: dict[str, dict[str, Any]] = {
    "median": {"n_startup_trials": 5, "n_warmup_steps": 0},
    "hyperband": {"min_resource": 1, "reduction_factor": 3},
    "wilcoxon": {"p_threshold": 0.1, "n_startup_steps": 2},
    "threshold": {},
    "none": {},
}


def is_url(storage: str) -> bool:
    return "://" in storage


def resolve_storage(storage: str | None, study_dir: Path) -> str:
    """The storage spec jobs receive: a database URL unchanged, a journal file made absolute."""
    if storage is None:
        return str((study_dir / "journal.log").resolve())
    if is_url(storage):
        return storage
    return str(Path(storage).resolve())


@functools.cache
def open_storage(spec: str) -> BaseStorage:
    """An Optuna storage from a spec: an SQLAlchemy URL, or a journal file path.

    One instance per spec and process, like a connection pool: jobs that run in the sweeper's
    process (Hydra's basic launcher) share its storage instead of replaying the journal or
    opening a database engine per job. Optuna's storages are thread-safe and re-read the
    shared file or database on every query, so a cached instance never serves stale trials.
    """
    import optuna
    from optuna.storages.journal import JournalStorage

    from hydra_plugins.quantsweep_sweeper._journal import TrialSyncedJournal

    if is_url(spec):
        for attempt in range(SCHEMA_RACE_RETRIES + 1):
            try:
                return optuna.storages.RDBStorage(engine_url(spec))
            except Exception as exc:  # SQLAlchemy's OperationalError, ArgumentError, ...
                text = str(exc).strip()
                # Workers starting together on a new database race to create Optuna's tables;
                # the loser sees a duplicate type or table, and the schema exists on a retry.
                if attempt < SCHEMA_RACE_RETRIES and _SCHEMA_RACE.search(text):
                    time.sleep(0.2 * (attempt + 1))
                    continue
                first = text.splitlines()[0] if text else type(exc).__name__
                raise UserError(
                    f"hydra.sweeper.storage={_redact(spec)}: cannot open ({first})"
                ) from None
    path = Path(spec)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(TrialSyncedJournal(str(path)))
    except OSError as exc:  # a parent that is a file, a directory as the journal, read-only fs
        reason = "a file is in the way" if isinstance(exc, FileExistsError) else exc.strerror
        raise UserError(
            f"journal storage {shown(str(path))}: cannot open ({reason or exc}:"
            f" {shown(str(exc.filename))});"
            " set hydra.sweeper.storage (or artifacts_dir) to a writable file path"
        ) from None


SCHEMA_RACE_RETRIES = 5
_SCHEMA_RACE = re.compile(r"duplicate key value|already exists", re.IGNORECASE)


def engine_url(url: str) -> str:
    """The SQLAlchemy URL to connect with: a bare ``postgresql://`` uses psycopg2.

    SQLAlchemy 2.1 made psycopg 3 the default PostgreSQL driver; quantsweep depends on
    psycopg2-binary, so a plain URL (as a user writes it) is given that driver explicitly.
    """
    scheme, sep, rest = url.partition("://")
    return f"postgresql+psycopg2{sep}{rest}" if scheme == "postgresql" else url


def _redact(url: str) -> str:
    """A URL without its password, for messages."""
    head, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{head}{sep}{user}:***@{host}"


# The keyword each pruner calls its warm-up (steps reported before it may prune).
WARMUP_KEYWORD = {
    "median": "n_warmup_steps",
    "threshold": "n_warmup_steps",
    "wilcoxon": "n_startup_steps",
    "hyperband": "min_resource",
}


def pruner_spec(kind: str, kwargs: Any = None, warmup_steps: int | None = None) -> dict[str, Any]:
    """The JSON spec of a pruner: its kind and every keyword it is built with.

    Built once here so the sweeper fails on a bad spec before any trial runs.
    """
    if kind not in PRUNERS:
        raise UserError(f"hydra.sweeper.pruner={kind!r}: must be one of {', '.join(PRUNERS)}")
    if kwargs is not None and not isinstance(kwargs, dict):
        raise UserError(
            f"hydra.sweeper.pruner_kwargs={kwargs!r}: must be a mapping, e.g."
            " 'hydra.sweeper.pruner_kwargs={n_startup_trials:10}'"
        )
    warmup = {}
    if warmup_steps is not None and kind in WARMUP_KEYWORD:
        warmup = {WARMUP_KEYWORD[kind]: max(warmup_steps, 1 if kind == "hyperband" else 0)}
    spec = {"kind": kind, "kwargs": {**PRUNER_DEFAULTS[kind], **warmup, **(kwargs or {})}}
    build_pruner(spec)
    return spec


def build_pruner(spec: dict[str, Any]) -> BasePruner:
    """The Optuna pruner of a spec (the same in the sweeper and in every job)."""
    import optuna

    classes: dict[str, Any] = {
        "median": optuna.pruners.MedianPruner,
        "hyperband": optuna.pruners.HyperbandPruner,
        "wilcoxon": optuna.pruners.WilcoxonPruner,
        "threshold": optuna.pruners.ThresholdPruner,
        "none": optuna.pruners.NopPruner,
    }
    kind = spec.get("kind", "none")
    if kind not in classes:
        raise UserError(f"hydra.sweeper.pruner={kind!r}: must be one of {', '.join(PRUNERS)}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # wilcoxon
            pruner: BasePruner = classes[kind](**spec.get("kwargs", {}))
    except (TypeError, ValueError) as exc:
        raise UserError(f"hydra.sweeper.pruner_kwargs for {kind}: {exc}") from None
    return pruner


def study_data_hash(trial: optuna.trial.Trial) -> str | None:
    """The data hash a study was started on (None: not recorded, or searched by design)."""
    fingerprint = trial.study.user_attrs.get(FINGERPRINT_ATTR)
    value = fingerprint.get("data_hash") if isinstance(fingerprint, dict) else None
    return value if isinstance(value, str) else None


def load_trial(study_name: str, storage: str, number: int) -> optuna.trial.Trial | None:
    """The live trial ``number`` of a study, or None when it is already finished.

    A finished trial is what a re-run of a trial's saved config meets (evaluation retraining
    a study's best run): it trains without reporting.
    """
    import optuna

    store = open_storage(storage)
    try:
        study = optuna.load_study(
            study_name=study_name,
            storage=store,
            sampler=optuna.samplers.RandomSampler(seed=0),  # never samples here
        )
    except KeyError:
        raise UserError(f"trial.study_name={study_name!r}: no such study in {storage}") from None
    study.pruner = build_pruner(study.user_attrs.get(PRUNER_ATTR, {"kind": "none"}))
    study_id = store.get_study_id_from_name(study_name)
    try:
        trial_id = store.get_trial_id_from_study_id_trial_number(study_id, number)
    except KeyError:
        raise UserError(f"trial.number={number}: no such trial in study {study_name!r}") from None
    if store.get_trial(trial_id).state.is_finished():
        return None
    return optuna.trial.Trial(study, trial_id)
