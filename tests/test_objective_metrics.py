"""Every reported metric on a six-hour example worked out by hand, and the edge cases of the
objective's helpers (a class absent, a score exactly at the threshold, no score at all)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from trainer.objective import (
    ObjectiveSpec,
    always_up_f1,
    auc,
    calibrate,
    candidate_thresholds,
    metrics,
    objective_at,
    skill,
)
from trainer.trading import Rule, positions

SCORES = np.array([0.9, 0.2, 0.8, 0.4, 0.7, 0.1])
Y_UP = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.0])
LOG_RET = np.array([0.01, -0.02, -0.01, 0.03, 0.02, -0.01])
HOURS = np.arange(6)
SPEC = ObjectiveSpec(
    metric="f1", drawdown_penalty=1.0, drawdown_limit=-0.10, horizon=1, cost_bps=10.0
)


def _by_hand() -> dict[str, float]:
    # long where score > 0.5: rows 0, 2, 4; each entry and exit pays 10 bps
    pos = np.array([1.0, 0, 1, 0, 1, 0])
    net = pos * np.expm1(LOG_RET) - 0.001
    equity = np.cumprod(np.r_[1.0, 1.0 + net])
    drawdown = min(e / max(equity[: i + 1]) - 1.0 for i, e in enumerate(equity))
    return {
        "cum_return": float(np.prod(1.0 + net) - 1.0),
        "max_drawdown": drawdown,
        "sharpe": float(net.mean() / net.std(ddof=1) * np.sqrt(24 * 365)),
    }


def test_metrics_of_a_worked_example() -> None:
    m = metrics(SCORES, SPEC.rule(0.5), Y_UP, LOG_RET, HOURS, SPEC)
    hand = _by_hand()
    # TP rows 0 and 4, FP row 2, FN row 3, TN rows 1 and 5
    assert m["f1_up"] == pytest.approx(2 / 3)
    assert m["up_recall"] == pytest.approx(2 / 3)
    assert m["precision_up"] == pytest.approx(2 / 3)
    assert m["hit_rate"] == pytest.approx(2 / 3)  # held rows 0, 2, 4: up, down, up
    assert m["n_trades"] == 3
    assert m["auc"] == pytest.approx(7 / 9)  # 7 of the 9 (up, down) pairs ranked right
    assert m["cum_return"] == pytest.approx(hand["cum_return"])
    assert m["max_drawdown"] == pytest.approx(hand["max_drawdown"])
    assert m["sharpe"] == pytest.approx(hand["sharpe"])
    # half the rows are up and half predicted up: chance F1 = 0.5, skill = (2/3 - 0.5) / 0.5
    assert m["skill"] == pytest.approx(1 / 3)
    assert m["objective"] == pytest.approx(1 / 3)  # drawdown within the limit: no penalty
    assert m["baseline_f1_up"] == pytest.approx(2 / 3)
    assert m["buy_and_hold_return"] == pytest.approx(np.expm1(0.02))
    assert m["n_rows"] == 6
    assert "rmse" not in m and "ic" not in m


def test_metrics_ignore_rows_without_a_score() -> None:
    scores = np.r_[SCORES, np.nan]
    m = metrics(
        scores, SPEC.rule(0.5), np.r_[Y_UP, 1.0], np.r_[LOG_RET, 0.5], np.r_[HOURS, 6], SPEC
    )
    assert m == metrics(SCORES, SPEC.rule(0.5), Y_UP, LOG_RET, HOURS, SPEC)


def test_regression_metrics_add_rmse_and_rank_correlation() -> None:
    preds = LOG_RET * 0.5 + np.array([0.001, 0, 0, 0, 0, 0])
    m = metrics(preds, SPEC.rule(0.0), Y_UP, LOG_RET, HOURS, SPEC, regression=True)
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean((preds - LOG_RET) ** 2)))
    assert m["ic"] == pytest.approx(1.0)  # the same order as the returns


def test_drawdown_beyond_the_limit_lowers_the_objective_by_the_penalty() -> None:
    spec = replace(SPEC, drawdown_limit=-0.001, drawdown_penalty=0.5)
    m = metrics(SCORES, spec.rule(0.5), Y_UP, LOG_RET, HOURS, spec)
    assert m["max_drawdown"] < -0.001
    assert m["objective"] == pytest.approx(m["skill"] - 0.5 * (-0.001 - m["max_drawdown"]))


def test_the_two_skills_differ_where_they_should() -> None:
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0], dtype=float)
    pred = np.array([1, 1, 0, 1, 1, 0, 0, 0], dtype=bool)
    # recall 2/3 - false-up rate 2/5
    assert skill(pred, y, "up_recall") == pytest.approx(2 / 3 - 2 / 5)
    # F1 4/7 against chance 2pq/(p+q) with p = 3/8, q = 1/2
    chance = 2 * 3 / 8 * 0.5 / (3 / 8 + 0.5)
    assert skill(pred, y, "f1") == pytest.approx((4 / 7 - chance) / (1 - chance))


def test_skill_scores_each_row_of_a_prediction_matrix() -> None:
    y = np.array([1, 1, 0, 0], dtype=float)
    preds = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 1, 1]], dtype=bool)
    np.testing.assert_allclose(skill(preds, y, "up_recall"), [1.0, 0.0, -1.0])


def test_nothing_to_find_scores_zero_not_nan() -> None:
    never = np.zeros(4, dtype=bool)
    assert skill(never, np.zeros(4), "up_recall") == 0.0
    assert skill(never, np.zeros(4), "f1") == 0.0
    assert always_up_f1(np.zeros(4)) == 0.0
    assert always_up_f1(np.array([])) == 0.0
    assert always_up_f1(np.array([1.0, 0.0])) == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("scores", "y", "expected"),
    [
        ([0.3, 0.9], [1, 1], 0.5),  # no down rows
        ([0.3, 0.9], [0, 0], 0.5),  # no up rows
        ([0.1, 0.2, 0.9], [0, 0, 1], 1.0),  # a single up row, ranked first
        ([0.1, 0.8, 0.9], [0, 1, 1], 1.0),  # a single down row, ranked last
        ([0.9, 0.8, 0.1], [0, 1, 1], 0.0),
    ],
)
def test_auc_edge_cases(scores: list[float], y: list[int], expected: float) -> None:
    assert auc(np.array(scores), np.array(y, dtype=float)) == pytest.approx(expected)


def test_a_score_at_the_threshold_is_not_a_long() -> None:
    scores = np.array([0.4, 0.5, 0.6])
    long_only = positions(scores, Rule(upper=0.5, lower=0.5))
    assert long_only.dtype == np.float64 and long_only.tolist() == [0.0, 0.0, 1.0]
    short = Rule(upper=0.5, lower=0.5, allow_short=True)
    assert positions(scores, short).tolist() == [-1, -1, 1]


def test_candidate_thresholds_are_n_quantiles_within_the_range() -> None:
    t = candidate_thresholds(np.arange(1001.0), 7, (0.2, 0.8))
    np.testing.assert_allclose(t, np.linspace(200, 800, 7))


def test_objective_at_refuses_scores_that_are_not_finite() -> None:
    with pytest.raises(ValueError, match=r"^objective_at: scores must be finite"):
        objective_at(np.r_[SCORES, np.nan], Y_UP, LOG_RET, HOURS, np.array([0.5]), SPEC)


def test_calibrate_ignores_unscored_rows_and_uses_the_specs_quantile_range() -> None:
    rng = np.random.default_rng(0)
    n = 400
    ret = rng.normal(0, 0.01, n)
    y = (ret > 0).astype(float)
    scores = 1 / (1 + np.exp(-(ret * 100 + rng.normal(0, 1, n))))
    hours = np.arange(n) % 24
    spec = replace(SPEC, horizon=4, drawdown_penalty=0.5, quantile_range=(0.3, 0.7))
    rule, value = calibrate(scores, y, ret, hours, spec)
    thresholds = candidate_thresholds(scores, spec.n_thresholds, (0.3, 0.7))
    values = objective_at(scores, y, ret, hours, thresholds, spec)
    assert (rule.upper, value) == (float(thresholds[np.argmax(values)]), float(values.max()))
    best = (rule, value)
    with_gaps = calibrate(
        np.r_[np.nan, scores], np.r_[1.0, y], np.r_[0.0, ret], np.r_[23, hours], spec
    )
    assert with_gaps == best


def test_calibrate_with_one_score_or_none() -> None:
    rule, value = calibrate(np.array([np.nan]), Y_UP[:1], LOG_RET[:1], HOURS[:1], SPEC)
    assert (rule.upper, value) == (0.5, float("-inf"))
    rule, value = calibrate(SCORES[:1], Y_UP[:1], LOG_RET[:1], HOURS[:1], SPEC)
    assert rule.upper == pytest.approx(0.9) and np.isfinite(value)


@pytest.mark.parametrize(
    ("y", "scores", "expected"),
    [
        # TP 1, FN 1, FP 0
        ([1, 1], [0.9, 0.1], {"f1_up": 2 / 3, "up_recall": 0.5, "precision_up": 1.0}),
        # TP 1, FN 0, FP 1
        ([1, 0], [0.9, 0.8], {"f1_up": 2 / 3, "up_recall": 1.0, "precision_up": 0.5}),
        # nothing up, nothing predicted up, nothing traded
        (
            [0, 0],
            [0.1, 0.2],
            {"f1_up": 0.0, "up_recall": 0.0, "precision_up": 0.0, "hit_rate": 0.0},
        ),
    ],
)
def test_classification_metrics_of_small_confusions(
    y: list[int], scores: list[float], expected: dict[str, float]
) -> None:
    m = metrics(
        np.array(scores),
        SPEC.rule(0.5),
        np.array(y, float),
        np.array([0.01, -0.01]),
        HOURS[:2],
        SPEC,
    )
    assert {k: m[k] for k in expected} == pytest.approx(expected)


def test_the_metrics_skill_uses_the_specs_metric() -> None:
    # all rows up, half predicted up: F1 skill 0 (chance does as well), up-recall skill 1/2
    y, scores = np.array([1.0, 1.0]), np.array([0.9, 0.1])
    args = (np.array([0.01, 0.02]), HOURS[:2])
    assert metrics(scores, SPEC.rule(0.5), y, *args, SPEC)["skill"] == pytest.approx(0.0)
    up_recall = replace(SPEC, metric="up_recall")
    assert metrics(scores, up_recall.rule(0.5), y, *args, up_recall)["skill"] == pytest.approx(0.5)


def test_a_score_at_the_threshold_is_not_an_up_prediction_in_the_metrics() -> None:
    m = metrics(
        np.array([0.5, 0.9]), SPEC.rule(0.5), np.array([1.0, 1.0]), LOG_RET[:2], HOURS[:2], SPEC
    )
    assert m["up_recall"] == pytest.approx(0.5) and m["precision_up"] == 1.0


def test_a_held_hour_that_did_not_move_is_not_a_hit() -> None:
    m = metrics(
        np.array([0.9, 0.9]),
        SPEC.rule(0.5),
        np.array([1.0, 0.0]),
        np.array([0.01, 0.0]),
        HOURS[:2],
        SPEC,
    )
    assert m["hit_rate"] == pytest.approx(0.5)


def test_four_hour_sharpe_is_annualised_over_decisions_not_hours() -> None:
    rng = np.random.default_rng(2)
    ret = rng.normal(0, 0.01, 48)
    spec = replace(SPEC, horizon=4)
    m = metrics(
        np.full(48, 0.9), spec.rule(0.5), (ret > 0).astype(float), ret, np.arange(48) % 24, spec
    )
    net = np.expm1(ret[::4])
    net[0] -= 0.001  # the entry's cost; the position is then held throughout
    assert m["sharpe"] == pytest.approx(net.mean() / net.std(ddof=1) * np.sqrt(24 * 365 / 4))


@pytest.mark.parametrize(
    ("preds", "ic"),
    [
        ([0.1, 0.2, 0.3], 1.0),  # three rows are enough to rank
        ([0.3, 0.2, 0.1], -1.0),
        ([0.2, 0.2, 0.2], 0.0),  # no ranking at all: 0, not NaN
        ([0.1, 0.2], 0.0),  # two rows are too few
    ],
)
@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")
def test_information_coefficient_is_the_rank_correlation(preds: list[float], ic: float) -> None:
    n = len(preds)
    ret = np.array([0.01, 0.02, 0.03])[:n]
    m = metrics(
        np.array(preds), SPEC.rule(0.0), (ret > 0).astype(float), ret, HOURS[:n], SPEC, True
    )
    assert m["ic"] == pytest.approx(ic)


def test_objective_at_charges_any_positive_drawdown_penalty() -> None:
    thresholds = np.array([0.5])
    free = objective_at(SCORES, Y_UP, LOG_RET, HOURS, thresholds, replace(SPEC, drawdown_penalty=0))
    spec = replace(SPEC, drawdown_limit=-0.001, drawdown_penalty=0.5)
    charged = objective_at(SCORES, Y_UP, LOG_RET, HOURS, thresholds, spec)
    assert charged[0] < free[0]
