"""The trading arithmetic at its edges, on series small enough to work out by hand: a strategy
that never trades, a trade resized or ending where it started, a single period, two periods,
float32 scores, a rule read back from JSON, volatility before enough returns are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trainer.trading import (
    Rule,
    backtest,
    break_even_bps,
    max_drawdown,
    money_of_rows,
    positions,
    realised_vol,
    round_trips,
    sharpe,
)

C = 10.0  # bps per unit traded
c = C * 1e-4


def test_a_rule_written_to_json_reads_back_as_the_same_rule() -> None:
    rule = Rule("vol_target", 0.7, 0.3, 4, True, 0.4, 2.5)
    assert rule.to_json() == {
        "name": "vol_target",
        "upper": 0.7,
        "lower": 0.3,
        "min_hold": 4,
        "allow_short": True,
        "target_vol": 0.4,
        "max_leverage": 2.5,
    }
    assert Rule(**rule.to_json()) == rule  # type: ignore[arg-type]


def test_a_strategy_that_never_trades_reports_zero_rates_not_ones() -> None:
    bt = backtest(np.zeros(5), np.array([0.01, -0.02, 0.03, 0.0, 0.01]), C)
    assert (bt.n_trades, bt.win_rate, bt.avg_hold_hours, bt.hit_rate) == (0, 0.0, 0.0, 0.0)
    assert (bt.exposure, bt.turnover_per_year, bt.n_position_changes) == (0.0, 0.0, 0)
    assert (bt.total_return, bt.gross_return, bt.cost_return) == (0.0, 0.0, 0.0)
    assert bt.break_even_bps is None
    assert round_trips(np.zeros(5), np.zeros(5), C) == (0, 0, 0)


def test_an_empty_part_reports_zero_money_exposure_and_turnover() -> None:
    bt = backtest(np.zeros(0), np.zeros(0), C)
    assert (bt.total_return, bt.gross_return, bt.cost_return) == (0.0, 0.0, 0.0)
    assert (bt.exposure, bt.turnover_per_year, bt.win_rate, bt.avg_hold_hours) == (0, 0, 0, 0)
    assert bt.summary()["n_hours"] == 0


def test_summary_reports_every_statistic_under_its_own_name_and_the_hours_covered() -> None:
    # a 4h model: flat, long two periods (+2%, -1%), flat again; 10 bps in and out
    pos = np.array([0.0, 1.0, 1.0, 0.0])
    ret = np.array([0.01, 0.02, -0.01, 0.03])
    bt = backtest(pos, ret, C, hours_per_period=4)
    net = np.array([0.0, 0.02 - c, -0.01, -c])
    total = (1 + 0.02 - c) * (1 - 0.01) * (1 - c) - 1
    gross = 1.02 * 0.99 - 1
    # break-even: (1.02 - x)(1 - x) 0.99 = 1, the smaller root of a quadratic in x
    x = (2.02 - math.sqrt(2.02**2 - 4 * (1.02 - 1 / 0.99))) / 2
    mean = net.mean()
    sd = math.sqrt(sum((v - mean) ** 2 for v in net) / 3)
    expected = {
        "total_return": total,
        "gross_return": gross,
        "cost_return": gross - total,
        "max_drawdown": (1 + total) / (1 + 0.02 - c) - 1,  # from the peak after period 1
        "sharpe": mean / sd * math.sqrt(24 * 365 / 4),
        "hit_rate": 0.5,  # held periods 1 (+2%) and 2 (-1%)
        "n_held_periods": 2,
        "n_trades": 1,
        "win_rate": 1.0,  # 1.019 x 0.99 x 0.999 > 1
        "n_position_changes": 2,
        "exposure": 0.5,
        "turnover_per_year": 2 / (16 / (24 * 365)),  # 2 units over 16 hours
        "avg_hold_hours": 8.0,
        "break_even_bps": x * 1e4,
        "n_hours": 16,
    }
    assert bt.summary() == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(bt.gross_equity, [1.0, 1.02, 1.02 * 0.99, 1.02 * 0.99])


def test_positions_and_returns_of_different_lengths_are_refused_naming_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"^position has shape \(3,\), returns have \(4,\)$"):
        backtest(np.zeros(3), np.zeros(4), C)


def test_a_resized_trade_pays_for_the_resize_and_is_a_win_when_it_made_money_net() -> None:
    pos = np.array([1.0, 0.5, 0.5, 0.0])
    ret = np.array([0.02, 0.01, 0.01, 0.0])
    bt = backtest(pos, ret, C)
    # (1 + 0.02 - c)(1 + 0.005 - 0.5c)(1 + 0.005)(1 - 0.5c) - 1 > 0: one winning round trip
    assert (1 + 0.02 - c) * (1 + 0.005 - 0.5 * c) * 1.005 * (1 - 0.5 * c) > 1
    assert (bt.n_trades, bt.win_rate) == (1, 1.0)


def test_win_rate_counts_only_round_trips_that_made_money_net() -> None:
    # gained 2%, then lost 3%: 1.02 x 0.97 < 1 -> a loss; then a trade that ends where it began
    pos = np.array([1.0, 1.0, 0.0, 1.0, 1.0, 0.0])
    ret = np.array([0.02, -0.03, 0.0, 0.0, 0.0, 0.0])
    bt = backtest(pos, ret, 0.0)
    assert (bt.n_trades, bt.win_rate) == (2, 0.0)
    assert round_trips(pos, pos * ret, 0.0) == (2, 0, 4)


def test_a_held_four_hour_period_that_ends_where_it_started_is_not_a_hit() -> None:
    decisions = np.array([True, False, False, False] * 2)
    ret = np.array([0.01, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    bt = backtest(np.ones(8), ret, C, decisions)
    assert (bt.n_held_periods, bt.hit_rate) == (2, 0.5)


def test_calibration_money_of_a_single_period_is_its_net_return() -> None:
    dd, total, sr = money_of_rows(np.array([[1.0], [0.0]]), np.array([-0.05]), C, 8760.0, True)
    np.testing.assert_allclose(dd, [-0.05 - c, 0.0], rtol=1e-12)
    np.testing.assert_allclose(total, [-0.05 - c, 0.0], rtol=1e-12)
    np.testing.assert_array_equal(sr, [0.0, 0.0])  # one period has no deviation


def test_calibration_money_of_no_periods_is_zero_for_every_candidate() -> None:
    out = money_of_rows(np.zeros((3, 0)), np.zeros(0), C, 8760.0, True)
    for a in out:
        assert a.shape == (3,) and not a.any()


def test_two_periods_have_a_sharpe_ratio_and_it_is_zero_only_when_not_asked_for() -> None:
    # net +1% then +3%: mean 2%, sample deviation sqrt(2) %, so Sharpe = sqrt(2 x 8760)
    net = np.array([0.01, 0.03])
    assert sharpe(net, 8760.0) == pytest.approx(math.sqrt(2 * 8760), rel=1e-12)
    _, _, sr = money_of_rows(np.ones((1, 2)), net, 0.0, 8760.0, True)
    assert sr[0] == pytest.approx(math.sqrt(2 * 8760), rel=1e-12)
    _, _, unasked = money_of_rows(np.ones((1, 3)), np.r_[net, 0.02], 0.0, 8760.0, False)
    assert unasked.tolist() == [0.0]


def test_max_drawdown_of_one_losing_period_is_its_loss_and_of_none_zero() -> None:
    assert max_drawdown(np.array([-0.05])) == pytest.approx(-0.05)
    assert max_drawdown(np.zeros(0)) == 0.0


def test_float32_scores_are_compared_with_the_threshold_in_float64() -> None:
    # float32(0.1) is 0.10000000149...: above a threshold of 0.1, though float32(0.1) is not
    scores = np.array([0.1, 0.05], dtype=np.float32)
    assert positions(scores, Rule(upper=0.1, lower=0.1)).tolist() == [1.0, 0.0]


def test_vol_target_without_a_volatility_or_a_target_is_refused() -> None:
    scores = np.array([0.9, 0.1])
    why = r"^strategy vol_target needs target_vol and the realised volatility$"
    with pytest.raises(ValueError, match=why):
        positions(scores, Rule("vol_target", target_vol=0.5), None)
    with pytest.raises(ValueError, match=why):
        positions(scores, Rule("vol_target", target_vol=None), np.array([0.3, 0.3]))


def test_realised_volatility_needs_24_known_returns_by_default() -> None:
    log_ret = np.full(40, 0.01)
    vol = realised_vol(log_ret, horizon=1, window=48)
    assert np.isnan(vol[:24]).all()  # row t knows the returns of rows 0 .. t-1
    assert vol[24] == pytest.approx(0.01, rel=1e-12)


def test_realised_volatility_of_the_first_window_counts_from_the_first_return() -> None:
    log_ret = np.arange(1.0, 41.0) / 1000  # 0.001, 0.002, ...
    vol = realised_vol(log_ret, horizon=1, window=48, min_obs=24)
    known = log_ret[:30]  # row 30 knows rows 0..29
    assert vol[30] == pytest.approx(math.sqrt(sum(r * r for r in known) / 30), rel=1e-12)


def test_no_volatility_is_known_before_the_first_forward_return_has_ended() -> None:
    # a 4h return of row 0 is known from row 4 on, even when one observation is enough
    log_ret = np.array([0.02, -0.04, 0.06, 0.01, 0.03, 0.05])
    vol = realised_vol(log_ret, horizon=4, window=10, min_obs=1)
    assert np.isnan(vol[:4]).all()
    assert vol[4] == pytest.approx(0.02 / 2, rel=1e-12)  # sqrt(0.02^2 / 4 hours)


def test_break_even_of_a_strategy_that_makes_nothing_before_costs_is_zero() -> None:
    assert break_even_bps(np.zeros(3), np.array([1.0, 0.0, 1.0])) == 0.0


@pytest.mark.parametrize(
    ("gross_in", "market_log", "ref_units"),
    [
        (0.02, 0.0, 0.0),  # against flat: about 98 bps
        (0.0002, 0.0, 0.0),  # a fraction of a bp
        (0.02, 0.005, 1.0),  # against a market that made 0.5% and pays to enter
        (5.0, math.log(5.1), 1.0),  # 500% in one period: break-even above 8,192 bps
    ],
)
def test_break_even_cost_is_the_root_of_one_round_trip_to_machine_precision(
    gross_in: float, market_log: float, ref_units: float
) -> None:
    # One unit in for a period that makes gross_in, out in a flat period: net growth
    # (1 + gross_in - x)(1 - x). Against flat it is 1 at the smaller root of
    # x^2 - (2 + gross_in) x + gross_in = 0 (written below without cancellation). Against a
    # market that trades one unit at the same cost, (1 + gross_in - x)(1 - x) = e^market (1 - x),
    # so x = 1 + gross_in - e^market.
    gross = np.array([gross_in, 0.0])
    traded = np.array([1.0, 1.0])
    if ref_units:
        x = 1 + gross_in - math.exp(market_log)
    else:
        b = 2 + gross_in
        x = 2 * gross_in / (b + math.sqrt(b * b - 4 * gross_in))
    got = break_even_bps(gross, traded, market_log, ref_units)
    assert got == pytest.approx(x * 1e4, rel=1e-12)
