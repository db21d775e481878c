"""The objective rewards skill, never the degenerate always-up model."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import trainer.objective as objective_module
from trainer.objective import (
    ObjectiveSpec,
    always_up_f1,
    auc,
    calibrate,
    candidate_rules,
    candidate_thresholds,
    metrics,
    objective_at,
    skill,
    strategy_backtest,
)
from trainer.trading import backtest, max_drawdown

SPEC = ObjectiveSpec(
    metric="f1", drawdown_penalty=0.0, drawdown_limit=-0.10, horizon=1, cost_bps=0.0
)


def _market(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    returns = rng.normal(0.0002, 0.01, n)
    y_up = (returns > 0).astype(float)
    hours = np.arange(n) % 24
    return returns, y_up, hours


@pytest.mark.parametrize("metric", ["f1", "up_recall"])
def test_always_up_predictions_score_zero_skill(metric: str) -> None:
    _, y_up, _ = _market()
    pred = np.ones_like(y_up, dtype=bool)
    assert skill(pred, y_up, metric) == pytest.approx(0.0, abs=1e-12)


def test_always_up_f1_matches_its_closed_form() -> None:
    y = np.array([1, 1, 0, 1, 0, 0, 1, 1], dtype=float)
    tp, fp = 5, 3
    assert always_up_f1(y) == pytest.approx(2 * tp / (2 * tp + fp))


def test_perfect_predictions_score_full_skill() -> None:
    _, y_up, _ = _market()
    assert skill(y_up.astype(bool), y_up, "f1") == pytest.approx(1.0)
    assert skill(y_up.astype(bool), y_up, "up_recall") == pytest.approx(1.0)


def test_calibration_on_noise_does_not_choose_to_be_long_all_the_time() -> None:
    returns, y_up, hours = _market()
    noise = np.random.default_rng(1).random(returns.size)
    _, value = calibrate(noise, y_up, returns, hours, SPEC)
    # no threshold on pure noise reaches real skill; always-up would score exactly 0
    assert value < 0.05


def test_informative_scores_get_positive_skill_and_auc() -> None:
    returns, y_up, hours = _market()
    scores = y_up + np.random.default_rng(2).normal(0, 1.0, y_up.size)
    rule, value = calibrate(scores, y_up, returns, hours, SPEC)
    assert value > 0.1
    m = metrics(scores, rule, y_up, returns, hours, SPEC)
    assert m["auc"] > 0.6
    assert m["objective"] == pytest.approx(value)


def test_drawdown_beyond_the_limit_is_penalised() -> None:
    returns, y_up, hours = _market()
    scores = np.ones_like(returns) + np.random.default_rng(3).normal(0, 1e-3, returns.size)
    pen = ObjectiveSpec("f1", 1.0, -0.01, 1, 0.0)
    m0 = metrics(scores, SPEC.rule(0.0), y_up, returns, hours, SPEC)
    m1 = metrics(scores, pen.rule(0.0), y_up, returns, hours, pen)
    assert m1["max_drawdown"] < -0.01
    assert m1["objective"] == pytest.approx(m0["objective"] - (-0.01 - m1["max_drawdown"]))


def test_auc_is_half_for_a_constant_score_and_one_for_a_perfect_ranking() -> None:
    y = np.array([0, 1, 0, 1, 1, 0], dtype=float)
    assert auc(np.zeros(6), y) == pytest.approx(0.5)
    assert auc(y * 2.0, y) == pytest.approx(1.0)


def test_costs_are_charged_on_every_change_of_position() -> None:
    pos = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    ret = np.zeros(5)
    net = backtest(pos, ret, cost_bps=10.0).net
    assert net.tolist() == pytest.approx([0.0, -1e-3, 0.0, -1e-3, -1e-3])


def test_max_drawdown_of_a_fall_and_recovery() -> None:
    net = np.array([0.1, -0.5, 0.2])
    assert max_drawdown(net) == pytest.approx(-0.5)
    assert max_drawdown(np.array([0.01, 0.02])) == 0.0


def test_four_hour_strategy_decides_every_fourth_hour_only() -> None:
    returns, y_up, hours = _market(96)
    spec = ObjectiveSpec("f1", 0.0, -0.35, 4, 0.0)
    m = metrics(np.ones(96), spec.rule(0.5), y_up, returns, hours, spec)
    # always long: one round trip held for the 24 decision periods of 4 hours
    assert (m["n_trades"], m["avg_hold_hours"], m["exposure"]) == (1, 96.0, 1.0)
    signed = returns[hours % 4 == 0]
    assert m["hit_rate"] == pytest.approx(np.mean(signed > 0))


def test_rankdata_matches_scipy_with_ties() -> None:
    from scipy.stats import rankdata as scipy_rankdata

    from trainer.objective import rankdata

    x = np.random.default_rng(4).integers(0, 20, 500).astype(float)
    np.testing.assert_allclose(rankdata(x), scipy_rankdata(x))


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_random_guessing_at_any_rate_scores_about_zero_f1_skill(rate: float) -> None:
    _, y_up, _ = _market(200_000, seed=5)
    guess = np.random.default_rng(6).random(y_up.size) < rate
    assert skill(guess, y_up, "f1") == pytest.approx(0.0, abs=0.01)


def test_a_selective_informed_model_beats_a_nearly_always_up_one() -> None:
    # the trap: on weak signals a raw (or always-up-relative) F1 prefers being long ~always
    _, y_up, _ = _market(200_000, seed=7)
    rng = np.random.default_rng(8)
    informed = y_up + rng.normal(0, 4.0, y_up.size)  # weak, real signal
    selective = informed > np.quantile(informed, 0.7)  # long 30% of the time
    nearly_always = informed > np.quantile(informed, 0.03)  # long 97% of the time
    assert skill(selective, y_up, "f1") > skill(nearly_always, y_up, "f1") > 0


def _objective_one_threshold_at_a_time(
    scores: np.ndarray,
    y_up: np.ndarray,
    returns: np.ndarray,
    hours: np.ndarray,
    uppers: np.ndarray,
    lowers: np.ndarray,
    spec: ObjectiveSpec,
) -> np.ndarray:
    """The objective's definition: skill or the strategy's money, less its drawdown penalty,
    each candidate rule on its own through the one backtest."""
    out = []
    for upper, lower in zip(uppers, lowers, strict=True):
        bt = strategy_backtest(scores, spec.rule(upper, lower), returns, hours, spec)
        if spec.metric == "net_sharpe":
            value = bt.sharpe
        elif spec.metric == "net_return":
            value = bt.total_return
        else:
            value = float(skill(scores > upper, y_up, spec.metric))
        if spec.drawdown_penalty > 0:
            value -= spec.drawdown_penalty * max(0.0, spec.drawdown_limit - bt.max_drawdown)
        out.append(value)
    return np.array(out)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 300),
    seed=st.integers(0, 2**32 - 1),
    metric=st.sampled_from(["f1", "up_recall", "net_sharpe", "net_return"]),
    strategy=st.sampled_from(["threshold", "hysteresis", "vol_target"]),
    min_hold_hours=st.sampled_from([1, 8]),
    horizon=st.sampled_from([1, 4]),
    allow_short=st.booleans(),
    cost_bps=st.sampled_from([0.0, 7.5]),
    coarse=st.booleans(),
    block_cells=st.sampled_from([1, 64, 1 << 15]),
)
def test_rule_objectives_equal_scoring_each_rule_on_its_own(
    n: int,
    seed: int,
    metric: str,
    strategy: str,
    min_hold_hours: int,
    horizon: int,
    allow_short: bool,
    cost_bps: float,
    coarse: bool,
    block_cells: int,
) -> None:
    # Calibration scores every candidate threshold at once (counts from sorted scores,
    # drawdowns in blocks): each value must be exactly the one-threshold computation,
    # ties between scores and thresholds included (coarse scores repeat).
    rng = np.random.default_rng(seed)
    returns = rng.normal(0.0, 0.03, n)
    y_up = (returns > 0).astype(float)
    hours = (np.arange(n) + int(rng.integers(24))) % 24
    scores = rng.integers(0, 5, n).astype(float) if coarse else rng.random(n)
    spec = ObjectiveSpec(
        metric,
        2.0,
        -0.05,
        horizon,
        cost_bps,
        allow_short,
        strategy=strategy,
        bands=(0.0, 0.1, 0.3),
        min_hold_hours=min_hold_hours,
        vol_window_hours=24,
    )
    uppers, lowers = candidate_rules(scores, spec) if n else (np.array([0.5]),) * 2
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(objective_module, "_BLOCK_CELLS", block_cells)
        got = objective_at(scores, y_up, returns, hours, uppers, spec, lowers)
    want = _objective_one_threshold_at_a_time(scores, y_up, returns, hours, uppers, lowers, spec)
    if metric == "net_sharpe":  # a mean and a deviation summed in another order
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    else:
        np.testing.assert_array_equal(got, want)


def test_scoring_thresholds_refuses_scores_that_are_not_finite() -> None:
    # calibrate drops rows without a score first; objective_at itself would count NaN as up
    returns, y_up, hours = _market(50)
    scores = np.linspace(0.0, 1.0, 50)
    scores[3] = np.nan
    with pytest.raises(ValueError, match="finite"):
        objective_at(scores, y_up, returns, hours, np.array([0.5]), SPEC)


@pytest.mark.parametrize(
    ("strategy", "min_hold_hours"), [("hysteresis", 1), ("threshold", 8), ("hysteresis", 4)]
)
def test_a_rule_with_memory_is_calibrated_among_the_best_plain_thresholds(
    strategy: str, min_hold_hours: int
) -> None:
    returns, y_up, hours = _market(3000, seed=4)
    scores = returns * 0.3 + np.random.default_rng(2).normal(0, 0.01, returns.size)
    spec = ObjectiveSpec(
        "net_sharpe",
        1.0,
        -0.1,
        1,
        7.0,
        strategy=strategy,
        bands=(0.05, 0.2) if strategy == "hysteresis" else (0.0,),
        min_hold_hours=min_hold_hours,
    )
    rule, value = calibrate(scores, y_up, returns, hours, spec)
    # the value reported is the chosen rule's own objective
    own = objective_at(
        scores, y_up, returns, hours, np.array([rule.upper]), spec, np.array([rule.lower])
    )
    assert value == own[0]
    assert rule.min_hold == min_hold_hours and rule.name == strategy
    if strategy == "hysteresis":
        assert rule.lower < rule.upper
    # its entry threshold is one of the plain rule's best few
    plain = ObjectiveSpec("net_sharpe", 1.0, -0.1, 1, 7.0)
    thresholds = candidate_thresholds(scores, 49)
    screen = objective_at(scores, y_up, returns, hours, thresholds, plain)
    best_few = thresholds[np.argsort(-screen, kind="stable")[: objective_module.SCREENED]]
    assert rule.upper in best_few
