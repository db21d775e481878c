"""The ensemble learner on synthetic parts: contract, out-of-sample fitting, NaN alignment,
save/load. Members are tiny trees (and stand-ins for sequence learners), so this runs in seconds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import RecordingReporter
from tests.test_ensemble_helpers import (
    TINY_TREES,
    WindowStub,
    ensemble_config,
    make_context,
    make_parts,
)
from trainer.errors import UserError
from trainer.learners import REGISTRY, build_learner, load_learner, save_learner
from trainer.learners.base import Learner, NullReporter, SplitData
from trainer.learners.config import MemberConfig
from trainer.learners.ensemble import EnsembleLearner, meta_parts

COMBINERS = [
    {"method": "stacking", "meta_learner": "logistic"},
    {"method": "stacking", "meta_learner": "tree"},
    {"method": "blending"},
]


def fitted(
    task: str = "direction", **kwargs: object
) -> tuple[EnsembleLearner, tuple[SplitData, ...]]:
    parts = make_parts(task=task)
    learner = EnsembleLearner(ensemble_config(**kwargs), make_context(task))
    return learner.fit(parts[0], parts[1], NullReporter()), parts


@pytest.mark.parametrize("combiner", COMBINERS, ids=lambda c: "-".join(c.values()))
@pytest.mark.parametrize("task", ["direction", "regression"])
def test_ensemble_fits_and_predicts_one_finite_score_per_row(
    combiner: dict[str, str], task: str
) -> None:
    parts = make_parts(task=task)
    learner = build_learner(ensemble_config(**combiner), make_context(task))
    assert isinstance(learner, Learner)
    assert learner.fit(parts[0], parts[1], NullReporter()) is learner
    for part in parts:
        scores = learner.predict(part)
        assert scores.shape == (len(part),) and scores.dtype == np.float64
        assert np.isfinite(scores).all()
    if task == "direction":
        assert ((scores >= 0) & (scores <= 1)).all()


def test_blending_weights_are_non_negative_and_sum_to_one() -> None:
    learner, _ = fitted(method="blending")
    weights = np.array(list(learner.summary()["weights"].values()))
    assert (weights >= 0).all() and weights.sum() == pytest.approx(1.0, abs=1e-12)


def test_stacking_beats_a_coin_on_held_out_rows() -> None:
    learner, (_, _, test) = fitted(method="stacking", meta_learner="logistic")
    scores = learner.predict(test)
    from trainer.objective import auc

    assert auc(scores, test.returns > 0) > 0.6  # f0 carries real signal in the fixture


def test_members_fit_before_the_combiner_rows_with_an_embargo() -> None:
    train, _, _ = make_parts()
    part_a, part_b = meta_parts(train, 0.25, horizon=4)
    assert part_a.timestamps[-1] + np.timedelta64(4, "h") < part_b.timestamps[0]
    assert len(part_b) == len(train) - int(len(train) * 0.75)
    assert part_b.timestamps[-1] == train.timestamps[-1]


def test_combiner_is_fitted_inside_train_only() -> None:
    learner, (train, valid, _) = fitted()
    first, last, n = learner.summary()["meta_rows"].values()
    _, part_b = meta_parts(train, learner.params.meta_fraction, 1)
    assert np.datetime64(first) == part_b.timestamps[0]
    assert np.datetime64(last) == train.timestamps[-1] < valid.timestamps[0]
    assert n == len(part_b)


def test_changing_valid_and_test_labels_never_changes_the_combiner() -> None:
    # members do not stop early here (TINY_TREES), so valid is not read at all
    parts = make_parts()
    flipped = [replace(p, y=1.0 - p.y, returns=-p.returns) for p in parts[1:]]
    weights = []
    for valid in (parts[1], flipped[0]):
        learner = EnsembleLearner(ensemble_config(), make_context()).fit(
            parts[0], valid, NullReporter()
        )
        weights.append(learner.combiner_.weights)
    np.testing.assert_array_equal(weights[0], weights[1])


def test_reports_the_validation_objective_once_after_fitting() -> None:
    parts = make_parts()
    reporter = RecordingReporter()
    ctx = make_context()
    learner = EnsembleLearner(ensemble_config(), ctx).fit(parts[0], parts[1], reporter)
    assert ctx.score is not None
    expected = ctx.score(learner.predict(parts[1]), parts[1])
    assert reporter.values == [(1, pytest.approx(expected))]


@pytest.mark.parametrize("combiner", COMBINERS, ids=lambda c: "-".join(c.values()))
def test_save_and_load_predict_identically(combiner: dict[str, str], tmp_path: Path) -> None:
    learner, (_, _, test) = fitted(**combiner)
    save_learner(learner, "ensemble", tmp_path / "model")
    assert (tmp_path / "model" / "members" / "xgb" / "model.ubj").is_file()
    assert (tmp_path / "model" / "members" / "lgbm" / "model.txt").is_file()
    loaded = load_learner(tmp_path / "model")
    assert isinstance(loaded, EnsembleLearner)
    np.testing.assert_array_equal(loaded.predict(test), learner.predict(test))
    for name, scores in learner.member_scores(test).items():
        np.testing.assert_array_equal(loaded.member_scores(test)[name], scores)
    assert not list((tmp_path / "model").rglob("*.pkl"))


def test_member_scores_name_every_member_in_config_order() -> None:
    learner, (_, _, test) = fitted()
    scores = learner.member_scores(test)
    assert list(scores) == ["xgb", "lgbm"]
    assert all(s.shape == (len(test),) for s in scores.values())


def test_use_selects_which_members_are_combined() -> None:
    learner, (_, _, test) = fitted(use="lgbm")
    assert list(learner.member_scores(test)) == ["lgbm"]


def with_window_stubs(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("lstm", "transformer"):
        monkeypatch.setitem(REGISTRY, name, ("tests.test_ensemble_helpers", "WindowStub"))


def test_predicts_only_where_every_member_can(monkeypatch: pytest.MonkeyPatch) -> None:
    with_window_stubs(monkeypatch)
    members = [
        MemberConfig(name="xgb", model="xgboost", overrides=TINY_TREES),
        MemberConfig(name="short", model="lstm", overrides={"sequence_len": "10"}),
        MemberConfig(name="long", model="transformer", overrides={"sequence_len": "30"}),
    ]
    parts = make_parts()
    learner = EnsembleLearner(ensemble_config(members), make_context())
    learner.fit(parts[0], parts[1], NullReporter())
    for part in parts:
        scores = learner.predict(part)
        assert np.isnan(scores[:29]).all() and np.isfinite(scores[29:]).all()
        assert np.isfinite(learner.member_scores(part)["short"][9:]).all()
    _, part_b = meta_parts(parts[0], 0.25, 1)
    assert learner.summary()["meta_rows"]["n"] == len(part_b) - 29


def test_sequence_members_fit_on_the_members_part_only(monkeypatch: pytest.MonkeyPatch) -> None:
    with_window_stubs(monkeypatch)
    members = [MemberConfig(name="seq", model="lstm", overrides={"sequence_len": "5"})]
    parts = make_parts()
    learner = EnsembleLearner(ensemble_config(members), make_context())
    learner.fit(parts[0], parts[1], NullReporter())
    stub = learner.members_[0].learner
    assert isinstance(stub, WindowStub)
    part_a, _ = meta_parts(parts[0], 0.25, 1)
    assert stub.fitted_until_ == part_a.timestamps[-1]


def test_too_small_a_combiner_part_is_a_clear_error() -> None:
    parts = make_parts(n_train=300)
    learner = EnsembleLearner(ensemble_config(meta_fraction=0.1), make_context())
    with pytest.raises(UserError, match=r"model\.meta_fraction=0\.1.*at least"):
        learner.fit(parts[0], parts[1], NullReporter())


def test_a_real_lstm_member_combines_with_a_tree() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("trainer.learners.sequence")
    members = [
        MemberConfig(name="xgb", model="xgboost", overrides=TINY_TREES),
        MemberConfig(
            name="lstm",
            model="lstm",
            overrides={
                "max_epochs": "1",
                "sequence_len": "8",
                "hidden_dim": "8",
                "num_layers": "1",
                "batch_size": "128",
            },
        ),
    ]
    learner, (_, _, test) = fitted(members=members)
    scores = learner.predict(test)
    assert np.isnan(scores[:7]).all() and np.isfinite(scores[7:]).all()
