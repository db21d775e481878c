"""The objective and calibration where a slip would go unseen on random data: the rule a spec
builds, the money objectives without a drawdown penalty, the skill reported beside a money
objective, a 4h model's buy-and-hold, vol_target sizing, the hysteresis candidates and how
calibration breaks ties."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from tests.test_objective_metrics import HOURS, LOG_RET, SCORES, Y_UP
from trainer.objective import (
    ObjectiveSpec,
    calibrate,
    candidate_rules,
    decide,
    metrics,
    objective_at,
    skill,
    strategy_backtest,
)
from trainer.trading import Rule

SPEC = ObjectiveSpec("f1", 0.0, -0.10, 1, 10.0)


def test_a_spec_builds_the_rule_it_describes() -> None:
    spec = ObjectiveSpec(
        "net_sharpe",
        0.0,
        -0.35,
        4,
        7.0,
        allow_short=True,
        strategy="vol_target",
        min_hold_hours=9,
        target_vol=0.3,
        max_leverage=2.0,
    )
    # 9 hours of a 4h model: 3 decision periods (a started period counts whole)
    assert spec.rule(0.6) == Rule("vol_target", 0.6, 0.6, 3, True, 0.3, 2.0)
    plain = ObjectiveSpec("f1", 0.0, -0.1, 1, 7.0, target_vol=0.3)
    assert plain.rule(0.6, 0.4) == Rule("threshold", 0.6, 0.4, 1, False, None, 1.0)


def test_money_objectives_without_a_drawdown_penalty_are_the_strategys_own_money() -> None:
    # long where score > 0.5 (rows 0, 2, 4): every row changes position and pays 10 bps
    net = np.array([1.0, 0, 1, 0, 1, 0]) * np.expm1(LOG_RET) - 0.001
    at = np.array([0.5])
    got = objective_at(SCORES, Y_UP, LOG_RET, HOURS, at, replace(SPEC, metric="net_return"))
    assert got[0] == pytest.approx(np.prod(1 + net) - 1, rel=1e-12)
    got = objective_at(SCORES, Y_UP, LOG_RET, HOURS, at, replace(SPEC, metric="net_sharpe"))
    sd = math.sqrt(sum((v - net.mean()) ** 2 for v in net) / 5)
    assert got[0] == pytest.approx(net.mean() / sd * math.sqrt(24 * 365), rel=1e-9)


@pytest.mark.parametrize("metric", ["net_sharpe", "net_return"])
def test_a_money_objective_reports_its_money_as_the_objective_and_f1_as_the_skill(
    metric: str,
) -> None:
    y = np.array([1.0, 1, 1, 0, 0, 0, 0, 0])
    scores = np.array([0.75, 0.75, 0.25, 0.75, 0.75, 0.25, 0.25, 0.25])
    log_ret = np.array([0.01, 0.02, 0.03, -0.01, -0.02, -0.01, -0.02, -0.03])
    spec = ObjectiveSpec(metric, 0.0, -0.10, 1, 0.0)
    m = metrics(scores, spec.rule(0.5), y, log_ret, np.arange(8), spec)
    # F1 4/7 against chance 2pq/(p+q) = 3/7 (p = 3/8 up, q = 1/2 predicted up): (1/7)/(4/7)
    assert m["skill"] == pytest.approx(0.25, rel=1e-12)
    net = np.array([1.0, 1, 0, 1, 1, 0, 0, 0]) * np.expm1(log_ret)
    if metric == "net_return":
        assert m["objective"] == pytest.approx(np.prod(1 + net) - 1, rel=1e-12)
    else:
        sd = math.sqrt(sum((v - net.mean()) ** 2 for v in net) / 7)
        assert m["objective"] == pytest.approx(net.mean() / sd * math.sqrt(24 * 365), rel=1e-9)


def test_a_four_hour_models_buy_and_hold_and_break_even_against_it_use_its_decision_rows() -> None:
    # decision rows 0 and 4 (4h returns +2%, -1%): long the first period, flat the second
    log_4h = np.array([0.02, 0.05, 0.05, 0.05, -0.01, 0.05, 0.05, 0.05])
    scores = np.array([0.9, 0.9, 0.9, 0.9, 0.1, 0.1, 0.1, 0.1])
    spec = ObjectiveSpec("f1", 0.0, -0.35, 4, 7.0)
    m = metrics(scores, spec.rule(0.5), (log_4h > 0).astype(float), log_4h, np.arange(8), spec)
    assert m["buy_and_hold_return"] == pytest.approx(math.expm1(0.01), rel=1e-12)
    # (e^0.02 - x)(1 - x) = e^0.01 (1 - x): buy-and-hold pays x once to enter, as the
    # strategy does, and the strategy pays x again to exit
    x = math.exp(0.02) - math.exp(0.01)
    assert m["break_even_vs_buy_and_hold_bps"] == pytest.approx(x * 1e4, rel=1e-9)


def test_vol_target_sizes_each_position_by_the_annualised_realised_volatility() -> None:
    log_ret = np.array([0.01, -0.01] * 20)  # 1% an hour: sqrt(8760) % a year
    spec = ObjectiveSpec(
        "f1", 0.0, -0.1, 1, 0.0, strategy="vol_target", target_vol=0.5, vol_window_hours=24
    )
    rows, pos = decide(np.full(40, 0.9), spec.rule(0.5), log_ret, np.arange(40) % 24, spec)
    assert rows.all()
    np.testing.assert_array_equal(pos[:24], 0.0)  # fewer than 24 returns known: flat
    np.testing.assert_allclose(pos[24:], 0.5 / (0.01 * math.sqrt(24 * 365)), rtol=1e-12)


def _hysteresis(**rule: Any) -> ObjectiveSpec:
    """An F1 objective whose decision rule is hysteresis, with ``rule``'s search settings."""
    return ObjectiveSpec("f1", 0.0, -0.1, 1, 0.0, strategy="hysteresis", **rule)


