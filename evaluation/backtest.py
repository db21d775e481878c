"""Vectorised backtests: positions and hourly returns in, equity, drawdown and statistics out.

Used by ``python -m evaluation`` on the stitched walk-forward series and on each stress window;
every function is pure and works on whole arrays; ``backtest`` runs one compiled pass over the
bars (``evaluation._kernels``, numba, loaded on its first call).

Every strategy lives on the same hourly grid, so curves line up and strategies combine:
``position[t]`` is held over hour t, whose simple return is ``ret[t]`` (``expm1`` of the forward
1h log return). A 4h strategy decides on rows where ``hour % 4 == 0`` (as training does) and
holds the position until its next decision; a trade is one held position, counted at its
decision row, and it is a hit when its gross return over the holding period is positive.
Costs (fee + slippage, in bps) are charged on every unit of position changed, so one round trip
costs twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trainer.trading import decision_rows

HOURS_PER_YEAR = 24 * 365


@dataclass(frozen=True)
class Backtest:
    """One strategy's hourly curves and summary statistics."""

    net: np.ndarray  # (n,) simple net return of each hour
    equity: np.ndarray  # (n,) compounded from 1.0 before the first hour
    drawdown: np.ndarray  # (n,) equity / running peak - 1, <= 0
    total_return: float
    max_drawdown: float
    sharpe: float  # annualised from hourly net returns
    hit_rate: float  # share of trades whose gross return over their holding period is > 0
    n_trades: int  # held positions (decision rows with a non-zero position)
    exposure: float  # share of hours with a non-zero position

    def summary(self) -> dict[str, float | int]:
        return {
            "total_return": self.total_return,
            "max_drawdown": self.max_drawdown,
            "sharpe": self.sharpe,
            "hit_rate": self.hit_rate,
            "n_trades": self.n_trades,
            "exposure": self.exposure,
            "n_hours": int(self.net.shape[0]),
        }


def backtest(
    position: np.ndarray,
    ret: np.ndarray,
    cost_bps: float,
    decisions: np.ndarray | None = None,
    periods_per_year: float = HOURS_PER_YEAR,
) -> Backtest:
    """Backtest ``position`` (held over each hour) against simple hourly returns ``ret``.

    ``decisions`` marks the rows where a holding period starts (None: every hour, a 1h
    strategy); the position must be constant from one decision to the next (see ``hold``).
    The position before the first row is flat. One pass over (n,), holding periods included;
    the three curves are rows of one (3, n) array.
    """
    n = ret.shape[0]
    if position.shape != (n,):
        raise ValueError(f"position has shape {position.shape}, returns have ({n},)")
    if decisions is not None and decisions.shape != (n,):
        raise ValueError(f"decisions has shape {decisions.shape}, returns have ({n},)")
    if n == 0:
        empty = np.zeros(0)
        return Backtest(empty, empty, empty, 0.0, 0.0, 0.0, 0.0, 0, 0.0)
    from evaluation import _kernels  # numba loads on the first backtest, never at import

    pos = np.ascontiguousarray(position, dtype=np.float64)
    ret = np.ascontiguousarray(ret, dtype=np.float64)
    # One (3, n) block for the three curves: one allocation, which the allocator keeps and
    # hands back on the next backtest of the same size (three fresh 8 MB arrays fault in
    # their pages on every call, which costs more than the whole pass).
    net, equity, drawdown = np.empty((3, n))
    if decisions is None:
        n_held, hits, total, total_sq = _kernels.curves(
            pos, ret, float(cost_bps), net, equity, drawdown
        )
        n_trades = n_held  # every held hour is a one-hour trade
    else:
        mask = np.ascontiguousarray(decisions, dtype=np.bool_)
        n_held, n_trades, hits, total, total_sq = _kernels.curves_periods(
            pos, ret, mask, float(cost_bps), net, equity, drawdown
        )
    return Backtest(
        net=net,
        equity=equity,
        drawdown=drawdown,
        total_return=float(equity[-1] - 1.0),
        max_drawdown=min(0.0, float(drawdown.min())),
        sharpe=_sharpe(total, total_sq, n, periods_per_year),
        hit_rate=hits / n_trades if n_trades else 0.0,
        n_trades=n_trades,
        exposure=n_held / n,
    )


def _sharpe(total: float, total_sq: float, n: int, periods_per_year: float) -> float:
    """Annualised Sharpe from the sum and the sum of squares of the n hourly net returns."""
    if n < 2:
        return 0.0
    mean = total / n
    var = (total_sq - n * mean * mean) / (n - 1)
    if var <= 1e-30:
        return 0.0
    return float(mean / np.sqrt(var) * np.sqrt(periods_per_year))


def simple_returns(log_ret: np.ndarray) -> np.ndarray:
    """Simple returns from log returns (done once per series, shared by every strategy)."""
    return np.expm1(np.asarray(log_ret, dtype=np.float64))


def signal_positions(
    scores: np.ndarray, thresholds: np.ndarray | float, allow_short: bool
) -> np.ndarray:
    """+1 above the threshold, else 0 (or -1 with shorts); flat where there is no score (NaN).

    ``thresholds`` may be one value or one per row (walk-forward folds each calibrate their own).
    """
    known = np.isfinite(scores)
    up = np.greater(scores, thresholds, where=known, out=np.zeros(scores.shape, dtype=bool))
    if allow_short:
        signed: np.ndarray = np.where(up, 1.0, np.where(known, -1.0, 0.0))
        return signed
    long_only: np.ndarray = up.astype(np.float64)
    return long_only


def hold(position: np.ndarray, decisions: np.ndarray) -> np.ndarray:
    """The position decided at each decision row, held until the next one (flat before any)."""
    n = position.shape[0]
    last = np.where(decisions, np.arange(n), -1)
    np.maximum.accumulate(last, out=last)
    return np.where(last >= 0, position[np.maximum(last, 0)], 0.0)


def horizon_decisions(hours: np.ndarray, horizon: int) -> np.ndarray:
    """Rows where a ``horizon``-hour strategy decides (all rows for 1h); as in training."""
    return decision_rows(hours, horizon)


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
