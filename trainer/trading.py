"""The one trading arithmetic: scores -> positions -> gross, costs, net -> round trips ->
equity, drawdown, Sharpe, break-even cost.

Used by the objective and the trainer's metrics (``trainer.objective``), the evaluation's
backtests, stress windows and study replays (``evaluation.backtest``), the ensemble's member
table (``evaluation.members``) and anything that later acts on a model: ``positions`` is the
decision rule, ``backtest`` the money. Pure functions over arrays; nothing here reads config.

Words mean what a trader means (docs/trading.md):

- a *period* is one row of the grid a backtest runs on: one decision row of an ``h``-hour
  model in training (its forward ``h``-hour return), or one hour in the evaluation, where the
  position decided at a decision row is held until the next one (``hold``);
- a *position* is a signed size (+1 long one unit, -1 short, 0.5 half a unit, 0 flat);
- a *trade* is a round trip: it opens when the position leaves flat or changes sign (a flip
  is an exit plus an entry) and closes at the next such change or at the end of the series;
- *costs* are ``cost_bps`` per unit of position changed, so a round trip of one unit pays
  twice and a flip pays two units;
- *hit rate* is the share of held decision periods whose gross return was positive; *win
  rate* the share of round trips whose net return was positive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

HOURS_PER_YEAR = 24 * 365
RULES = ("threshold", "hysteresis", "vol_target")


# --- decisions -------------------------------------------------------------------------------


def decision_rows(hours: np.ndarray, horizon: int) -> np.ndarray:
    """Boolean mask of rows where a horizon-long position is opened (hour of day % horizon)."""
    if horizon == 1:
        return np.ones(hours.shape[0], dtype=bool)
    return (hours % horizon) == 0


def hold(position: np.ndarray, decisions: np.ndarray) -> np.ndarray:
    """The position decided at each decision row, held until the next one (flat before any)."""
    n = position.shape[0]
    last = np.where(decisions, np.arange(n), -1)
    np.maximum.accumulate(last, out=last)
    return np.where(last >= 0, position[np.maximum(last, 0)], 0.0)


@dataclass(frozen=True)
class Rule:
    """A calibrated decision rule: everything that turns a model's scores into positions.

    ``upper``/``lower`` are in the scores' own units (set by calibration on valid). Long above
    ``upper``; at or below ``lower`` flat (short with ``allow_short``); in between the
    position carries on (``lower == upper``: the plain threshold rule). A position once opened
    is held at least ``min_hold`` periods. ``target_vol`` (vol_target only) sizes each position
    as target / realised volatility, at most ``max_leverage``; both annualised.
    """

    name: str = "threshold"  # threshold | hysteresis | vol_target
    upper: float = 0.5
    lower: float = 0.5
    min_hold: int = 1  # periods
    allow_short: bool = False
    target_vol: float | None = None  # vol_target only: annualised volatility aimed at
    max_leverage: float = 1.0

    def to_json(self) -> dict[str, float | int | str | bool | None]:
        return {
            "name": self.name,
            "upper": self.upper,
            "lower": self.lower,
            "min_hold": self.min_hold,
            "allow_short": self.allow_short,
            "target_vol": self.target_vol,
            "max_leverage": self.max_leverage,
        }


_CARRY = 2.0  # a target meaning "keep the current position" (never a valid direction)


def _targets(
    scores: np.ndarray, upper: np.ndarray | float, lower: np.ndarray | float, allow_short: bool
) -> np.ndarray:
    """What the rule asks for at each row, before memory: +1, low (0 or -1), 0 where there is
    no score (NaN), or _CARRY between ``lower`` and ``upper``; (..., n)."""
    known = np.isfinite(scores)
    low = -1.0 if allow_short else 0.0
    with np.errstate(invalid="ignore"):
        up = scores > upper
        down = scores <= lower
    out = np.where(down, low, _CARRY)
    out[up] = 1.0
    if not known.all():
        out[~np.broadcast_to(known, out.shape)] = 0.0
    return out


def _carry_forward(targets: np.ndarray) -> np.ndarray:
    """Positions from targets along the last axis: each _CARRY keeps the previous position
    (flat before the first), vectorised by forward-filling the index of the last target."""
    n = targets.shape[-1]
    idx = np.where(targets != _CARRY, np.arange(n, dtype=np.int32), np.int32(-1))
    np.maximum.accumulate(idx, axis=-1, out=idx)
    filled = np.take_along_axis(targets, np.maximum(idx, 0), axis=-1)
    return np.where(idx >= 0, filled, 0.0)


def _hold_at_least(targets: np.ndarray, min_hold: int) -> np.ndarray:
    """Positions from (n,) targets when a position, once opened, is kept ``min_hold`` periods.

    A state machine over the changes only: from the current position, jump to the first row
    (not before the holding time is up) whose target differs from it and is not _CARRY. One
    Python step per change of position, not per row.
    """
    n = targets.shape[0]
    pos = np.zeros(n)
    if n == 0:
        return pos
    nxt = {}
    for state in (-1.0, 0.0, 1.0):  # nxt[s][t]: first row >= t whose target leaves s
        leaves = (targets != _CARRY) & (targets != state)
        where = np.where(leaves, np.arange(n), n)
        nxt[state] = np.minimum.accumulate(where[::-1])[::-1]
    state, t, changes = 0.0, 0, []
    while t < n:
        t = int(nxt[state][t])
        if t >= n:
            break
        state = float(targets[t])
        changes.append((t, state))
        t = t + (min_hold if state != 0.0 else 1)
    ends = [c[0] for c in changes[1:]] + [n]
    for (t0, s), t1 in zip(changes, ends, strict=False):
        pos[t0:t1] = s
    return pos


def realised_vol(log_ret: np.ndarray, horizon: int, window: int, min_obs: int = 24) -> np.ndarray:
    """Per-hour volatility known at each row, from the part's own forward ``horizon``-hour
    log returns: row t knows the returns of rows <= t - horizon. Root mean square of the last
    ``window`` known ones, over sqrt(horizon); NaN until ``min_obs`` are known. (n,)."""
    n = log_ret.shape[0]
    sq = np.concatenate(([0.0], np.cumsum(np.nan_to_num(np.asarray(log_ret, np.float64)) ** 2)))
    known = np.arange(n) - horizon + 1  # rows [0, known) are known at row t
    lo = np.maximum(known - window, 0)
    hi = np.maximum(known, 0)
    count = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (sq[hi] - sq[lo]) / count / horizon
    return np.where(count >= min_obs, np.sqrt(np.maximum(var, 0.0)), np.nan)


def _sizes(rule: Rule, vol: np.ndarray | None) -> np.ndarray | None:
    if rule.name != "vol_target":
        return None
    if vol is None or rule.target_vol is None:
        raise ValueError("strategy vol_target needs target_vol and the realised volatility")
    with np.errstate(divide="ignore", invalid="ignore"):
        size = np.minimum(rule.target_vol / vol, rule.max_leverage)
    return np.where(np.isfinite(size), size, 0.0)  # no volatility known yet: flat


def positions(scores: np.ndarray, rule: Rule, vol: np.ndarray | None = None) -> np.ndarray:
    """THE decision rule: the position of each decision row, (n,), from its scores.

    scores: (n,) model scores of consecutive decision rows (NaN: no prediction -> flat).
    vol: (n,) realised volatility known at each row, annualised like ``rule.target_vol``
    (``realised_vol`` x sqrt(hours a year)), needed by ``vol_target`` only. The series starts
    flat.
    """
    scores = np.asarray(scores, dtype=np.float64)
    targets = _targets(scores, rule.upper, rule.lower, rule.allow_short)
    if rule.min_hold > 1:
        direction = _hold_at_least(targets, rule.min_hold)
    else:
        direction = _carry_forward(targets)
    size = _sizes(rule, vol)
    return direction if size is None else direction * size


def positions_block(
    scores: np.ndarray,
    uppers: np.ndarray,
    lowers: np.ndarray,
    rule: Rule,
    vol: np.ndarray | None = None,
) -> np.ndarray:
    """``positions`` for k candidate (upper, lower) pairs at once: (k, n), one row each."""
    scores = np.asarray(scores, dtype=np.float64)
    plain = rule.min_hold == 1 and np.array_equal(uppers, lowers)
    if plain and np.isfinite(scores).all():  # the threshold rule: one comparison a cell
        up = np.greater(scores[None, :], uppers[:, None])
        direction = np.where(up, 1.0, -1.0) if rule.allow_short else up.astype(np.float64)
    else:
        targets = _targets(scores[None, :], uppers[:, None], lowers[:, None], rule.allow_short)
        if rule.min_hold > 1:
            direction = np.stack([_hold_at_least(t, rule.min_hold) for t in targets])
        else:
            direction = _carry_forward(targets)
    size = _sizes(rule, vol)
    return direction if size is None else direction * size[None, :]


# --- money -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backtest:
    """One strategy's per-period curves and summary statistics (see the module docstring)."""

    gross: np.ndarray  # (n,) simple return of each period before costs: position x return
    traded: np.ndarray  # (n,) units of position changed at the start of each period
    cost: np.ndarray  # (n,) costs of each period: traded x cost per unit
    net: np.ndarray  # (n,) gross - cost
    equity: np.ndarray  # (n,) net equity compounded from 1.0 before the first period
    gross_equity: np.ndarray  # (n,) the same before costs
    drawdown: np.ndarray  # (n,) equity / running peak - 1, <= 0
    total_return: float  # net (cum_return in metrics.json)
    gross_return: float
    cost_return: float  # gross_return - total_return: what costs took, as a return
    max_drawdown: float
    sharpe: float  # annualised from the per-period net returns
    hit_rate: float  # share of held decision periods whose gross return was > 0
    n_held_periods: int  # decision periods with a position (hit_rate's denominator)
    n_trades: int  # round trips (entries; a flip counts one exit and one entry)
    win_rate: float  # share of round trips whose net return was > 0
    n_position_changes: int  # periods whose position differs from the one before
    exposure: float  # share of periods (hours in an evaluation) with a position
    turnover_per_year: float  # units of position traded a year
    avg_hold_hours: float  # mean length of a round trip, in hours
    break_even_bps: float | None  # cost per unit traded at which net return would be 0
    hours_per_period: int

    def summary(self) -> dict[str, Any]:
        return {
            "total_return": self.total_return,
            "gross_return": self.gross_return,
            "cost_return": self.cost_return,
            "max_drawdown": self.max_drawdown,
            "sharpe": self.sharpe,
            "hit_rate": self.hit_rate,
            "n_held_periods": self.n_held_periods,
            "n_trades": self.n_trades,
            "win_rate": self.win_rate,
            "n_position_changes": self.n_position_changes,
            "exposure": self.exposure,
            "turnover_per_year": self.turnover_per_year,
            "avg_hold_hours": self.avg_hold_hours,
            "break_even_bps": self.break_even_bps,
            "n_hours": int(self.net.shape[0]) * self.hours_per_period,
        }


