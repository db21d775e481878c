"""A sweep's trials share their DMatrix and Dataset objects and still train the same models."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from omegaconf import DictConfig

from trainer.learners.base import FitContext, NullReporter, SplitData
from trainer.learners.config import LightGBMConfig, XGBoostConfig
from trainer.learners.library_data import dmatrix
from trainer.learners.trees import LightGBMLearner, XGBoostLearner
from trainer.train import train


def _part(n: int, seed: int, read_only: bool) -> SplitData:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8)).astype(np.float32)
    returns = 0.01 * X[:, 0] + rng.normal(0.0, 0.01, n)
    y = (returns > 0).astype(np.float64)
    timestamps = np.datetime64("2024-01-01T00") + np.arange(n).astype("timedelta64[h]")
    arrays = (X, y, returns, timestamps.astype("datetime64[ns]"), np.zeros(n, np.int64))
    for a in arrays:
        a.flags.writeable = not read_only
    return SplitData(*arrays)


Learner = XGBoostLearner | LightGBMLearner

# Two trials' params: the second one's LightGBM min_child_samples is smaller than the first's,
# which LightGBM refuses on a kept Dataset unless it was built without its pre-filter.
TRIALS: dict[str, tuple[Any, Any]] = {
    "xgboost": (
        XGBoostConfig(n_estimators=30, max_depth=3, early_stopping_rounds=0),
        XGBoostConfig(n_estimators=40, max_depth=6, learning_rate=0.2, subsample=0.7),
    ),
    "lightgbm": (
        LightGBMConfig(n_estimators=30, num_leaves=7, min_child_samples=40),
        LightGBMConfig(n_estimators=40, num_leaves=31, min_child_samples=5, bagging_fraction=0.7),
    ),
}


def _fit(params: Any, train: SplitData, valid: SplitData) -> Learner:
    ctx = FitContext(task="direction", seed=3, threads=1)
    if isinstance(params, XGBoostConfig):
        return XGBoostLearner(params, ctx).fit(train, valid, NullReporter())
    return LightGBMLearner(params, ctx).fit(train, valid, NullReporter())


@pytest.mark.parametrize("family", sorted(TRIALS))
@pytest.mark.usefixtures("keeping")
def test_trials_on_shared_parts_train_the_models_fresh_parts_would(family: str) -> None:
    train, valid = _part(3000, 0, read_only=True), _part(800, 1, read_only=True)
    first, second = TRIALS[family]
    _fit(first, train, valid)  # builds what the next trial re-uses
    shared = _fit(second, train, valid)
    copies = [SplitData(*(np.array(a) for a in vars(p).values())) for p in (train, valid)]
    assert copies[0].X.flags.writeable  # fresh arrays: fresh library objects
    fresh = _fit(second, *copies)
    assert shared.n_rounds_ == fresh.n_rounds_
    np.testing.assert_array_equal(shared.predict(valid), fresh.predict(copies[1]))


@pytest.mark.usefixtures("keeping")
def test_only_the_same_read_only_arrays_get_the_same_dmatrix() -> None:
    part = _part(200, 0, read_only=True)
    kept = dmatrix(part.X, part.y, 1)
    assert dmatrix(part.X, part.y, 1) is kept
    assert dmatrix(part.X, None, 1) is not kept  # labels are part of the key
    assert dmatrix(part.X, part.y, 2) is not kept  # so is the thread count
    assert dmatrix(np.array(part.X), part.y, 1) is not kept  # an equal copy is another array
    writable = _part(200, 0, read_only=False)
    assert dmatrix(writable.X, writable.y, 1) is not dmatrix(writable.X, writable.y, 1)


@pytest.mark.parametrize(
    ("family", "keep"), [("xgboost", True), ("lightgbm", True), ("xgboost", False)]
)
def test_trials_in_one_process_prepare_their_fold_and_build_their_data_once(
    compose_cfg: Callable[..., DictConfig],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    family: str,
    keep: bool,
) -> None:
    # A sweep's process keeps them (its warm-up turns it on); a single run keeps nothing.
    if keep:
        request.getfixturevalue("keeping")
    import lightgbm
    import xgboost

    import trainer.dataset

    built = {"prepare": 0, "data": 0}

    def counting(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            built[name] += 1
            return fn(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(trainer.dataset, "prepare", counting("prepare", trainer.dataset.prepare))
    library = (xgboost, "DMatrix") if family == "xgboost" else (lightgbm, "Dataset")
    monkeypatch.setattr(*library, counting("data", getattr(*library)))
    objectives = []
    param = "model.max_depth={}" if family == "xgboost" else "model.num_leaves={}"
    for trial, value in enumerate((3, 5, 3) if family == "xgboost" else (8, 16, 8)):
        cfg = compose_cfg(f"model={family}", param.format(value))
        objectives.append(train(cfg, tmp_path / str(trial)))
    trials = 1 if keep else 3
    assert built["prepare"] == trials
    # XGBoost: train and valid to fit, valid and test to predict; LightGBM: train and valid
    assert built["data"] == trials * (4 if family == "xgboost" else 2)
    assert objectives[0] == objectives[2]  # the same params on shared data: the same model
