"""Splits never let training see the future, and walk-forward test parts tile the period."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from trainer.errors import UserError
from trainer.splits import holdout, walk_forward


def _hours(start: str, end: str) -> np.ndarray:
    return np.arange(np.datetime64(start, "h"), np.datetime64(end, "h")).astype("datetime64[ns]")


def test_holdout_is_70_15_15_in_time_order_with_the_embargo_between_parts() -> None:
    ts = _hours("2022-01-01", "2023-01-01")
    fold = holdout(ts, (0.7, 0.15, 0.15), embargo_hours=4)
    n = ts.size
    assert fold.valid.start == int(n * 0.7) and fold.test.start == int(n * 0.85)
    assert fold.test.stop == n
    gap_tv = ts[fold.valid.start] - ts[fold.train.stop - 1]
    gap_vt = ts[fold.test.start] - ts[fold.valid.stop - 1]
    assert gap_tv > np.timedelta64(4, "h") and gap_vt > np.timedelta64(4, "h")
    # the last training label (4h ahead) ends before the first validation hour
    assert ts[fold.train.stop - 1] + np.timedelta64(4, "h") < ts[fold.valid.start]


def test_walk_forward_never_trains_on_the_future_and_tests_tile_the_period() -> None:
    ts = _hours("2020-01-01", "2026-01-01")
    folds = list(walk_forward(ts, "2023-01-01", "2025-12-31", 3, (0.7, 0.15, 0.15), 4))
    assert [f.name for f in folds][:2] == ["2023Q1", "2023Q2"] and len(folds) == 12
    for f in folds:
        assert f.train.stop <= f.valid.start and f.valid.stop <= f.test.start
        assert ts[f.valid.start] - ts[f.train.stop - 1] > np.timedelta64(4, "h")
    for a, b in pairwise(folds):
        assert a.test.stop == b.test.start  # tiles: no hour tested twice or skipped
    assert ts[folds[0].test.start] == np.datetime64("2023-01-01T00", "ns")
    assert ts[folds[-1].test.stop - 1] == np.datetime64("2025-12-31T23", "ns")


def test_walk_forward_outside_the_data_is_a_clear_error() -> None:
    ts = _hours("2022-01-01", "2023-01-01")
    with pytest.raises(UserError, match="outside the data"):
        list(walk_forward(ts, "2023-01-01", "2023-12-31", 3, (0.7, 0.15, 0.15), 1))
