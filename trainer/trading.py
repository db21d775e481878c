"""Positions to net returns: the vectorised core shared by training metrics and backtests.

A decision is taken every ``horizon`` hours and held for ``horizon`` hours, so the realised
forward log returns of consecutive decisions never overlap. Costs are charged on every
change of position.
"""

from __future__ import annotations

import numpy as np


def decision_rows(hours: np.ndarray, horizon: int) -> np.ndarray:
    """Boolean mask of rows where a horizon-long position is opened (hour of day % horizon)."""
    if horizon == 1:
        return np.ones(hours.shape[0], dtype=bool)
    return (hours % horizon) == 0


def net_returns(position: np.ndarray, log_ret: np.ndarray, cost_bps: float) -> np.ndarray:
    """Simple net returns of holding ``position`` (in {-1, 0, 1}) over each log return.

    position, log_ret: (n,) aligned; the position before the first row is flat.
    """
    gross = position * np.expm1(log_ret)
    turnover = np.abs(np.diff(position, prepend=0.0))
    return gross - turnover * (cost_bps * 1e-4)


def equity_curve(net: np.ndarray) -> np.ndarray:
    """Compounded equity starting from 1.0, (n,)."""
    return np.cumprod(1.0 + net)


def max_drawdown(net: np.ndarray) -> float:
    """Worst peak-to-trough fall of the equity curve, as a negative fraction (0 if none)."""
    if net.size == 0:
        return 0.0
    equity = np.concatenate(([1.0], equity_curve(net)))
    peak = np.maximum.accumulate(equity)
    return float(np.min(equity / peak - 1.0))


def sharpe(net: np.ndarray, periods_per_year: float) -> float:
    """Annualised Sharpe ratio of per-period net returns (0 when flat)."""
    if net.size < 2:
        return 0.0
    sd = float(np.std(net, ddof=1))
    if sd == 0.0:
        return 0.0
    return float(np.mean(net) / sd * np.sqrt(periods_per_year))