def backtest(
    position: np.ndarray,
    ret: np.ndarray,
    cost_bps: float,
    decisions: np.ndarray | None = None,
    hours_per_period: int = 1,
) -> Backtest:
    """Backtest ``position`` held over each period against simple period returns ``ret``.

    ``decisions`` marks the rows where a holding period starts (None: every row decides);
    the position must be constant from one decision to the next (see ``hold``); rows before
    the first decision belong to no holding period. The position before the first row is flat.
    """
    n = ret.shape[0]
    if position.shape != (n,):
        raise ValueError(f"position has shape {position.shape}, returns have ({n},)")
    if decisions is not None and decisions.shape != (n,):
        raise ValueError(f"decisions has shape {decisions.shape}, returns have ({n},)")
    pos = np.asarray(position, dtype=np.float64)
    ret = np.asarray(ret, dtype=np.float64)
    traded = np.abs(np.diff(pos, prepend=0.0))
    gross = pos * ret
    cost = traded * (cost_bps * 1e-4)
    net = gross - cost
    equity = np.cumprod(1.0 + net)
    gross_equity = np.cumprod(1.0 + gross)
    drawdown = _drawdown(equity)
    years = n * hours_per_period / HOURS_PER_YEAR
    n_trades, wins, held_periods = round_trips(pos, gross, cost_bps)
    hits, n_held = _hits(pos, gross, decisions)
    total = float(equity[-1] - 1.0) if n else 0.0
    gross_total = float(gross_equity[-1] - 1.0) if n else 0.0
    return Backtest(
        gross=gross,
        traded=traded,
        cost=cost,
        net=net,
        equity=equity,
        gross_equity=gross_equity,
        drawdown=drawdown,
        total_return=total,
        gross_return=gross_total,
        cost_return=gross_total - total,
        max_drawdown=min(0.0, float(drawdown.min())) if n else 0.0,
        sharpe=sharpe(net, HOURS_PER_YEAR / hours_per_period),
        hit_rate=hits / n_held if n_held else 0.0,
        n_held_periods=n_held,
        n_trades=n_trades,
        win_rate=wins / n_trades if n_trades else 0.0,
        n_position_changes=int(np.count_nonzero(traded)),
        exposure=float(np.count_nonzero(pos)) / n if n else 0.0,
        turnover_per_year=float(traded.sum()) / years if n else 0.0,
        avg_hold_hours=held_periods * hours_per_period / n_trades if n_trades else 0.0,
        break_even_bps=break_even_bps(gross, traded),
        hours_per_period=hours_per_period,
    )


