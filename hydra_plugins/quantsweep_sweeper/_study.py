"""At a sweep's start: open the study, record what it was created with, check a resume.

Study user attrs (visible in optuna-dashboard):
  quantsweep.fingerprint  search space, direction, data hash, objective weights, target, split
  quantsweep.pruner       the pruner spec jobs rebuild (link.PRUNER_ATTR)
  quantsweep.seeds        the sampler seed and how each trial's draw is seeded
  quantsweep.versions     package versions of the session that created the study
"""

from __future__ import annotations

import logging
from typing import Any

import optuna
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.trial import TrialState

from hydra_plugins.quantsweep_sweeper.link import (
    FINGERPRINT_ATTR,
    PRUNER_ATTR,
    UserError,
    _redact,
    build_pruner,
    flatten,
    package_versions,
)

SEEDS_ATTR = "quantsweep.seeds"
VERSIONS_ATTR = "quantsweep.versions"
REPRODUCE_ATTR = "quantsweep.reproduce"
log = logging.getLogger(__name__)


def describe_changes(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Every leaf that differs between two fingerprints, as 'key: was X, now Y'."""
    old, new = flatten(stored), flatten(current)
    lines = []
    for key in sorted(old.keys() | new.keys()):
        a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
        if a != b:
            lines.append(f"{key}: was {_short(a)}, now {_short(b)}")
    return lines


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def open_study(
    name: str,
    storage: BaseStorage,
    direction: str,
    sampler: BaseSampler,
    pruner_spec: dict[str, Any],
) -> optuna.Study:
    pruner = build_pruner(pruner_spec)
    try:  # loading first: a create attempt on an existing study still appends to a journal
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    except KeyError:
        study = optuna.create_study(
            study_name=name,
            storage=storage,
            sampler=sampler,
            pruner=pruner,
            direction=StudyDirection[direction.upper()],
            load_if_exists=True,  # another worker may create it at the same moment
        )
    stored = study.direction.name.lower()
    if stored != direction:
        raise UserError(
            f"hydra.sweeper.direction={direction}: study {name!r} was created to {stored};"
            " use another hydra.sweeper.study_name"
        )
    return study


def check_and_record(
    study: optuna.Study,
    fingerprint: dict[str, Any],
    pruner_spec: dict[str, Any],
    seed: int,
    allow_changes: bool,
    where: str,
) -> bool:
    """Record a new study's metadata, or refuse a resume whose fingerprint changed.

    Returns whether the study already existed. The pruner spec is always (re)written: it is
    the one jobs of this session must rebuild.
    """
    stored = study.user_attrs.get(FINGERPRINT_ATTR)
    resumed = isinstance(stored, dict)
    if resumed:
        assert isinstance(stored, dict)
        changes = describe_changes(stored, fingerprint)
        # a study without a complete or pruned trial has no result a change could mix with
        # (a first trial failed on a bad search space): the corrected command carries on
        counted = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
        if changes and not allow_changes and counted:
            fresh = (
                "remove it with `optuna delete-study --study-name"
                f" {study.study_name} --storage {_redact(where)}`"
                if "://" in where
                else f"delete {where}"
            )
            raise UserError(
                f"study {study.study_name!r} in {_redact(where)}: cannot resume, "
                + "; ".join(changes)
                + f" ({len(counted)} complete or pruned trials hold the old setting). Use another"
                " hydra.sweeper.study_name for a new study, hydra.sweeper.allow_changes=true to"
                f" continue this one anyway, or {fresh} to start this name afresh"
            )
        if changes:
            log.warning(
                "resuming %s with changes (%s): %s",
                study.study_name,
                "allowed" if allow_changes else "no trial completed yet",
                "; ".join(changes),
            )
    if not resumed or stored != fingerprint:
        study.set_user_attr(FINGERPRINT_ATTR, fingerprint)
    if not resumed:
        study.set_user_attr(VERSIONS_ATTR, package_versions())
        study.set_user_attr(
            SEEDS_ATTR, {"sampler": seed, "per_trial": "SeedSequence([seed, trial.number])"}
        )
    if study.user_attrs.get(PRUNER_ATTR) != pruner_spec:
        study.set_user_attr(PRUNER_ATTR, pruner_spec)
    return resumed


def drop_keys(data: dict[str, Any], dotted: set[str], prefix: str = "") -> dict[str, Any]:
    """``data`` without the leaves named by dotted keys (the searched params vary by design)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if path in dotted:
            continue
        out[key] = drop_keys(value, dotted, f"{path}.") if isinstance(value, dict) else value
    return out
