"""Backtests of the evaluation: the hourly grid, the confirmation rule and the baseline.

Used by ``python -m evaluation`` on the stitched walk-forward series and on each stress window.
The arithmetic (positions -> gross, costs, net -> round trips -> equity, drawdown, Sharpe) is
``trainer.trading``'s, the one the trainer's metrics use; this module adds what only an
evaluation needs. Every strategy lives on the same hourly grid, so curves line up and
strategies combine: ``position[t]`` is held over hour t, whose simple return is ``ret[t]``
(``expm1`` of the forward 1h log return). A 4h strategy decides on rows where
``hour % 4 == 0`` (as training does) and holds the position until its next decision.
"""

from __future__ import annotations

import numpy as np

from trainer.trading import HOURS_PER_YEAR, Backtest, backtest, decision_rows, hold

__all__ = [
    "HOURS_PER_YEAR",
    "Backtest",
    "backtest",
    "confirm",
    "decision_rows",
    "hold",
    "momentum_positions",
    "simple_returns",
]


def simple_returns(log_ret: np.ndarray) -> np.ndarray:
    """Simple returns from log returns (done once per series, shared by every strategy)."""
    return np.expm1(np.asarray(log_ret, dtype=np.float64))


def confirm(fast: np.ndarray, slow: np.ndarray) -> np.ndarray:
    """The fast (1h) position where the slow (4h, held) position points the same way, else flat."""
    return np.where(np.sign(fast) == np.sign(slow), fast, 0.0)


def momentum_positions(log_ret: np.ndarray, lookback: int, allow_short: bool) -> np.ndarray:
    """The baseline rule: long when the past ``lookback`` hours' return is positive.

    ``log_ret[t]`` is the forward return of hour t, so the return known at the start of hour t
    is the sum of ``log_ret[t - lookback : t]``; the first ``lookback`` hours stay flat.
    """
    n = log_ret.shape[0]
    csum = np.concatenate(([0.0], np.cumsum(log_ret)))  # csum[t] = sum(log_ret[:t])
    past = np.zeros(n)
    if n > lookback:
        past[lookback:] = csum[lookback:n] - csum[: n - lookback]
    if allow_short:
        out = np.sign(past)
        out[:lookback] = 0.0
        return out
    return (past > 0).astype(np.float64)
