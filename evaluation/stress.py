"""Stress windows: each named crisis tested with a model trained only on data before it.

Called by ``python -m evaluation``. For a window [start, end] the fold is cut like a
walk-forward fold whose test part is the window: validation is the ``valid/test`` multiple of
one walk-forward step before the window (minus the embargo), training the ``train/test``
multiple before that. Nothing at or after the window's start (less the embargo) is seen by
the fit or the threshold. A window the data cannot support is skipped with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evaluation.backtest import simple_returns
from evaluation.config import StressWindow, WalkForwardConfig
from evaluation.walk_forward import fit_and_score
from trainer.config import TrainConfig
from trainer.dataset import Table
from trainer.fit import hours_of
from trainer.splits import MIN_PART_ROWS, Fold
from trainer.trading import backtest, decision_rows


@dataclass(frozen=True)
class StressResult:
    name: str
    label: str
    start: str
    end: str
    skipped: str | None  # the reason, when the window could not be evaluated
    strategy: dict[str, Any]  # backtest summary of the run's strategy in the window
    buy_and_hold: dict[str, Any]
    train_end: str | None = None  # last training hour (proof it ends before the window)
    timestamps: np.ndarray | None = None
    equity: np.ndarray | None = None
    buy_and_hold_equity: np.ndarray | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "start": self.start,
            "end": self.end,
            "skipped": self.skipped,
            "train_end": self.train_end,
            "strategy": self.strategy,
            "buy_and_hold": self.buy_and_hold,
        }


def stress_fold(
    name: str,
    window: StressWindow,
    timestamps: np.ndarray,
    wf: WalkForwardConfig,
    embargo_hours: int,
) -> Fold | str:
    """The fold of a window, or why there is none."""
    t0 = _np(pd.Timestamp(window.start))
    t1 = _np(pd.Timestamp(window.end) + pd.Timedelta(days=1))
    step = pd.Timedelta(days=365.25 / 12 * wf.step_months)
    embargo = pd.Timedelta(hours=embargo_hours)
    v0 = t0 - _td(embargo + step * (wf.valid / wf.test))
    tr0 = v0 - _td(embargo + step * (wf.train / wf.test))
    if timestamps[0] > tr0:
        return (
            f"needs data from {pd.Timestamp(tr0):%Y-%m-%d} for training; the data starts"
            f" {pd.Timestamp(timestamps[0]):%Y-%m-%d}"
        )
    if timestamps[-1] < t1 - np.timedelta64(1, "D"):
        return f"the data ends {pd.Timestamp(timestamps[-1]):%Y-%m-%d}, before the window ends"

    def rows(a: np.datetime64, b: np.datetime64) -> slice:
        return slice(int(np.searchsorted(timestamps, a)), int(np.searchsorted(timestamps, b)))

    fold = Fold(
        f"stress:{name}",
        rows(tr0, v0 - _td(embargo)),
        rows(v0, t0 - _td(embargo)),
        rows(t0, t1),
    )
    for part in ("train", "valid", "test"):
        s: slice = getattr(fold, part)
        if s.stop - s.start < MIN_PART_ROWS:
            return f"the {part} part has {s.stop - s.start} rows (at least {MIN_PART_ROWS} needed)"
    return fold


def run_stress(
    windows: dict[str, StressWindow],
    conf: TrainConfig,
    context: Any,
    table: Table,
    wf: WalkForwardConfig,
    embargo_hours: int,
    cost_bps: float,
) -> list[StressResult]:
    out = []
    for name, window in windows.items():
        if not window.enabled:
            continue
        fold = stress_fold(name, window, table.timestamps, wf, embargo_hours)
        if isinstance(fold, str):
            out.append(StressResult(name, window.label, window.start, window.end, fold, {}, {}))
            continue
        scored = fit_and_score(conf, table, fold, context)
        ts = table.timestamps[fold.test]
        ret = simple_returns(table.labels["ret_1h"][fold.test])
        decisions = None
        if conf.target.hours > 1:
            decisions = decision_rows(hours_of(ts), conf.target.hours)
        strat = backtest(scored.test_positions, ret, cost_bps, decisions)
        bh = backtest(np.ones_like(ret), ret, cost_bps)
        out.append(
            StressResult(
                name,
                window.label,
                window.start,
                window.end,
                None,
                strat.summary(),
                bh.summary(),
                train_end=str(pd.Timestamp(table.timestamps[fold.train.stop - 1])),
                timestamps=ts,
                equity=strat.equity,
                buy_and_hold_equity=bh.equity,
            )
        )
    return out


def _np(t: pd.Timestamp) -> np.datetime64:
    return np.datetime64(t.tz_localize(None) if t.tzinfo else t, "ns")


def _td(t: pd.Timedelta) -> np.timedelta64:
    return np.timedelta64(int(t.value), "ns")
