"""The libraries' own data objects (XGBoost DMatrix, LightGBM Dataset), kept per process for
the prepared parts a sweep's trials share.

Every trial of a sweep gets the same read-only prepared parts
(``trainer.dataset.prepare_memoised``) and only changes the learner's params, yet each built
its library's data object again: XGBoost's DMatrix and the histogram index its first ``hist``
training builds (~100 ms on six years of hourly rows), LightGBM's binned Dataset (~120 ms).
Re-using them gives bit-identical models (tested). Kept only where they can be reused: in a
process that keeps data between runs (``trainer.memo``), on its main thread (where the sweeper
runs its trials; no two fits ever share an object), for arrays of a prepared fold the process
keeps, looked up by identity (the entry holds its arrays, so an id is never reused meanwhile).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import numpy as np

from trainer.memo import Memo, keeping

T = TypeVar("T")

# XGBoost keeps four per fold (train and valid to fit, valid and test to predict), and a
# monthly walk-forward split has dozens of folds; the libraries copy the rows (XGBoost's
# DMatrix and histogram index ~2x the float32 matrix).
_MEMO: Memo[tuple[Any, Any]] = Memo(
    max_entries=256,
    max_bytes=512 << 20,
    size_of=lambda held: 2 * sum(a.nbytes for a in held[0] if a is not None),
)


def kept(arrays: tuple[np.ndarray | None, ...], key: Hashable, build: Callable[[], T]) -> T:
    """``build()``, re-used while the same prepared arrays and key come back."""
    if not _reusable(arrays):
        return build()
    ids = (key, *(id(a) for a in arrays))
    held: tuple[Any, T] = _MEMO.get(ids, lambda: (arrays, build()))
    return held[1]


def forget() -> None:
    """Drop every kept object (the prepared folds they were built from are gone)."""
    _MEMO.clear()


def _reusable(arrays: tuple[np.ndarray | None, ...]) -> bool:
    if not keeping() or threading.current_thread() is not threading.main_thread():
        return False
    from trainer.dataset import kept_arrays

    shared = kept_arrays()
    return all(a is None or id(a) in shared for a in arrays)


def dmatrix(X: np.ndarray, y: np.ndarray | None, threads: int) -> Any:
    """``xgb.DMatrix(X, label=y, nthread=threads)``, kept."""
    import xgboost as xgb

    return kept((X, y), ("xgboost", threads), lambda: xgb.DMatrix(X, label=y, nthread=threads))


# LightGBM Dataset params that change models (see lgb_datasets); a study records them, so a
# study begun with other ones is not resumed unnoticed.
LGB_DATASET_PARAMS = {"feature_pre_filter": False}


def lgb_datasets(
    X: np.ndarray, y: np.ndarray, X_valid: np.ndarray, y_valid: np.ndarray, seed: int
) -> tuple[Any, Any]:
    """LightGBM's (train, valid) Datasets, valid binned like train, kept per seed.

    The seed is LightGBM's ``data_random_seed`` too: above 200,000 rows the bins are drawn
    from a sample. ``feature_pre_filter`` off, kept or not: the filter drops the features no
    split can use under the Dataset's first ``min_data_in_leaf``, and LightGBM refuses a
    later, smaller one on a kept Dataset. Not a no-op: where a feature is unsplittable,
    ``feature_fraction`` samples among one more feature than with the filter.
    """
    import lightgbm as lgb

    def build() -> tuple[Any, Any]:
        # the same on both, or LightGBM warns
        params = {**LGB_DATASET_PARAMS, "seed": seed}
        train = lgb.Dataset(X, label=y, free_raw_data=False, params=params)
        valid = lgb.Dataset(
            X_valid, label=y_valid, reference=train, free_raw_data=False, params=params
        )
        return train, valid

    return kept((X, y, X_valid, y_valid), ("lightgbm", seed), build)
