"""A sweep's trials share their DMatrix and Dataset objects and still train the same models."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from omegaconf import DictConfig

from trainer.dataset import Prepared, Table
from trainer.learners.base import FitContext, NullReporter, SplitData
from trainer.learners.config import LightGBMConfig, XGBoostConfig
from trainer.learners.library_data import dmatrix, lgb_datasets
from trainer.learners.trees import LightGBMLearner, XGBoostLearner
from trainer.splits import Fold
from trainer.train import train
from trainer.trial_cache import TrialCache


def _kept_fold(n: int = 4600, seed: int = 0, cache: TrialCache | None = None) -> Prepared:
    """A fold of a small table, prepared as a sweep's trial cache keeps it."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8))
    returns = 0.01 * X[:, 0] + rng.normal(0.0, 0.01, n)
    timestamps = np.datetime64("2024-01-01T00", "ns") + np.arange(n) * np.timedelta64(1, "h")
    labels = {"ret_1h": returns, "dir_1h": (returns > 0).astype(np.float64)}
    table = Table(
        X, [f"f{i}" for i in range(8)], timestamps, labels, np.zeros(n, np.int64), "h", "t"
    )
    fold = Fold("f", slice(0, n - 1600), slice(n - 1600, n - 800), slice(n - 800, n))
    cache = cache or TrialCache()
    cache._table = ("key", table)  # as cache.table(data, features) holds a built table
    return cache.prepared(table, fold, 1, "direction", 1e-12)


def _copy(part: SplitData) -> SplitData:
    arrays = (part.X, part.y, part.returns, part.timestamps, part.segment)
    return SplitData(*(np.array(a) for a in arrays))


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
def test_trials_on_shared_parts_train_the_models_fresh_parts_would(family: str) -> None:
    fold = _kept_fold()
    first, second = TRIALS[family]
    _fit(first, fold.train, fold.valid)  # builds what the next trial re-uses
    shared = _fit(second, fold.train, fold.valid)
    fresh = _fit(second, _copy(fold.train), _copy(fold.valid))  # not kept: built afresh
    assert shared.n_rounds_ == fresh.n_rounds_
    np.testing.assert_array_equal(shared.predict(fold.valid), fresh.predict(fold.valid))


def test_only_the_parts_of_a_kept_fold_keep_their_library_objects() -> None:
    fold = _kept_fold()
    part, valid = fold.train, fold.valid
    kept = dmatrix(part, 1)
    assert dmatrix(part, 1) is kept
    assert dmatrix(part, 1, label=False) is not kept  # labels are part of the key
    assert dmatrix(part, 2) is not kept  # so is the thread count
    # an equal copy, or a sub-range a learner cuts from the part (an ensemble's meta split),
    # is another part: built every time, never kept
    copy, view = _copy(part), part.subset(slice(0, 100))
    assert dmatrix(copy, 1) is not dmatrix(copy, 1)
    assert dmatrix(view, 1) is not dmatrix(view, 1)
    # LightGBM's bins depend on its seed (data_random_seed): one Dataset per seed
    one = lgb_datasets(part, valid, seed=1)
    assert lgb_datasets(part, valid, seed=1) is one
    assert lgb_datasets(part, valid, seed=2) is not one
    # train binned against another valid part is binned again
    assert lgb_datasets(part, fold.test, seed=1) is not one
    # another trial cache (another process) has its own parts and objects
    assert dmatrix(_kept_fold().train, 1) is not kept


def test_a_run_without_a_trial_cache_builds_every_time() -> None:
    from trainer.dataset import prepare

    table = _kept_fold().table
    part = prepare(table, _kept_fold().fold, 1, "direction", 1e-12).train  # a single run's
    assert part.library is None
    assert dmatrix(part, 1) is not dmatrix(part, 1)


@pytest.mark.parametrize(
    ("family", "keep"), [("xgboost", True), ("lightgbm", True), ("xgboost", False)]
)
def test_trials_in_one_process_prepare_their_fold_and_build_their_data_once(
    compose_cfg: Callable[..., DictConfig],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    family: str,
    keep: bool,
) -> None:
    # A sweep's jobs share their process's trial cache; a single run has none.
    cache = TrialCache() if keep else None
    import lightgbm
    import xgboost

    import trainer.fit
    import trainer.trial_cache

    built = {"prepare": 0, "data": 0}

    def counting(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            built[name] += 1
            return fn(*args, **kwargs)

        return wrapped

    real_prepare = trainer.trial_cache.prepare
    monkeypatch.setattr(trainer.trial_cache, "prepare", counting("prepare", real_prepare))
    monkeypatch.setattr(trainer.fit, "prepare", counting("prepare", real_prepare))
    library = (xgboost, "DMatrix") if family == "xgboost" else (lightgbm, "Dataset")
    monkeypatch.setattr(*library, counting("data", getattr(*library)))
    objectives = []
    param = "model.max_depth={}" if family == "xgboost" else "model.num_leaves={}"
    for trial, value in enumerate((3, 5, 3) if family == "xgboost" else (8, 16, 8)):
        cfg = compose_cfg(f"model={family}", param.format(value))
        objectives.append(train(cfg, tmp_path / str(trial), cache=cache))
    trials = 1 if keep else 3
    assert built["prepare"] == trials
    # XGBoost: train and valid to fit, valid and test to predict; LightGBM: train and valid
    assert built["data"] == trials * (4 if family == "xgboost" else 2)
    assert objectives[0] == objectives[2]  # the same params on shared data: the same model
