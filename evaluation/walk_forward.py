"""Quarterly walk-forward: retrain the run's model per fold and stitch the out-of-sample tests.

Called by ``python -m evaluation``. Features and labels are built once (``build_table``); each
fold only cuts, scales (train statistics) and fits (``trainer.fit.fit_fold``: train on 70%,
calibrate the threshold on the next 15%, test on the last 15% = one quarter, embargo between
parts). The folds come from ``trainer.splits.walk_forward``, shared with ``split=walk_forward``
training; their test parts tile the period, so they stitch into one out-of-sample series.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from evaluation.config import WalkForwardConfig
from evaluation.members import member_thresholds_and_scores
from trainer.config import TargetConfig, TrainConfig
from trainer.console import ProgressBar
from trainer.dataset import Table
from trainer.errors import UserError
from trainer.fit import calibrate_on, fit_fold, hours_of, objective_spec
from trainer.learners.base import NullReporter
from trainer.objective import hourly_positions
from trainer.splits import Fold, walk_forward
from trainer.trading import Rule

DEFAULT_PERIOD = ("2023-01-01", "2025-12-31")
END_SLACK = pd.Timedelta(hours=24)  # the table's last hours have no 4h label (see splits)


@dataclass(frozen=True)
class Period:
    start: str
    end: str
    inferred: bool  # True: the default period is not in the data, so its last steps were used


@dataclass(frozen=True)
class FoldScores:
    """One fold of one model: its out-of-sample scores, the rule from its valid part and the
    hourly positions that rule takes on the test part (``trainer.objective.hourly_positions``,
    exactly what the trainer's test metrics trade)."""

    fold: Fold
    horizon: str
    rule: Rule
    test_scores: np.ndarray  # (rows of fold.test,)
    test_positions: np.ndarray  # (rows of fold.test,) the position held over each hour
    metrics: dict[str, Any]  # trainer metrics of the test part
    seconds: float  # fit + predict + calibrate
    # ensembles only: member -> (rule calibrated on valid, test scores, test positions)
    members: dict[str, tuple[Rule, np.ndarray, np.ndarray]] = field(default_factory=dict)

    @property
    def threshold(self) -> float:
        return self.rule.upper


@dataclass(frozen=True)
class OutOfSample:
    """The stitched test parts: one row per out-of-sample hour, in time order."""

    rows: np.ndarray  # (n,) row positions in the table
    timestamps: np.ndarray  # (n,) datetime64[ns] UTC
    log_ret: np.ndarray  # (n,) forward 1h log return of each hour
    scores: dict[str, np.ndarray]  # horizon -> (n,) model scores (NaN: no prediction)
    thresholds: dict[str, np.ndarray]  # horizon -> (n,) the fold's threshold for each row
    positions: dict[str, np.ndarray]  # horizon -> (n,) the fold's rule's position each hour
    fold_index: np.ndarray  # (n,) which fold each row was tested in


def horizon_config(conf: TrainConfig, horizon: str) -> TrainConfig:
    """The run's config with another label horizon (the 4h twin of a 1h model, or back)."""
    if horizon == conf.target.horizon:
        return replace(conf, progress=False)
    return replace(conf, target=TargetConfig(horizon, conf.target.task), progress=False)


def resolve_period(wf: WalkForwardConfig, timestamps: np.ndarray, embargo_hours: int) -> Period:
    """The walk-forward period: explicit, the 2023-2025 default, or inferred from the data.

    Inference (only when start and end are both unset and the data does not cover the
    default) takes the last ``infer_steps`` whole steps that have a full fold of history.
    """
    first = pd.Timestamp(timestamps[0], tz="UTC")
    last = pd.Timestamp(timestamps[-1], tz="UTC")
    step = pd.DateOffset(months=wf.step_months)
    history = _history(wf, embargo_hours)
    if wf.start is not None or wf.end is not None:
        return Period(wf.start or DEFAULT_PERIOD[0], wf.end or DEFAULT_PERIOD[1], False)
    lo, hi = (pd.Timestamp(d, tz="UTC") for d in DEFAULT_PERIOD)
    if lo - history >= first and hi <= last + END_SLACK:
        return Period(*DEFAULT_PERIOD, False)
    # Step boundaries aligned to the calendar (quarters start in Jan, Apr, Jul, Oct).
    month = ((last.month - 1) // wf.step_months) * wf.step_months + 1
    boundary = pd.Timestamp(year=last.year, month=month, day=1, tz="UTC")
    if boundary + step - pd.Timedelta(hours=1) <= last + END_SLACK:
        boundary = boundary + step  # the data covers the step that starts at `boundary`
    first_test = boundary
    for _ in range(wf.infer_steps):
        if first_test - step - history < first:
            break
        first_test = first_test - step
    if first_test >= boundary:
        raise UserError(
            f"walk_forward: the data ({first:%Y-%m-%d} to {last:%Y-%m-%d}) is too short for one"
            f" fold of {wf.step_months} months after {_months(history)} months of history;"
            " use more data or set walk_forward.step_months lower"
        )
    last_day = boundary - pd.Timedelta(days=1)
    return Period(f"{first_test:%Y-%m-%d}", f"{last_day:%Y-%m-%d}", True)


def _history(wf: WalkForwardConfig, embargo_hours: int) -> pd.Timedelta:
    """History a fold needs before its test step (train + valid + embargoes), upper bound."""
    step = pd.Timedelta(days=31 * wf.step_months)
    return step * ((wf.train + wf.valid) / wf.test) + pd.Timedelta(hours=2 * embargo_hours)


def _months(t: pd.Timedelta) -> int:
    return round(t / pd.Timedelta(days=30.44))


def folds_of(wf: WalkForwardConfig, table: Table, period: Period, embargo_hours: int) -> list[Fold]:
    try:
        return list(
            walk_forward(
                table.timestamps,
                period.start,
                period.end,
                wf.step_months,
                (wf.train, wf.valid, wf.test),
                embargo_hours,
                table.calendar,
            )
        )
    except UserError as exc:  # name evaluation's keys, not training's split.*
        raise UserError(str(exc).replace("split.", "walk_forward.")) from None


def fit_and_score(conf: TrainConfig, table: Table, fold: Fold, context: Any) -> FoldScores:
    """Fit the model of ``conf`` on the fold's train part; test scores and metrics."""
    t0 = time.perf_counter()
    spec = objective_spec(conf)
    result = fit_fold(conf, table, fold, context, NullReporter(), spec)
    valid, test = result.prepared.valid, result.prepared.test
    hours = hours_of(test.timestamps)

    def rule_and_positions(valid_scores: np.ndarray) -> tuple[Rule, Any]:
        rule = calibrate_on(valid_scores, valid, spec)
        return rule, lambda s: hourly_positions(s, rule, test.returns, hours, spec)[0]

    members = member_thresholds_and_scores(result.learner, valid, test, rule_and_positions)
    test_scores = np.asarray(result.test_scores, dtype=np.float64)
    return FoldScores(
        fold=fold,
        horizon=conf.target.horizon,
        rule=result.rule,
        test_scores=test_scores,
        test_positions=hourly_positions(test_scores, result.rule, test.returns, hours, spec)[0],
        metrics=result.metrics["test"],
        seconds=time.perf_counter() - t0,
        members=members,
    )


def run_walk_forward(
    confs: dict[str, TrainConfig],
    contexts: dict[str, Any],
    table: Table,
    folds: list[Fold],
    progress: bool,
) -> tuple[OutOfSample, list[dict[str, FoldScores]]]:
    """Every fold for every horizon in ``confs``; the stitched series and per-fold results."""
    per_fold: list[dict[str, FoldScores]] = []
    with _progress(progress, len(folds) * len(confs)) as advance:
        for fold in folds:
            results = {}
            for horizon, conf in confs.items():
                advance(f"fold {fold.name} · {horizon} model")
                results[horizon] = fit_and_score(conf, table, fold, contexts[horizon])
            per_fold.append(results)
    return stitch(table, per_fold), per_fold


def stitch(table: Table, per_fold: list[dict[str, FoldScores]]) -> OutOfSample:
    """Concatenate the folds' test parts (they tile the period, so rows never repeat)."""
    rows = np.concatenate(
        [np.arange(r.fold.test.start, r.fold.test.stop) for r in _first(per_fold)]
    )
    if np.any(np.diff(rows) <= 0):
        raise ValueError("walk-forward test parts overlap or are out of order")
    horizons = list(per_fold[0])
    scores = {h: np.concatenate([f[h].test_scores for f in per_fold]) for h in horizons}
    thresholds = {
        h: np.concatenate([np.full(len(f[h].test_scores), f[h].threshold) for f in per_fold])
        for h in horizons
    }
    positions = {h: np.concatenate([f[h].test_positions for f in per_fold]) for h in horizons}
    fold_index = np.concatenate(
        [np.full(r.fold.test.stop - r.fold.test.start, i) for i, r in enumerate(_first(per_fold))]
    )
    return OutOfSample(
        rows=rows,
        timestamps=table.timestamps[rows],
        log_ret=table.labels["ret_1h"][rows],
        scores=scores,
        thresholds=thresholds,
        positions=positions,
        fold_index=fold_index,
    )


def _first(per_fold: list[dict[str, FoldScores]]) -> list[FoldScores]:
    return [next(iter(f.values())) for f in per_fold]


@contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Any]:
    """A progress bar over the fits; ``advance(label)`` moves it on."""
    with ProgressBar(total, "walk-forward", enabled, transient=False) as bar:
        started = [False]

        def advance(label: str) -> None:
            if started[0]:
                bar.advance()
            started[0] = True
            bar.describe(f"walk-forward: {label}")

        yield advance
        if started[0]:
            bar.advance()
        bar.describe("walk-forward")
