"""Compiled backtest kernels (numba), imported by ``evaluation.backtest`` on its first call only.

``curves`` is one pass over the bars that writes the three curves and sums the statistics.
Its floor is the equity product, a chain of one multiply per bar (about 3 cycles of latency),
and the ~15 instructions each bar needs, about 1.5 ns a bar on this machine, which also hides
the memory traffic of 1M-bar series (40 MB, more than the L3). A blocked variant (vectorised
steps over L1-sized blocks, the product split into 4 chains) ran at 0.9 ns a bar in cache but
at 2 ns on 1M bars, where its memory stalls no longer overlap with arithmetic; see
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
    Net and equity are numpy's operations in numpy's order, so they are bit-identical to the
    vectorised version; the drawdown multiplies by 1 / peak, recomputed only at a new high
    (rare), instead of dividing every bar: within an ulp of equity / peak - 1.
    """
    cost = -cost_bps * 1e-4
    held, ups, s, s2 = 0, 0, 0.0, 0.0
    prev, e, peak, inv = 0.0, 1.0, 1.0, 1.0
    for i in range(ret.shape[0]):
        p = pos[i]
        g = p * ret[i]
        x = g + abs(p - prev) * cost
        prev = p
        net[i] = x
        e = e * (x + 1.0)
        equity[i] = e
        if e >= peak:  # equal counts too: e * (1 / e) - 1 may round above 0
            peak, inv = e, 1.0 / e
            drawdown[i] = 0.0
        else:
            drawdown[i] = e * inv - 1.0
        s += x
        s2 += x * x
        held += int(p != 0.0)
        ups += int(g > 0.0)
    return held, ups, s, s2


@_jit()
def period_hits(
    pos: np.ndarray, ret: np.ndarray, net: np.ndarray, equity: np.ndarray, starts: np.ndarray
) -> tuple:
    """(trades, hits) of holding periods that start at ``starts`` (sorted rows, at least one).

    A period's compounded gross return is equity[end] / equity[start - 1], with the cost paid on
    its first row added back (the position is constant inside it). When the equity underflowed
    to 0 (a ruinous strategy) that ratio is lost: the product of 1 + gross over the period is
    taken instead, for every period, as the numpy version did.
    """
    k, n = starts.shape[0], equity.shape[0]
    for j in range(k):
        s = starts[j]
        before = equity[s - 1] if s > 0 else 1.0
        if not (before > 0.0 and net[s] > -1.0):
            return _period_hits_by_product(pos, ret, starts)
    trades, hits = 0, 0
    for j in range(k):  # branch-free counting: whether a period is held is a coin flip
        s = starts[j]
        end = starts[j + 1] if j + 1 < k else n
        before = equity[s - 1] if s > 0 else 1.0
        ratio = (1.0 + pos[s] * ret[s]) / (1.0 + net[s])
        period = equity[end - 1] / before * ratio - 1.0
        held = int(pos[s] != 0.0)
        trades += held
        hits += held & int(period > 0.0)
    return trades, hits


@_jit()
def _period_hits_by_product(pos: np.ndarray, ret: np.ndarray, starts: np.ndarray) -> tuple:
    """(trades, hits) from the product of 1 + gross return over each period."""
    k, n = starts.shape[0], pos.shape[0]
    trades, hits = 0, 0
    for j in range(k):
        s = starts[j]
        end = starts[j + 1] if j + 1 < k else n
        prod = pos[s] * ret[s] + 1.0
        for i in range(s + 1, end):
            prod *= pos[i] * ret[i] + 1.0
        held = int(pos[s] != 0.0)
        trades += held
        hits += held & int(prod - 1.0 > 0.0)
    return trades, hits
