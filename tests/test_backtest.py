"""Vectorised backtests: agree with a plain numpy reference and with a bar-by-bar loop."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluation.backtest import (
    backtest,
    confirm,
    decision_rows,
    hold,
    momentum_positions,
    simple_returns,
)

horizon_decisions = decision_rows


def _market(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    log_ret = rng.standard_t(4, n) * 0.004 + 0.0001
    return log_ret, simple_returns(log_ret)


def _loop_backtest(pos: list[float], ret: list[float], cost_bps: float) -> tuple[float, float]:
    """The obvious bar-by-bar loop: (total return, max drawdown)."""
    equity, peak, worst, prev = 1.0, 1.0, 0.0, 0.0
    for p, r in zip(pos, ret, strict=True):
        equity *= 1.0 + p * r - abs(p - prev) * cost_bps * 1e-4
        prev = p
        peak = max(peak, equity)
        worst = min(worst, equity / peak - 1.0)
    return equity - 1.0, worst


def _reference(
    pos: np.ndarray, ret: np.ndarray, cost_bps: float, decisions: np.ndarray | None
) -> dict[str, np.ndarray | float | int]:
    """A plain numpy implementation of ``backtest``'s curves and period counts."""
    n = ret.shape[0]
    net = pos * ret - np.abs(np.diff(pos, prepend=0.0)) * cost_bps * 1e-4
    equity = np.multiply.accumulate(net + 1.0)
    peak = np.maximum(np.maximum.accumulate(equity), 1.0)
    drawdown = equity / peak - 1.0
    n_held = int(np.count_nonzero(pos))
    if decisions is None:
        n_trades, hits = n_held, int(np.count_nonzero(pos * ret > 0))
    else:
        n_trades, hits = _reference_periods(pos, ret, decisions)
    mean = net.mean()
    var = float(((net - mean) ** 2).sum() / (n - 1)) if n > 1 else 0.0
    sharpe = 0.0 if var <= 1e-30 else float(mean / np.sqrt(var) * np.sqrt(24 * 365))
    return {
        "net": net,
        "equity": equity,
        "drawdown": drawdown,
        "sharpe": sharpe,
        "n_trades": n_trades,
        "hits": hits,
        "n_held": n_held,
    }


def _reference_periods(pos: np.ndarray, ret: np.ndarray, decisions: np.ndarray) -> tuple[int, int]:
    """(trades, hits) by definition: a period runs from its decision row to the next; it is a
    trade when held, a hit when the product of 1 + gross over its rows, minus 1, is > 0."""
    starts = np.flatnonzero(decisions)
    if starts.size == 0:
        return 0, 0
    period = np.multiply.reduceat(pos * ret + 1.0, starts) - 1.0
    held = pos[starts] != 0
    return int(np.count_nonzero(held)), int(np.count_nonzero(held & (period > 0)))


def _assert_matches_reference(
    pos: np.ndarray, ret: np.ndarray, cost: float, decisions: np.ndarray | None
) -> None:
    bt = backtest(pos, ret, cost, decisions)
    ref = _reference(pos, ret, cost, decisions)
    # net, equity and drawdown are the same operations in the same order: bit-identical
    np.testing.assert_array_equal(bt.net, ref["net"])
    np.testing.assert_array_equal(bt.equity, ref["equity"])
    np.testing.assert_array_equal(bt.drawdown, ref["drawdown"])
    assert np.all(bt.drawdown <= 0)
    assert bt.sharpe == pytest.approx(ref["sharpe"], rel=1e-9, abs=1e-12)
    assert bt.n_held_periods == ref["n_trades"]
    assert bt.hit_rate == (ref["hits"] / ref["n_trades"] if ref["n_trades"] else 0.0)
    assert bt.exposure == ref["n_held"] / ret.shape[0]


@settings(max_examples=80, deadline=None)
@given(
    st.integers(1, 300),
    st.floats(0.0, 50.0),
    st.booleans(),
    st.integers(0, 10_000),
    st.sampled_from([0.004, 0.05, 0.6]),
)
def test_backtest_matches_the_numpy_reference(
    n: int, cost: float, four_hourly: bool, seed: int, scale: float
) -> None:
    rng = np.random.default_rng(seed)
    ret = np.expm1(rng.standard_t(4, n) * scale)
    pos = rng.choice([-1.0, 0.0, 1.0], n)
    decisions = None
    if four_hourly:
        decisions = horizon_decisions((np.arange(n) + seed) % 24, 4)
        pos = hold(pos, decisions)
    _assert_matches_reference(pos, ret, cost, decisions)


