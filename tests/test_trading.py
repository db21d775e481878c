"""The one trading arithmetic: round trips, decision rules and the money, on hand-built series."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import DictConfig

from trainer.objective import ObjectiveSpec, break_even_vs_market, hourly_positions, metrics
from trainer.trading import Rule, backtest, break_even_bps, positions, realised_vol

C = 10.0  # bps per unit traded
c = C * 1e-4


def test_round_trips_count_entries_and_report_exposure_turnover_and_holding_time() -> None:
    pos = np.array([0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0])
    bt = backtest(pos, np.zeros(8), C)
    assert bt.n_trades == 2  # two entries from flat
    assert bt.n_position_changes == 4
    assert bt.exposure == 3 / 8
    assert bt.avg_hold_hours == 1.5  # held 2 hours, then 1
    assert bt.turnover_per_year == pytest.approx(4 / (8 / (24 * 365)))
    # the same positions held for 4-hour periods: hours scale, counts do not
    four = backtest(pos, np.zeros(8), C, hours_per_period=4)
    assert (four.n_trades, four.avg_hold_hours) == (2, 6.0)


def test_a_flip_is_one_exit_and_one_entry_and_pays_two_units() -> None:
    pos = np.array([1.0, 1.0, -1.0, -1.0, 0.0])
    bt = backtest(pos, np.zeros(5), C)
    assert bt.n_trades == 2  # long, then short
    assert bt.n_position_changes == 3
    np.testing.assert_array_equal(bt.traded, [1.0, 0.0, 2.0, 0.0, 1.0])
    assert bt.avg_hold_hours == 2.0


def test_win_rate_compounds_each_round_trip_with_its_entry_and_exit_costs() -> None:
    pos = np.array([1.0, 1.0, -1.0, 0.0])
    ret = np.array([0.001, 0.0005, 0.0, 0.0])
    bt = backtest(pos, ret, C)
    # long: (1 + 0.001 - c)(1 + 0.0005)(1 - c) - 1 = -0.0005 < 0 -> a loss, though it
    # made money gross; short: (1 - c)(1 - c) - 1 < 0 -> a loss
    long_net = (1 + 0.001 - c) * (1 + 0.0005) * (1 - c) - 1
    assert long_net < 0 < 0.001 + 0.0005
    assert (bt.n_trades, bt.win_rate) == (2, 0.0)
    cheap = backtest(pos, ret, 1.0)  # 1 bp: the long trip nets +0.13%, the short loses
    assert cheap.win_rate == 0.5
    # hit rate counts held decision periods by direction: 2 of 3 held hours were up
    assert bt.hit_rate == pytest.approx(2 / 3)


def test_an_open_trade_at_the_end_counts_and_pays_no_exit() -> None:
    bt = backtest(np.array([0.0, 1.0, 1.0]), np.array([0.0, 0.0, 0.002]), C)
    assert (bt.n_trades, bt.win_rate, bt.avg_hold_hours) == (1, 1.0, 2.0)


def test_threshold_rule_is_long_above_flat_at_or_below_and_flat_without_a_score() -> None:
    scores = np.array([0.2, 0.8, np.nan, 0.6, 0.5])
    rule = Rule(upper=0.5, lower=0.5)
    np.testing.assert_array_equal(positions(scores, rule), [0, 1, 0, 1, 0])
    short = Rule(upper=0.5, lower=0.5, allow_short=True)
    np.testing.assert_array_equal(positions(scores, short), [-1, 1, 0, 1, -1])


def test_hysteresis_enters_above_the_upper_and_exits_at_or_below_the_lower_threshold() -> None:
    scores = np.array([0.5, 0.7, 0.5, 0.45, 0.4, 0.5, 0.65, 0.55])
    rule = Rule("hysteresis", upper=0.6, lower=0.4)
    np.testing.assert_array_equal(positions(scores, rule), [0, 1, 1, 1, 0, 0, 1, 1])
    short = Rule("hysteresis", upper=0.6, lower=0.4, allow_short=True)
    np.testing.assert_array_equal(positions(scores, short), [0, 1, 1, 1, -1, -1, 1, 1])
    # the threshold rule on the same scores trades far more
    plain = positions(scores, Rule(upper=0.6, lower=0.6))
    np.testing.assert_array_equal(plain, [0, 1, 0, 0, 0, 0, 1, 0])


def test_min_hold_keeps_a_position_its_hours_then_follows_the_rule_again() -> None:
    scores = np.array([0.6, 0.4, 0.4, 0.4, 0.6, 0.4, 0.4, 0.6])
    rule = Rule(upper=0.5, lower=0.5, min_hold=3)
    # enter at 0, held through 2, exit at 3; enter at 4, held through 6 (min hold), stays
    np.testing.assert_array_equal(positions(scores, rule), [1, 1, 1, 0, 1, 1, 1, 1])
    flip = Rule(upper=0.5, lower=0.5, min_hold=2, allow_short=True)
    np.testing.assert_array_equal(positions(scores, flip), [1, 1, -1, -1, 1, 1, -1, -1])
    hyst = Rule("hysteresis", upper=0.7, lower=0.3, min_hold=4)
    moves = np.array([0.8, 0.2, 0.5, 0.5, 0.5, 0.2, 0.8, 0.1])
    # the exit signal at 1 is ignored (held 4); at 4 the score is inside the band: carry
    np.testing.assert_array_equal(positions(moves, hyst), [1, 1, 1, 1, 1, 0, 1, 1])


def _hold_by_loop(targets: list[float], min_hold: int) -> list[float]:
    """The obvious row-by-row state machine (2.0 = carry)."""
    out, state, since = [], 0.0, 0
    for t in targets:
        if t != 2.0 and t != state and (state == 0.0 or since >= min_hold):
            state, since = t, 0
        since += 1
        out.append(state)
    return out


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.sampled_from([0.1, 0.4, 0.5, 0.6, 0.9, math.nan]), max_size=60),
    st.integers(1, 6),
    st.booleans(),
)
def test_min_hold_and_hysteresis_equal_a_row_by_row_loop(
    scores: list[float], min_hold: int, allow_short: bool
) -> None:
    rule = Rule("hysteresis", upper=0.55, lower=0.45, min_hold=min_hold, allow_short=allow_short)
    low = -1.0 if allow_short else 0.0
    targets = [
        0.0 if math.isnan(s) else 1.0 if s > 0.55 else low if s <= 0.45 else 2.0 for s in scores
    ]
    got = positions(np.asarray(scores, dtype=np.float64), rule)
    np.testing.assert_array_equal(got, _hold_by_loop(targets, min_hold))


def test_vol_target_sizes_by_known_volatility_capped_and_pays_on_the_size_traded() -> None:
    rule = Rule("vol_target", upper=0.5, lower=0.5, target_vol=0.5, max_leverage=1.5)
    scores = np.array([0.9, 0.9, 0.9, 0.1])
    vol = np.array([0.25, 1.0, np.nan, 0.5])
    pos = positions(scores, rule, vol)
    np.testing.assert_array_equal(pos, [1.5, 0.5, 0.0, 0.0])
    bt = backtest(pos, np.zeros(4), C)
    np.testing.assert_array_equal(bt.traded, [1.5, 1.0, 0.5, 0.0])
    assert bt.n_trades == 1  # resizing a long position is not a new trade
    assert bt.total_return == pytest.approx((1 - 1.5 * c) * (1 - c) * (1 - 0.5 * c) - 1)


def test_realised_volatility_uses_only_returns_known_at_the_row() -> None:
    rng = np.random.default_rng(0)
    log_ret = rng.normal(0, 0.01, 300)
    vol = realised_vol(log_ret, horizon=4, window=48, min_obs=24)
    changed = log_ret.copy()
    changed[200:] = 0.5  # returns of rows >= 200 are known from row 203 on
    np.testing.assert_array_equal(realised_vol(changed, 4, 48, 24)[:203], vol[:203])
    assert np.isnan(vol[:26]).all() and np.isfinite(vol[27:]).all()
    expected = np.sqrt(np.mean(log_ret[100 - 3 - 48 : 100 - 3] ** 2) / 4)
    assert vol[100] == pytest.approx(expected, rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 200), st.integers(0, 10_000), st.floats(0.0, 40.0))
def test_gross_less_costs_is_net_to_1e_12(n: int, seed: int, cost: float) -> None:
    rng = np.random.default_rng(seed)
    pos = rng.choice([-1.5, -1.0, 0.0, 0.5, 1.0], n)
    ret = rng.normal(0, 0.02, n)
    bt = backtest(pos, ret, cost)
    units = np.abs(np.diff(pos, prepend=0.0))
    np.testing.assert_allclose(bt.cost, units * cost * 1e-4, rtol=0, atol=1e-15)
    np.testing.assert_allclose(bt.gross - bt.cost, bt.net, rtol=0, atol=1e-12)
    assert bt.gross_return == pytest.approx(np.prod(1 + pos * ret) - 1, abs=1e-12)
    assert bt.gross_return - bt.cost_return == pytest.approx(bt.total_return, abs=1e-12)
    assert bt.total_return == pytest.approx(np.prod(1 + pos * ret - units * cost * 1e-4) - 1)


@pytest.mark.parametrize("planted_bps", [0.7, 12.5, 80.0])
def test_break_even_cost_recovers_a_planted_cost(planted_bps: float) -> None:
    rng = np.random.default_rng(1)
    n = 500
    pos = rng.choice([0.0, 1.0, -1.0], n)
    pos[-1] = 1.0
    ret = rng.normal(0, 0.01, n)
    units = np.abs(np.diff(pos, prepend=0.0))
    cp = planted_bps * 1e-4
    before = np.prod(1 + pos[:-1] * ret[:-1] - units[:-1] * cp)
    ret[-1] = 1 / before - 1 + units[-1] * cp  # net equity at the planted cost: exactly 1
    bt = backtest(pos, ret, 7.0)
    assert bt.break_even_bps == pytest.approx(planted_bps, rel=1e-9)
    # and against buy-and-hold: the cost at which the strategy matches the market
    market = float(np.sum(np.log1p(ret))) - 0.3
    got = break_even_vs_market(bt, market)
    assert got is not None
    g = got * 1e-4
    strat = np.sum(np.log(1 + pos * ret - units * g))
    assert strat == pytest.approx(market + math.log1p(-g), abs=1e-9)


def test_break_even_is_none_without_trades_and_zero_when_losing_before_costs() -> None:
    assert break_even_bps(np.zeros(3), np.zeros(3)) is None
    assert break_even_bps(np.array([-0.01, 0.0]), np.array([1.0, 0.0])) == 0.0


def test_trainer_metrics_and_evaluation_backtest_agree_on_the_same_positions() -> None:
    # One part of a 4h model, long-only: the trainer scores its decision rows with 4h
    # returns; the evaluation holds the same positions hour by hour with 1h returns.
    rng = np.random.default_rng(5)
    n = 24 * 60
    log_1h = rng.normal(0.0001, 0.01, n + 3)
    log_4h = np.array([log_1h[t : t + 4].sum() for t in range(n)])
    hours = np.arange(n) % 24
    scores = rng.random(n)
    for strategy, min_hold in (("threshold", 1), ("hysteresis", 12), ("vol_target", 8)):
        spec = ObjectiveSpec("f1", 1.0, -0.35, 4, 7.0, strategy=strategy, min_hold_hours=min_hold)
        rule = spec.rule(0.55, 0.4 if strategy == "hysteresis" else None)
        trainer = metrics(scores, rule, scores > 0.5, log_4h, hours, spec)
        pos, decisions = hourly_positions(scores, rule, log_4h, hours, spec)
        ev = backtest(pos, np.expm1(log_1h[:n]), 7.0, decisions).summary()
        for key in ("n_trades", "n_position_changes", "exposure", "avg_hold_hours", "hit_rate"):
            assert trainer[key] == ev[key], (strategy, key)
        assert trainer["turnover_per_year"] == pytest.approx(ev["turnover_per_year"], rel=1e-12)
        if strategy != "vol_target":  # a unit position compounds the same by hour or by 4h
            assert trainer["gross_return"] == pytest.approx(ev["gross_return"], rel=1e-9)
            # costs: paid before the period's first hour (evaluation) or on the period's
            # compounded return (training): the same to a cost x return cross term
            for key in ("cost_return", "break_even_bps"):
                assert trainer[key] == pytest.approx(ev[key], rel=2e-3), key
            assert trainer["cum_return"] == pytest.approx(ev["total_return"], rel=2e-3)


def test_walk_forward_fold_trades_exactly_the_positions_its_test_metrics_scored(
    compose_cfg: Callable[..., DictConfig],
) -> None:
    from evaluation.walk_forward import fit_and_score
    from trainer.config import validate
    from trainer.dataset import build_table
    from trainer.train import fit_context, folds_for

    for overrides in (("strategy=hysteresis",), ("strategy=threshold", "costs.allow_short=true")):
        conf = validate(compose_cfg(*overrides))
        table = build_table(conf.data, conf.features)
        fold = folds_for(conf, table)[0]
        scored = fit_and_score(conf, table, fold, fit_context(conf))
        ret = np.expm1(table.labels["ret_1h"][fold.test])
        ev = backtest(scored.test_positions, ret, 7.0).summary()
        for key in ("n_trades", "exposure", "n_position_changes", "hit_rate", "win_rate"):
            assert scored.metrics[key] == ev[key], (overrides, key)
        for key in ("gross_return", "cost_return", "break_even_bps"):
            assert scored.metrics[key] == pytest.approx(ev[key], rel=1e-9), (overrides, key)
        assert scored.metrics["cum_return"] == pytest.approx(ev["total_return"], rel=1e-9)
