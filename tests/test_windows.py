"""Windows over a part's rows: never across a gap or the part's start, labelled at their last
hour, and built as views (one batch copied at a time)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trainer.data.windows import (
    longest_run,
    valid_window_ends,
    window_batch,
    window_rows,
    windows_view,
)


def _segments(run_lengths: list[int]) -> np.ndarray:
    return np.repeat(np.arange(len(run_lengths)), run_lengths).astype(np.int64)


@settings(max_examples=60, deadline=None)
@given(
    runs=st.lists(st.integers(1, 30), min_size=1, max_size=8),
    length=st.integers(1, 12),
)
def test_a_window_is_valid_exactly_when_its_rows_share_one_segment(
    runs: list[int], length: int
) -> None:
    segment = _segments(runs)
    ends = valid_window_ends(segment, length)
    expected = [
        i
        for i in range(segment.size)
        if i - length + 1 >= 0 and np.all(segment[i - length + 1 : i + 1] == segment[i])
    ]
    assert ends.tolist() == expected


def test_no_window_crosses_a_gap() -> None:
    segment = _segments([5, 7])  # a gap between rows 4 and 5
    ends = valid_window_ends(segment, 3)
    assert ends.tolist() == [2, 3, 4, 7, 8, 9, 10, 11]
    rows = window_rows(ends, 3)
    assert all(len(set(segment[r])) == 1 for r in rows)


def test_no_window_starts_before_its_part() -> None:
    # A part cut out of the middle of one long run: windows see only the part's own rows,
    # so the first window ends at local row length-1, never reaching back into the previous part.
    full = np.zeros(100, dtype=np.int64)
    part = full[40:70]
    ends = valid_window_ends(part, 8)
    assert ends[0] == 7
    assert window_rows(ends, 8).min() == 0


def test_a_reused_segment_id_after_a_gap_still_splits_windows() -> None:
    segment = np.array([0, 0, 1, 1, 0, 0])
    assert valid_window_ends(segment, 3).size == 0
    assert longest_run(segment) == 2


def test_stride_thins_the_valid_windows() -> None:
    segment = _segments([20, 20])
    all_ends = valid_window_ends(segment, 4)
    every_third = valid_window_ends(segment, 4, stride=3)
    assert every_third.tolist() == all_ends[::3].tolist()
    assert set(every_third) <= set(all_ends)


def test_a_window_ends_at_the_row_whose_label_it_takes() -> None:
    X = np.arange(30, dtype=np.float32).reshape(10, 3)  # row r holds 3r, 3r+1, 3r+2
    y = np.arange(10) * 10.0
    ends = np.array([3, 9])
    batch = window_batch(X, ends, 4)  # (2, 4, 3)
    assert batch.shape == (2, 4, 3)
    np.testing.assert_array_equal(batch[:, -1], X[ends])  # last hour = the labelled row
    np.testing.assert_array_equal(batch[0], X[0:4])  # oldest hour first
    np.testing.assert_array_equal(y[ends], [30.0, 90.0])


def test_window_batch_and_window_rows_gather_the_same_windows() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 5)).astype(np.float32)
    ends = valid_window_ends(_segments([25, 25]), 6)
    np.testing.assert_array_equal(window_batch(X, ends, 6), X[window_rows(ends, 6)])


def test_windows_are_views_and_only_a_batch_is_copied() -> None:
    X = np.zeros((1000, 8), dtype=np.float32)
    view = windows_view(X, 48)
    assert view.shape == (953, 48, 8)
    assert np.shares_memory(view, X)  # a strided view: no window is materialised
    ends = np.arange(100, 164)
    batch = window_batch(X, ends, 48)
    assert batch.nbytes == ends.size * 48 * 8 * 4  # exactly one batch of windows
    assert not np.shares_memory(batch, X)


def test_too_short_parts_have_no_windows() -> None:
    assert valid_window_ends(np.zeros(5, dtype=np.int64), 6).size == 0
    assert valid_window_ends(np.zeros(0, dtype=np.int64), 1).size == 0
    with pytest.raises(ValueError, match="stride"):
        valid_window_ends(np.zeros(5, dtype=np.int64), 2, stride=0)