def test_ruinous_backtest_whose_equity_underflows_matches_the_reference() -> None:
    rng = np.random.default_rng(3)
    ret = np.where(rng.random(2000) > 0.5, -0.9, 0.05)
    decisions = horizon_decisions(np.arange(2000) % 24, 4)
    pos = hold(rng.choice([-1.0, 1.0], 2000), decisions)
    bt = backtest(pos, ret, 10.0, decisions)
    assert bt.equity[-1] == 0.0  # underflowed: the hit rate needs the segmented product
    _assert_matches_reference(pos, ret, 10.0, decisions)
    _assert_matches_reference(pos, ret, 10.0, None)


def test_empty_backtest_is_all_zero() -> None:
    bt = backtest(np.zeros(0), np.zeros(0), 5.0, np.zeros(0, dtype=bool))
    assert bt.net.shape == bt.equity.shape == bt.drawdown.shape == (0,)
    assert (bt.total_return, bt.max_drawdown, bt.n_trades, bt.sharpe) == (0.0, 0.0, 0, 0.0)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 200),
    st.integers(0, 10_000),
    st.sampled_from([0.004, 0.6, 3.0]),
    st.sampled_from([0.0, 0.02, 0.3]),
    st.sampled_from([0.0, 0.1, 0.25, 1.0]),
    st.booleans(),
)
def test_four_hour_held_periods_and_hits_equal_the_segmented_product_of_each_period(
    n: int, seed: int, scale: float, ruin: float, density: float, held: bool
) -> None:
    # Shorts, returns of -100% (equity exactly 0, or doubled for a short), returns whose
    # product underflows, no decision row at all, and a first row that is not a decision.
    rng = np.random.default_rng(seed)
    ret = np.expm1(rng.standard_t(3, n) * scale)
    ret[rng.random(n) < ruin] = -1.0
    pos = rng.choice([-1.0, 0.0, 1.0], n)
    decisions = rng.random(n) < density
    if held:  # the contract of ``backtest``; the counts are defined without it too
        pos = hold(pos, decisions)
    bt = backtest(pos, ret, 7.0, decisions)
    trades, hits = _reference_periods(pos, ret, decisions)
    assert bt.n_held_periods == trades
    assert bt.hit_rate == (hits / trades if trades else 0.0)


def test_rows_before_the_first_decision_belong_to_no_trade() -> None:
    decisions = np.array([False, False, True, False])
    bt = backtest(np.ones(4), np.array([0.5, 0.5, -0.1, 0.05]), 0.0, decisions)
    # the +125% before the first decision is no period's; the one period compounds to -5.5%
    assert bt.n_held_periods == 1 and bt.hit_rate == 0.0
    assert bt.n_trades == 1  # one round trip, opened in the first hour
    assert bt.exposure == 1.0


def test_decisions_of_another_length_are_refused() -> None:
    with pytest.raises(ValueError, match="decisions has shape"):
        backtest(np.ones(4), np.zeros(4), 1.0, np.ones(3, dtype=bool))


def test_four_hour_backtest_without_a_decision_row_counts_no_held_period() -> None:
    _, ret = _market(3)
    bt = backtest(np.ones(3), ret, 5.0, np.zeros(3, dtype=bool))
    assert bt.n_held_periods == 0 and bt.hit_rate == 0.0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from([-1.0, 0.0, 1.0]), min_size=1, max_size=60),
    st.floats(0.0, 50.0),
    st.integers(0, 10_000),
)
def test_backtest_equals_a_bar_by_bar_loop(pos: list[float], cost: float, seed: int) -> None:
    _, ret = _market(len(pos), seed)
    bt = backtest(np.asarray(pos), ret, cost)
    total, worst = _loop_backtest(pos, ret.tolist(), cost)
    assert bt.total_return == pytest.approx(total, abs=1e-12)
    assert bt.max_drawdown == pytest.approx(worst, abs=1e-12)
    assert np.all(bt.drawdown <= 0)


