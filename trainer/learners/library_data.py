"""The libraries' own data objects (XGBoost DMatrix, LightGBM Dataset), kept on the prepared
parts a sweep's trials share.

Every trial of a sweep gets the same read-only prepared parts from its
``trainer.trial_cache.TrialCache`` and only changes the learner's params, yet each built its
library's data object again: XGBoost's DMatrix and the histogram index its first ``hist``
training builds, LightGBM's binned Dataset. A shared part carries a ``library`` dict; the
objects built on it are kept there, so they live and go with the part. Re-using them gives
bit-identical models (tested). A part without one (a single run, an evaluation, a sub-range
of a part) gets a new object each time. Trials run one at a time in a process, so no two fits
ever share an object.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from trainer.learners.base import SplitData

T = TypeVar("T")


def kept(part: SplitData, key: Hashable, build: Callable[[], T]) -> T:
    """``build()``, kept on ``part`` under ``key`` when the part is shared."""
    if part.library is None:
        return build()
    if key not in part.library:
        part.library[key] = build()
    value: T = part.library[key]
    return value


def dmatrix(part: SplitData, threads: int, label: bool = True) -> Any:
    """``xgb.DMatrix(part.X, label=part.y, nthread=threads)`` (no label to predict), kept."""
    import xgboost as xgb

    y = part.y if label else None
    return kept(
        part,
        ("xgboost", threads, label),
        lambda: xgb.DMatrix(part.X, label=y, nthread=threads),
    )


# LightGBM Dataset params that change models (see lgb_datasets); a study records them, so a
# study begun with other ones is not resumed unnoticed.
LGB_DATASET_PARAMS = {"feature_pre_filter": False}


def lgb_datasets(train: SplitData, valid: SplitData, seed: int) -> tuple[Any, Any]:
    """LightGBM's (train, valid) Datasets, valid binned like train, kept per seed on train.

    The seed is LightGBM's ``data_random_seed`` too: above 200,000 rows the bins are drawn
    from a sample. ``feature_pre_filter`` off, kept or not: the filter drops the features no
    split can use under the Dataset's first ``min_data_in_leaf``, and LightGBM refuses a
    later, smaller one on a kept Dataset. Not a no-op: where a feature is unsplittable,
    ``feature_fraction`` samples among one more feature than with the filter.
    """
    import lightgbm as lgb

    def build() -> tuple[SplitData, tuple[Any, Any]]:
        # the same on both, or LightGBM warns
        params = {**LGB_DATASET_PARAMS, "seed": seed}
        dtrain = lgb.Dataset(train.X, label=train.y, free_raw_data=False, params=params)
        dvalid = lgb.Dataset(
            valid.X, label=valid.y, reference=dtrain, free_raw_data=False, params=params
        )
        return valid, (dtrain, dvalid)

    if valid.library is None:  # binned against a part that is not shared: build both
        return build()[1]
    binned_for, datasets = kept(train, ("lightgbm", seed), build)
    if binned_for is not valid:  # the same train part fitted against another valid part
        return build()[1]
    return datasets