def test_hysteresis_candidates_pair_each_entry_with_every_band_widest_band_first() -> None:
    spec = _hysteresis(bands=(0.1, 0.2), n_thresholds=3, quantile_range=(0.4, 0.6))
    # scores 0..100: the quantile q is 100 q; entries at 40, 50, 60
    uppers, lowers = candidate_rules(np.arange(101.0), spec)
    np.testing.assert_allclose(uppers, [40, 50, 60, 40, 50, 60])
    np.testing.assert_allclose(lowers, [20, 30, 40, 30, 40, 50])


def test_calibration_keeps_the_widest_band_of_equally_good_hysteresis_rules() -> None:
    # F1 skill depends on the entry threshold only, so every band of the best entry ties;
    # the widest trades least. Scores 0..100, up exactly above 50: the best entry is 50.
    scores = np.arange(101.0)
    y = (scores > 50).astype(float)
    # entries at 30, 40, 50, 60
    spec = _hysteresis(bands=(0.1, 0.3), n_thresholds=4, quantile_range=(0.3, 0.6))
    rule, value = calibrate(scores, y, np.zeros(101), np.arange(101) % 24, spec)
    assert (rule.upper, value) == (pytest.approx(50.0), pytest.approx(1.0))
    assert rule.lower == pytest.approx(20.0)  # the quantile 0.5 - 0.3


def test_a_rule_with_memory_breaks_ties_like_the_plain_rule_at_the_lowest_threshold() -> None:
    # Row t scores t; the first 40 hours fall, the rest do not move: every threshold at or
    # above 39 is long only while nothing moves (net return 0), every lower one loses.
    n = 100
    scores = np.arange(float(n))
    log_ret = np.where(np.arange(n) < 40, -0.01, 0.0)
    y = (log_ret > 0).astype(float)
    hours = np.arange(n) % 24
    qs = np.linspace(0.05, 0.95, 49)
    lowest_tied = float(99 * qs[99 * qs >= 39][0])  # quantile q of 0..99 is 99 q
    for min_hold_hours in (1, 2, 6):
        spec = ObjectiveSpec("net_return", 0.0, -0.5, 1, 0.0, min_hold_hours=min_hold_hours)
        rule, value = calibrate(scores, y, log_ret, hours, spec)
        assert (rule.upper, value) == (pytest.approx(lowest_tied), 0.0), min_hold_hours


def _regimes(n: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(scores, y_up, log returns, hours): calm and wild spells of 200 hours; the scores
    carry a weak signal in the calm spells only, so sizing by volatility changes the money."""
    rng = np.random.default_rng(0)
    vol = np.where((np.arange(n) // 200) % 2 == 0, 0.002, 0.03)
    log_ret = rng.normal(0.0, 1.0, n) * vol
    scores = np.sign(log_ret) * 0.3 * (vol < 0.01) + rng.normal(0.0, 1.0, n)
    return scores, (log_ret > 0).astype(float), log_ret, np.arange(n) % 24


@pytest.mark.parametrize(("strategy", "min_hold_hours"), [("threshold", 2), ("vol_target", 4)])
def test_a_rule_with_a_minimum_hold_is_chosen_among_its_plain_rules_best_three_thresholds(
    strategy: str, min_hold_hours: int
) -> None:
    # The documented two steps, each threshold backtested on its own: screen every
    # threshold with the same rule held one period (vol_target keeps its sizing), keep the
    # best three (the first on ties), then pick the best of those under the rule itself.
    scores, y, log_ret, hours = _regimes()
    spec = ObjectiveSpec(
        "net_return",
        0.0,
        -0.1,
        1,
        7.0,
        strategy=strategy,
        min_hold_hours=min_hold_hours,
        vol_window_hours=24,
        max_leverage=5.0,
    )
    plain = replace(spec, min_hold_hours=1)

    def money(s: ObjectiveSpec, upper: float) -> float:
        return strategy_backtest(scores, s.rule(upper), log_ret, hours, s).total_return

    thresholds = np.unique(np.quantile(scores, np.linspace(0.05, 0.95, 49)))
    screen = np.array([money(plain, t) for t in thresholds])
    best_three = np.sort(thresholds[np.argsort(-screen, kind="stable")[:3]])
    values = [money(spec, t) for t in best_three]
    rule, value = calibrate(scores, y, log_ret, hours, spec)
    assert rule.upper == best_three[int(np.argmax(values))]
    assert value == pytest.approx(max(values), rel=1e-12)


@pytest.mark.parametrize("metric", ["f1", "up_recall"])
def test_skill_with_nothing_to_find_is_exactly_zero_or_the_false_up_rate_in_every_row(
    metric: str,
) -> None:
    # No up row at all: recall and F1 are 0/0, which must read 0 (never leftover memory).
    y = np.zeros(6)
    preds = np.zeros((100, 6), dtype=bool)
    preds[::2, 0] = True  # even rows predict up once: a false-up rate of 1/6
    want = np.where(np.arange(100) % 2 == 0, -1 / 6, 0.0) if metric == "up_recall" else 0.0
    for fill in (7.0, np.nan, -3.0):
        np.full(100, fill)  # freed at once: numpy hands its memory to the next array
        np.testing.assert_array_equal(skill(preds, y, metric), want)