def test_a_loss_in_the_first_hour_is_a_drawdown() -> None:
    bt = backtest(np.array([1.0, 1.0]), np.array([-0.1, 0.05]), cost_bps=0.0)
    assert bt.max_drawdown == pytest.approx(-0.1)


def test_flat_strategy_earns_nothing_and_trades_never() -> None:
    _, ret = _market(1000)
    bt = backtest(np.zeros(1000), ret, cost_bps=10.0)
    assert bt.total_return == 0.0 and bt.max_drawdown == 0.0
    assert bt.n_trades == 0 and bt.hit_rate == 0.0 and bt.sharpe == 0.0


def test_costs_are_charged_per_unit_of_position_changed() -> None:
    ret = np.zeros(4)
    bt = backtest(np.array([1.0, -1.0, -1.0, 0.0]), ret, cost_bps=10.0)
    # turnover 1 + 2 + 0 + 1 = 4 units at 10 bps each
    assert bt.total_return == pytest.approx((1 - 1e-3) * (1 - 2e-3) * (1 - 1e-3) - 1)


def test_four_hour_hits_are_counted_per_holding_period_with_their_compounded_return() -> None:
    hours = np.arange(16) % 24
    decisions = horizon_decisions(hours, 4)
    raw = np.array([1.0] * 4 + [0.0] * 4 + [1.0] * 4 + [1.0] * 4)
    held = hold(raw, decisions)
    ret = np.array([0.01, -0.02, 0.0, 0.0] + [0.5] * 4 + [0.01] * 4 + [-0.01, 0.0, 0.0, 0.005])
    bt = backtest(held, ret, cost_bps=5.0, decisions=decisions)
    assert bt.n_held_periods == 3
    assert bt.n_trades == 2  # long 4h, flat 4h, long 8h: two round trips
    # periods: 1.01 * 0.98 < 1 (miss), flat (no trade), up (hit), 0.99 * 1.005 < 1 (miss)
    assert bt.hit_rate == pytest.approx(1 / 3)


def test_hit_rate_of_a_ruinous_strategy_still_counts_periods() -> None:
    ret = np.full(4000, -0.5)
    decisions = horizon_decisions(np.arange(4000) % 24, 4)
    bt = backtest(np.ones(4000), ret, cost_bps=0.0, decisions=decisions)
    assert bt.n_held_periods == 1000 and bt.hit_rate == 0.0
    assert bt.n_trades == 1 and bt.win_rate == 0.0


def test_hold_keeps_each_decision_until_the_next_and_is_flat_before_the_first() -> None:
    decisions = np.array([False, True, False, False, True, False])
    raw = np.array([9.0, 1.0, 9.0, 9.0, -1.0, 9.0])
    np.testing.assert_array_equal(hold(raw, decisions), [0, 1, 1, 1, -1, -1])


def test_confirmation_trades_the_fast_signal_only_where_the_slow_one_agrees() -> None:
    fast = np.array([1.0, 1.0, 0.0, -1.0, -1.0])
    slow = np.array([1.0, 0.0, 1.0, -1.0, 1.0])
    np.testing.assert_array_equal(confirm(fast, slow), [1, 0, 0, -1, 0])


def test_momentum_baseline_uses_only_past_returns() -> None:
    log_ret = np.array([0.01, 0.01, -0.05, 0.02, 0.02, 0.02])
    pos = momentum_positions(log_ret, lookback=2, allow_short=False)
    # hour t looks at log_ret[t-2:t]: t=2 -> +0.02, t=3 -> -0.04, t=4 -> -0.03, t=5 -> +0.04
    np.testing.assert_array_equal(pos, [0, 0, 1, 0, 0, 1])
    changed = log_ret.copy()
    changed[4:] = -1.0  # changing the future never changes an earlier position
    np.testing.assert_array_equal(momentum_positions(changed, 2, False)[:5], pos[:5])


def test_buy_and_hold_return_is_the_market_return() -> None:
    log_ret, ret = _market(3000)
    bt = backtest(np.ones(3000), ret, cost_bps=0.0)
    assert bt.total_return == pytest.approx(np.expm1(log_ret.sum()), rel=1e-9)
    assert bt.exposure == 1.0
