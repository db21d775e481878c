"""At a study's end (``python -m trainer ... -m``): publish the best, re-run it, write reports.

Every process sharing the study runs this once its workers stop, one at a time (the study dir's
``finish`` lock). Only a process that finds the budget spent and no trial running re-runs the
best params with other seeds; the result is cached on the study (per best trial and seeds), so
the others, and a later resume, report it without re-running.
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optuna.trial import FrozenTrial
from rich.console import Console

from hydra_plugins.quantsweep_sweeper import _report
from hydra_plugins.quantsweep_sweeper._best import BEST_DIR, best_trial, locked, sync_best
from hydra_plugins.quantsweep_sweeper._jobs import Jobs
from hydra_plugins.quantsweep_sweeper._search_space import param_overrides
from hydra_plugins.quantsweep_sweeper._session import Session, first_line, outcome_of
from hydra_plugins.quantsweep_sweeper._study import REPRODUCE_ATTR
from hydra_plugins.quantsweep_sweeper.link import SEED_MAX

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinishSettings:
    """The sweeper settings the end of a study reads (``hydra.sweeper.*``)."""

    study_name: str
    storage_spec: str  # as resolved when the study was opened
    study_dir: Path
    n_trials: int
    seed: int  # the sampler seed: the base of the re-run seeds when the best recorded none
    reproduce_seeds: int
    show_progress: bool  # print the closing table


def finish(
    session: Session, jobs: Jobs, settings: FinishSettings, n_workers: int, wall_s: float
) -> None:
    """Sync best/, re-run the best params if this process ends the study, write the reports."""
    study = session.study
    with locked(settings.study_dir, "finish"):
        c = _report.counts(study.get_trials(deepcopy=False))
        best: FrozenTrial | None = best_trial(study)
        sync_best(study, settings.study_dir)
        finished = c["running"] == 0 and c["complete"] + c["pruned"] >= settings.n_trials
        reproduce = None
        if best is not None and settings.reproduce_seeds > 0:
            seeds = reproduce_seed_list(best, settings.seed, settings.reproduce_seeds)
            reproduce = reproduce_best(session, jobs, best, seeds, n_workers, run=finished)
        summary, imp = _write_reports(session, settings, best, wall_s, reproduce)
        if not session.tracker.end_study(settings.study_dir, finished):
            summary["tracking"] = session.tracker.flush(study)  # its reports were not logged
            _report.write_summary(settings.study_dir, summary)
    if settings.show_progress:
        _report.print_summary(summary, imp, Console())
    log.info("study %s: reports in %s", settings.study_name, settings.study_dir)


def _write_reports(
    session: Session,
    settings: FinishSettings,
    best: FrozenTrial | None,
    wall_s: float,
    reproduce: dict[str, Any] | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """summary, importances and thresholds files in the study dir; the first two returned."""
    study = session.study
    best_dir = settings.study_dir / BEST_DIR
    tracking = session.tracker.flush(study)  # every trial's run sent, or listed as not logged
    summary = _report.build_summary(
        settings.study_name,
        settings.storage_spec,
        study.get_trials(deepcopy=False),
        best,
        settings.n_trials,
        wall_s,
        reproduce,
        best_dir,
    )
    if tracking is not None:
        summary["tracking"] = tracking
    imp = _report.importances(study, settings.seed)
    _report.write_reports(settings.study_dir, summary, imp, _report.thresholds(summary, best_dir))
    return summary, imp


def reproduce_seed_list(best: FrozenTrial, seed: int, n: int) -> list[int]:
    """The ``n`` seeds after the best trial's own (the sampler seed if it recorded none),
    wrapping inside the accepted seed range."""
    base = best.user_attrs.get("seed", seed)
    return [(int(base) + i) % (SEED_MAX + 1) for i in range(1, n + 1)]


def reproduce_best(
    session: Session,
    jobs: Jobs,
    best: FrozenTrial,
    seeds: list[int],
    n_workers: int,
    run: bool,
) -> dict[str, Any] | None:
    """The best params re-run with ``seeds`` (cached on the study per best trial and seeds).

    ``run`` false: only a cached result, else None (other processes' trials may still
    change the best).
    """
    cached = session.study.user_attrs.get(REPRODUCE_ATTR)
    if (
        isinstance(cached, dict)
        and cached.get("trial") == best.number
        and cached.get("seeds") == seeds
    ):
        return cached
    if not run:
        return None
    params = param_overrides(session.space, best.params)

    def one(seed: int) -> float:
        subdir = f"reproduce/trial{best.number}-seed{seed}"
        varying = [*params, f"seed={seed}", f"hydra.sweep.subdir={subdir}"]
        out = outcome_of(jobs.run(session.fixed, varying, best.number))
        if out.error is not None:
            log.error("reproduce seed %d failed: %s", seed, first_line(out.error))
        return out.value if out.value is not None else math.nan

    log.info("re-running best trial %d with seeds %s", best.number, seeds)
    if n_workers == 1:
        values = [one(s) for s in seeds]  # in this thread: in-process jobs stay on main
    else:
        with ThreadPoolExecutor(max_workers=n_workers) as pool:
            values = list(pool.map(one, seeds))
    result = {"trial": best.number, "seeds": seeds, "objectives": values}
    session.study.set_user_attr(REPRODUCE_ATTR, result)
    return result
