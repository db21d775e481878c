"""The libraries' own data objects (XGBoost DMatrix, LightGBM Dataset), kept per process for
the arrays a sweep's trials share.

Every trial of a sweep gets the same read-only prepared parts
(``trainer.dataset.prepare_memoised``) and only changes the learner's params, yet each built
its library's data object again: XGBoost's DMatrix and the histogram index its first ``hist``
training builds (~100 ms on six years of hourly rows), LightGBM's binned Dataset (~120 ms).
Re-using them gives bit-identical models (tested). Keyed by the arrays' identity, not their
content: only read-only arrays are kept (prepared parts are read-only views of the scaled
matrix and of the memoised table, which nothing writes to), and holding them keeps their ids
from being reused.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import numpy as np

from trainer.memo import Memo

T = TypeVar("T")

_local = threading.local()  # concurrent threads never share a library object


def kept(arrays: tuple[np.ndarray | None, ...], key: Hashable, build: Callable[[], T]) -> T:
    """``build()``, re-used while the same read-only arrays and key come back."""
    if any(a is not None and a.flags.writeable for a in arrays):
        return build()
    # The arrays' ids are unique while an entry lives: the entry holds the arrays.
    ids = (key, *(id(a) for a in arrays))
    held: tuple[Any, T] = _memo().get(ids, lambda: (arrays, build()))
    return held[1]


def _memo() -> Memo[tuple[Any, Any]]:
    if not hasattr(_local, "memo"):
        # XGBoost keeps four per fold (train and valid to fit, valid and test to predict),
        # and a walk-forward split has twelve folds; the libraries copy the rows (XGBoost's
        # DMatrix and histogram index ~2x the float32 matrix).
        _local.memo = Memo(
            max_entries=64,
            max_bytes=512 << 20,
            size_of=lambda held: 2 * sum(a.nbytes for a in held[0] if a is not None),
        )
    memo: Memo[tuple[Any, Any]] = _local.memo
    return memo


def dmatrix(X: np.ndarray, y: np.ndarray | None, threads: int) -> Any:
    """``xgb.DMatrix(X, label=y, nthread=threads)``, kept."""
    import xgboost as xgb

    return kept((X, y), ("xgboost", threads), lambda: xgb.DMatrix(X, label=y, nthread=threads))


def lgb_datasets(
    X: np.ndarray, y: np.ndarray, X_valid: np.ndarray, y_valid: np.ndarray
) -> tuple[Any, Any]:
    """LightGBM's (train, valid) Datasets, valid binned like train, kept.

    ``feature_pre_filter`` off: the filter drops features no split can use under the
    Dataset's first ``min_data_in_leaf``, and LightGBM refuses a later, smaller one on a kept
    Dataset; the features it drops never make a split, so models are the same without it.
    """
    import lightgbm as lgb

    def build() -> tuple[Any, Any]:
        params = {"feature_pre_filter": False}  # the same on both, or LightGBM warns
        train = lgb.Dataset(X, label=y, free_raw_data=False, params=params)
        valid = lgb.Dataset(
            X_valid, label=y_valid, reference=train, free_raw_data=False, params=params
        )
        return train, valid

    return kept((X, y, X_valid, y_valid), "lightgbm", build)
