"""The scaler and the constant-column filter learn from the training part only: what valid and
test hold can never change how any part is scaled or which features are kept."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.dataset import Table, prepare, segments_of
from trainer.scaling import Scaler
from trainer.splits import holdout

N = 1000


def _table(X: np.ndarray) -> Table:
    ts = (np.datetime64("2024-01-01T00", "h") + np.arange(N)).astype("datetime64[ns]")
    rng = np.random.default_rng(1)
    ret = rng.normal(0, 0.01, N)
    labels = {"ret_1h": ret, "dir_1h": (ret > 0).astype(np.float64)}
    labels |= {"ret_4h": ret, "dir_4h": labels["dir_1h"]}
    names = [f"f{i}" for i in range(X.shape[1])]
    return Table(X, names, ts, labels, segments_of(ts), "hash", "test")


def _features() -> np.ndarray:
    rng = np.random.default_rng(0)
    X = rng.normal(5.0, 2.0, (N, 3))
    X[:, 2] = 7.0  # constant everywhere
    return X


def test_scaler_statistics_are_the_training_rows_mean_and_std() -> None:
    X = _features()
    table = _table(X)
    fold = holdout(table.timestamps, (0.7, 0.15, 0.15), 1)
    p = prepare(table, fold, 1, "direction", 1e-12)
    train = X[fold.train][:, :2]
    np.testing.assert_allclose(p.scaler.mean, train.mean(axis=0))
    np.testing.assert_allclose(p.scaler.scale, train.std(axis=0))
    np.testing.assert_allclose(p.train.X.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(p.train.X.std(axis=0), 1.0, atol=1e-5)
    np.testing.assert_allclose(p.test.X, ((X[fold.test][:, :2] - p.scaler.mean) / p.scaler.scale))


def test_changing_valid_and_test_features_never_changes_the_scaling() -> None:
    X = _features()
    fold = holdout(_table(X).timestamps, (0.7, 0.15, 0.15), 1)
    shifted = X.copy()
    shifted[fold.valid.start :] = shifted[fold.valid.start :] * 100.0 + 1e4  # a regime change
    shifted[fold.valid.start :, 2] = np.arange(N - fold.valid.start)  # no longer constant there
    a = prepare(_table(X), fold, 1, "direction", 1e-12)
    b = prepare(_table(shifted), fold, 1, "direction", 1e-12)
    np.testing.assert_array_equal(a.scaler.mean, b.scaler.mean)
    np.testing.assert_array_equal(a.scaler.scale, b.scaler.scale)
    np.testing.assert_array_equal(a.train.X, b.train.X)
    # constant on train: dropped, however it varies later
    assert a.feature_names == b.feature_names == ["f0", "f1"] and b.dropped == ["f2"]


def test_a_column_constant_only_in_valid_and_test_is_kept() -> None:
    X = _features()
    fold = holdout(_table(X).timestamps, (0.7, 0.15, 0.15), 1)
    X[fold.valid.start :, 0] = 3.0
    p = prepare(_table(X), fold, 1, "direction", 1e-12)
    assert p.feature_names == ["f0", "f1"]


def test_scaler_leaves_a_zero_variance_column_unscaled_and_round_trips_json() -> None:
    X = np.column_stack([np.arange(10.0), np.full(10, 4.0)])
    s = Scaler.fit(X)
    assert s.scale.tolist() == [pytest.approx(np.arange(10.0).std()), 1.0]
    out = s.transform(X)
    assert out.dtype == np.float32 and out[:, 1].tolist() == [0.0] * 10
    back = Scaler.from_json(s.to_json())
    np.testing.assert_array_equal(back.transform(X), out)
