"""Compiled backtest kernels (numba), imported by ``evaluation.backtest`` on its first call only.

``curves`` (1h) and ``curves_periods`` (a strategy that decides on some rows) are each one pass
over the bars that writes the three curves and sums the statistics; the 4h one also closes and
opens its holding periods as it meets their decision rows, so no second pass reads the curves
back. The floor is the equity product, a chain of one multiply per bar (about 3 cycles of
latency), and the ~15 instructions each bar needs, about 1.5 ns a bar on this machine, which
also hides the memory traffic of 1M-bar series (40 MB, more than the L3). A blocked variant
(vectorised steps over L1-sized blocks, the product split into 4 chains) ran at 0.9 ns a bar in
cache but at 2 ns on 1M bars, where its memory stalls no longer overlap with arithmetic; see
benchmarks/evaluation.py.

Compiled on the first call and cached next to this file (``cache=True``), so a later process
loads the machine code instead of compiling it again. The trainer never imports this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np

F = TypeVar("F", bound=Callable[..., Any])


def _jit(**flags: Any) -> Callable[[F], F]:
    return cast(Callable[[F], F], numba.njit(cache=True, nogil=True, **flags))


# Inlined into each kernel at numba's IR level: the per-bar step is written once, and the
# kernels compile to the same loop as if it were spelled out in each.
_inline = cast(Callable[[F], F], numba.njit(inline="always"))


@_inline
def _bar(
    i: int,
    p: float,
    r: float,
    prev: float,
    cost: float,
    state: tuple[float, float, float],
    net: np.ndarray,
    equity: np.ndarray,
    drawdown: np.ndarray,
) -> tuple[float, float, tuple[float, float, float]]:
    """Write bar i of the three curves; (gross, net, the new (equity, peak, 1 / peak)).

    Net and equity are numpy's operations in numpy's order, so they are bit-identical to the
    vectorised version; the drawdown multiplies by 1 / peak, recomputed only at a new high
    (rare), instead of dividing every bar: within an ulp of equity / peak - 1.
    """
    e, peak, inv = state
    g = p * r
    x = g + abs(p - prev) * cost
    net[i] = x
    e = e * (x + 1.0)
    equity[i] = e
    if e >= peak:  # equal counts too: e * (1 / e) - 1 may round above 0
        peak, inv = e, 1.0 / e
        drawdown[i] = 0.0
    else:
        drawdown[i] = e * inv - 1.0
    return g, x, (e, peak, inv)


@_jit()
def curves(
    pos: np.ndarray,
    ret: np.ndarray,
    cost_bps: float,
    net: np.ndarray,
    equity: np.ndarray,
    drawdown: np.ndarray,
) -> tuple:
    """Fill the (n,) curves net, equity and drawdown from (n,) float64 inputs, n >= 1.

    Returns (held hours, hours with a positive gross return, sum of net, sum of net squared).
    The position before the first row is flat; the starting capital 1.0 is the first peak.
    """
    cost = -cost_bps * 1e-4
    held, ups, s, s2 = 0, 0, 0.0, 0.0
    prev, state = 0.0, (1.0, 1.0, 1.0)
    for i in range(ret.shape[0]):
        p = pos[i]
        g, x, state = _bar(i, p, ret[i], prev, cost, state, net, equity, drawdown)
        prev = p
        s += x
        s2 += x * x
        held += int(p != 0.0)
        ups += int(g > 0.0)
    return held, ups, s, s2


@_jit()
def curves_periods(
    pos: np.ndarray,
    ret: np.ndarray,
    decisions: np.ndarray,
    cost_bps: float,
    net: np.ndarray,
    equity: np.ndarray,
    drawdown: np.ndarray,
) -> tuple:
    """``curves`` for a strategy whose holding periods start at the (n,) bool ``decisions``.

    Returns (held hours, trades, hits, sum of net, sum of net squared). A period runs from its
    decision row to the next one (the last to the end); rows before the first decision belong
    to none. It is a trade when its position is non-zero and a hit when its gross compounded
    return, the product of 1 + position * return over its rows, in order, minus 1, is > 0:
    exactly ``np.multiply.reduceat(pos * ret + 1, starts)``. Being a product of its own rows
    (not a ratio of equities), it survives an equity that underflows to 0.

    The decision test is a branch: on a horizon's regular grid (every 4th row) it is predicted
    and the pass costs what ``curves`` does (1.6 ns a bar on 1M bars). A select instead puts
    itself on the growth chain: 2.1 ns a bar whatever the mask. Only an irregular mask pays
    for mispredictions (4.3 ns a bar when 30% of rows, drawn at random, decide).
    """
    cost = -cost_bps * 1e-4
    held, trades, hits, s, s2 = 0, 0, 0, 0.0, 0.0
    prev, state = 0.0, (1.0, 1.0, 1.0)
    holding, growth = False, 1.0  # the open period: has a position, product of 1 + gross
    for i in range(ret.shape[0]):
        p = pos[i]
        g, x, state = _bar(i, p, ret[i], prev, cost, state, net, equity, drawdown)
        prev = p
        if decisions[i]:  # close the open period, open a new one
            trades += int(holding)
            hits += int(holding and growth > 1.0)  # growth - 1 > 0, without the subtraction
            holding, growth = p != 0.0, 1.0
        growth *= g + 1.0
        s += x
        s2 += x * x
        held += int(p != 0.0)
    trades += int(holding)
    hits += int(holding and growth > 1.0)
    return held, trades, hits, s, s2
