"""The backtested strategies of an evaluation, as hourly positions on the out-of-sample series.

Called by ``python -m evaluation`` after the walk-forward: 1h (the 1h model's signal each hour),
4h (the 4h model decides every 4 hours and holds), 1h+4h (the 1h signal, only when the held 4h
position agrees), buy-and-hold, and the baseline (a stored report's strategy, or momentum).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evaluation.backtest import confirm, momentum_positions, simple_returns
from trainer.errors import UserError
from trainer.fit import hours_of
from trainer.trading import Backtest, backtest, decision_rows

SERIES_FILE = "series.parquet"


@dataclass(frozen=True)
class Positions:
    """Hourly positions of each strategy and where each one decides (None: every hour)."""

    by_name: dict[str, np.ndarray]
    decisions: dict[str, np.ndarray | None]
    baseline_label: str


def strategy_positions(
    timestamps: np.ndarray,
    positions: dict[str, np.ndarray],
    strategies: list[str],
    baseline: np.ndarray,
    baseline_label: str,
) -> Positions:
    """Each strategy's hourly positions from the models' own (``positions``: horizon -> the
    stitched positions of each fold's calibrated rule, held from decision to decision)."""
    n = timestamps.shape[0]
    pos: dict[str, np.ndarray] = {}
    dec: dict[str, np.ndarray | None] = {}
    d4 = decision_rows(hours_of(timestamps), 4) if "4h" in positions else None
    for name in strategies:
        if name == "1h":
            pos[name], dec[name] = positions["1h"], None
        elif name == "4h":
            pos[name], dec[name] = positions["4h"], d4
        elif name == "1h+4h":
            pos[name], dec[name] = confirm(positions["1h"], positions["4h"]), None
    pos["buy_and_hold"], dec["buy_and_hold"] = np.ones(n), None
    pos["baseline"], dec["baseline"] = baseline, None
    return Positions(pos, dec, baseline_label)


def run_backtests(
    positions: Positions, log_ret: np.ndarray, cost_bps: float
) -> dict[str, Backtest]:
    ret = simple_returns(log_ret)  # once, shared by every strategy
    return {
        name: backtest(pos, ret, cost_bps, positions.decisions[name])
        for name, pos in positions.by_name.items()
    }


def momentum_baseline(
    table_log_ret: np.ndarray, rows: np.ndarray, lookback: int, allow_short: bool
) -> np.ndarray:
    """Momentum positions computed over the whole table (so the rule has its history at the
    period's start), taken at the out-of-sample rows."""
    positions: np.ndarray = momentum_positions(table_log_ret, lookback, allow_short)[rows]
    return positions


def stored_baseline(report_dir: str, timestamps: np.ndarray) -> tuple[np.ndarray, str]:
    """The target strategy's positions of a previous report, aligned on ``timestamps``
    (flat where that report has no hour)."""
    import pandas as pd

    path = Path(report_dir) / SERIES_FILE
    if not path.is_file():
        raise UserError(
            f"backtest.baseline={report_dir}: no {SERIES_FILE}; name a report directory written"
            " by python -m evaluation (artifacts/reports/<name>)"
        )
    frame = pd.read_parquet(path, columns=["timestamp", "target_position"])
    ts = frame["timestamp"].to_numpy(dtype="datetime64[ns]")
    where = np.searchsorted(ts, timestamps)
    where = np.minimum(where, max(ts.shape[0] - 1, 0))
    found = ts.shape[0] > 0 and (ts[where] == timestamps)
    values = frame["target_position"].to_numpy(dtype=np.float64)
    out = np.where(found, values[where], 0.0) if ts.shape[0] else np.zeros(timestamps.shape[0])
    overlap = float(np.mean(found)) if ts.shape[0] else 0.0
    if overlap == 0.0:
        raise UserError(
            f"backtest.baseline={report_dir}: its out-of-sample hours do not overlap this"
            " evaluation's period"
        )
    return out, f"stored report {Path(report_dir).name} ({overlap:.0%} of hours)"
