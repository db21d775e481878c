"""An ensemble's report puts it beside each member on the same out-of-sample hours."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.members import compare, member_thresholds_and_scores
from trainer.dataset import Table
from trainer.objective import ObjectiveSpec
from trainer.trading import Rule, positions

SPEC = ObjectiveSpec("f1", 0.0, -0.1, 1, 0.0)


def _table(n: int = 500) -> Table:
    rng = np.random.default_rng(0)
    ret = rng.normal(0, 0.01, n)
    ts = np.arange(np.datetime64("2023-01-01T00", "h"), np.datetime64("2023-01-01T00", "h") + n)
    return Table(
        X=np.zeros((n, 1)),
        feature_names=["x"],
        timestamps=ts.astype("datetime64[ns]"),
        labels={"ret_1h": ret, "dir_1h": (ret > 0).astype(float)},
        segment=np.zeros(n, dtype=np.int64),
        data_hash="h",
        source="test",
    )


def test_a_perfect_member_and_a_useless_one_are_told_apart() -> None:
    table = _table()
    rows = np.arange(100, 500)
    ret = table.labels["ret_1h"][rows]
    perfect = (ret > 0).astype(float)
    never = np.zeros(rows.size)
    half = np.full(rows.size, 0.5)
    rule = Rule(upper=0.5, lower=0.5)
    models = {
        "perfect": (perfect, half, positions(perfect, rule)),
        "never": (never, half, positions(never, rule)),
    }
    by = {r["model"]: r for r in compare(models, table, rows, SPEC)}
    assert by["perfect"]["hit_rate"] == 1.0 and by["perfect"]["up_recall"] == 1.0
    assert by["perfect"]["max_drawdown"] == 0.0 and by["perfect"]["net_return"] > 0
    assert by["perfect"]["gross_return"] == by["perfect"]["net_return"]  # no cost in SPEC
    assert by["never"]["n_trades"] == 0 and by["never"]["net_return"] == 0.0


def test_hours_a_member_cannot_score_are_left_out() -> None:
    table = _table()
    rows = np.arange(100, 500)
    scores = np.ones(rows.size)
    scores[:48] = np.nan  # a sequence member's first window is not full yet
    pos = positions(scores, Rule(upper=0.0, lower=0.0))
    (row,) = compare({"lstm": (scores, np.zeros(rows.size), pos)}, table, rows, SPEC)
    assert row["hours_scored"] == rows.size - 48
    assert row["n_trades"] == 1  # flat while unscored, then long to the end


def test_only_learners_with_members_get_member_scores() -> None:
    class Single:
        pass

    class Ensemble:
        def member_scores(self, data: str) -> dict[str, np.ndarray]:
            return {"a": np.array([0.2, 0.8]) if data == "valid" else np.array([0.9, 0.1])}

    def calibrate(valid: np.ndarray) -> tuple[Rule, object]:
        rule = Rule(upper=float(valid.mean()), lower=float(valid.mean()))
        return rule, lambda s: positions(s, rule)

    assert member_thresholds_and_scores(Single(), "valid", "test", calibrate) == {}
    out = member_thresholds_and_scores(Ensemble(), "valid", "test", calibrate)
    assert out["a"][0].upper == pytest.approx(0.5)
    np.testing.assert_array_equal(out["a"][1], [0.9, 0.1])
    np.testing.assert_array_equal(out["a"][2], [1.0, 0.0])
