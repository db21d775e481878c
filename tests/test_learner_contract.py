"""One contract over every registered learner (as scikit-learn's ``parametrize_with_checks``):
fit returns self; one float64 score per row; the same seed gives the same scores and another
seed other scores; a save/load round trip predicts the same. Small parts and tiny models keep
the whole file to seconds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.test_ensemble_helpers import ensemble_config, make_context, make_parts
from trainer.learners import REGISTRY, build_learner, load_learner, save_learner
from trainer.learners.base import FitContext, Learner, NullReporter, SplitData
from trainer.learners.config import (
    LightGBMConfig,
    LSTMConfig,
    TransformerConfig,
    XGBoostConfig,
)

L = 8  # sequence length of the tiny sequence models


def tiny_params(name: str) -> Any:
    """Each learner's smallest sensible config; every one keeps a source of randomness
    (row/feature subsampling, bagging, weight init and shuffling) so a seed matters."""
    seq: dict[str, Any] = {"sequence_len": L, "max_epochs": 2, "batch_size": 64}
    return {
        "xgboost": lambda: XGBoostConfig(n_estimators=20, max_depth=3, early_stopping_rounds=0),
        "lightgbm": lambda: LightGBMConfig(n_estimators=20, num_leaves=7, early_stopping_rounds=0),
        "lstm": lambda: LSTMConfig(hidden_dim=8, num_layers=1, **seq),
        "transformer": lambda: TransformerConfig(
            d_model=8, num_heads=2, num_layers=1, feedforward_dim=16, **seq
        ),
        "ensemble": lambda: ensemble_config(),
    }[name]()


def parts(task: str) -> tuple[SplitData, SplitData, SplitData]:
    return make_parts(n_train=1200, n_valid=300, n_test=300, task=task)


def context(task: str, seed: int) -> FitContext:
    return replace(make_context(task), seed=seed)


def fit(name: str, task: str = "direction", seed: int = 0) -> tuple[Learner, SplitData]:
    train, valid, test = parts(task)
    learner = build_learner(tiny_params(name), context(task, seed))
    return learner.fit(train, valid, NullReporter()), test


def test_every_registered_learner_is_under_contract() -> None:
    assert set(REGISTRY) == {"xgboost", "lightgbm", "lstm", "transformer", "ensemble"}


@pytest.mark.parametrize("task", ["direction", "regression"])
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_fit_returns_self_and_predicts_one_float_per_row(name: str, task: str) -> None:
    train, valid, test = parts(task)
    learner = build_learner(tiny_params(name), context(task, 0))
    assert isinstance(learner, Learner) and learner.task == task
    assert learner.fit(train, valid, NullReporter()) is learner
    for part in (valid, test):
        scores = learner.predict(part)
        assert scores.shape == (len(part),) and scores.dtype == np.float64
        # sequence learners have no score until a window is full, then one for every row
        first = L - 1 if name in ("lstm", "transformer") else 0
        assert np.isfinite(scores[first:]).all() and np.isnan(scores[:first]).all()
        if task == "direction":
            assert ((scores[first:] >= 0) & (scores[first:] <= 1)).all()


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_same_seed_same_scores_other_seed_other_scores(name: str) -> None:
    a, test = fit(name, seed=3)
    b, _ = fit(name, seed=3)
    c, _ = fit(name, seed=4)
    np.testing.assert_array_equal(a.predict(test), b.predict(test))
    assert not np.array_equal(a.predict(test), c.predict(test), equal_nan=True)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_save_and_load_round_trip_predicts_the_same(name: str, tmp_path: Path) -> None:
    learner, test = fit(name)
    save_learner(learner, name, tmp_path)
    loaded = load_learner(tmp_path)
    assert type(loaded) is type(learner) and loaded.task == learner.task
    np.testing.assert_array_equal(loaded.predict(test), learner.predict(test))