def money_of_rows(
    pos: np.ndarray, ret: np.ndarray, cost_bps: float, periods_per_year: float, sharpe: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(max drawdown, compounded net return, annualised net Sharpe or 0) of each row of
    (k, n) positions against (n,) simple returns: ``backtest``'s arithmetic, the same
    operations in the same order (bit-identical drawdowns and returns), in place on the block.
    Calibration scores its candidate rules with it."""
    k, n = pos.shape
    if n == 0:
        return np.zeros(k), np.zeros(k), np.zeros(k)
    # net = position x return - |position change| x cost (flat before row 0)
    traded = np.empty_like(pos)
    traded[:, 0] = pos[:, 0]
    np.subtract(pos[:, 1:], pos[:, :-1], out=traded[:, 1:])
    np.abs(traded, out=traded)
    traded *= cost_bps * 1e-4
    equity = pos * ret
    equity -= traded
    sharpes = np.zeros(k)
    if sharpe and n >= 2:
        sd = np.std(equity, axis=1, ddof=1)
        mean = np.mean(equity, axis=1)
        ok = sd > 0
        sharpes = np.where(ok, mean / np.where(ok, sd, 1.0) * np.sqrt(periods_per_year), 0.0)
    equity += 1.0
    np.multiply.accumulate(equity, axis=1, out=equity)
    total = equity[:, -1] - 1.0
    peak = np.maximum.accumulate(equity, axis=1, out=traded)
    np.maximum(peak, 1.0, out=peak)  # the curve starts at 1.0
    equity /= peak
    return np.minimum(np.min(equity, axis=1) - 1.0, 0.0), total, sharpes


def _drawdown(equity: np.ndarray) -> np.ndarray:
    peak = np.maximum.accumulate(equity) if equity.size else equity
    peak = np.maximum(peak, 1.0)  # the starting capital 1.0 is the first peak
    return np.asarray(equity / peak - 1.0)


def _hits(pos: np.ndarray, gross: np.ndarray, decisions: np.ndarray | None) -> tuple[int, int]:
    """(held decision periods with a positive gross compounded return, held decision periods).

    A period's return is the product of 1 + its rows' gross returns, minus 1 (tested > 1,
    so it survives an equity that underflows)."""
    if decisions is None:
        held = pos != 0
        return int(np.count_nonzero(gross[held] > 0)), int(np.count_nonzero(held))
    starts = np.flatnonzero(decisions)
    if starts.size == 0:
        return 0, 0
    growth = np.multiply.reduceat(1.0 + gross[starts[0] :], starts - starts[0])
    held = pos[starts] != 0
    return int(np.count_nonzero(growth[held] > 1.0)), int(np.count_nonzero(held))


def round_trips(pos: np.ndarray, gross: np.ndarray, cost_bps: float) -> tuple[int, int, int]:
    """(round trips, those whose compounded net return is > 0, periods held in them).

    A round trip opens where the position leaves flat or changes sign and closes at the next
    such change (a flip closes one and opens the next) or at the end of the series. Its net
    return compounds its periods' gross returns less their costs, entry and resizes included,
    and its exit cost (paid in the period that closes it). A flip's cost is split by units:
    the old position's units close the old trade, the new position's open the new one.
    """
    n = pos.shape[0]
    sign = np.sign(pos)
    prev = np.concatenate(([0.0], sign[:-1]))
    opens = np.flatnonzero((sign != 0) & (sign != prev))
    if opens.size == 0:
        return 0, 0, 0
    closes = np.flatnonzero((prev != 0) & (sign != prev))  # the period after each trade
    ends = np.concatenate((closes[closes > opens[0]], [n]))[: opens.size]
    c = cost_bps * 1e-4
    before = np.concatenate(([0.0], pos[:-1]))
    cost = np.abs(pos - before) * c
    cost[opens] = np.abs(pos[opens]) * c  # the entry's share; an exit's goes to its trade
    log_net = np.log(np.maximum(1.0 + gross - cost, 1e-300))
    growth = np.concatenate(([0.0], np.cumsum(log_net)))
    value = growth[ends] - growth[opens]
    closed = ends < n
    value[closed] += np.log(np.maximum(1.0 - np.abs(before[ends[closed]]) * c, 1e-300))
    return int(opens.size), int(np.count_nonzero(value > 0.0)), int((ends - opens).sum())


def break_even_bps(
    gross: np.ndarray,
    traded: np.ndarray,
    ref_log_growth: float = 0.0,
    ref_traded: float = 0.0,
) -> float | None:
    """The cost per unit traded (bps) at which the compounded net return falls to a
    reference: zero by default, or a benchmark's log growth ``ref_log_growth`` that itself
    trades ``ref_traded`` units at that cost (buy-and-hold: its market return, one unit).

    None when nothing is traded; 0.0 when the strategy is below the reference before costs.
    Solved on the log of net equity, which falls with the cost.
    """
    moved = traded > 0
    if not np.any(moved):
        return None
    # Only the periods that trade depend on the cost: the others add a constant log growth.
    fixed = float(np.sum(np.log(np.maximum(1.0 + gross[~moved], 1e-300)))) - ref_log_growth
    g, u = 1.0 + gross[moved], traded[moved]

    def excess(c: float) -> tuple[float, float]:
        """(log growth over the reference's at cost c, its derivative in c)."""
        growth = g - c * u
        if c * ref_traded >= 1.0 or growth.min() <= 0.0:
            return -math.inf, -math.inf
        value = fixed + float(np.sum(np.log(growth))) - math.log1p(-c * ref_traded)
        return value, -float(np.sum(u / growth)) + ref_traded / (1.0 - c * ref_traded)

    if excess(0.0)[0] <= 0.0:
        return 0.0
    # Bracket the root, then Newton's steps kept inside the bracket (bisection otherwise).
    lo, hi = 0.0, 1e-4
    while excess(hi)[0] > 0.0 and hi < 1.0:
        lo, hi = hi, hi * 2.0
    c = 0.5 * (lo + hi)
    for _ in range(100):
        value, slope = excess(c)
        if value > 0.0:
            lo = c
        else:
            hi = c
        step = value / slope if math.isfinite(value) and slope < 0.0 else math.inf
        nxt = c - step
        if not lo < nxt < hi:
            nxt = 0.5 * (lo + hi)
        if abs(nxt - c) <= 1e-13 * nxt or hi - lo <= 1e-13 * hi:
            c = nxt
            break
        c = nxt
    return c * 1e4


def equity_curve(net: np.ndarray) -> np.ndarray:
    """Compounded equity starting from 1.0, (n,)."""
    return np.cumprod(1.0 + net)


def max_drawdown(net: np.ndarray) -> float:
    """Worst peak-to-trough fall of the equity curve, as a negative fraction (0 if none)."""
    if net.size == 0:
        return 0.0
    return min(0.0, float(_drawdown(equity_curve(net)).min()))


def sharpe(net: np.ndarray, periods_per_year: float) -> float:
    """Annualised Sharpe ratio of per-period net returns (0 when flat)."""
    if net.size < 2:
        return 0.0
    sd = float(np.std(net, ddof=1))
    if sd == 0.0:
        return 0.0
    return float(np.mean(net) / sd * np.sqrt(periods_per_year))
