"""Gaps: segments, the gap report and forward-fill up to N hours, never from the future."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trainer.data.gaps import fill_short_gaps, gap_report, position_in_segment, segments


def _hours(*offsets: int) -> pd.DatetimeIndex:
    base = pd.Timestamp("2024-01-01", tz="UTC")
    return pd.DatetimeIndex([base + pd.Timedelta(hours=h) for h in offsets], name="timestamp")


def test_segments_increment_only_where_the_index_jumps_by_more_than_an_hour():
    index = _hours(0, 1, 2, 5, 6, 30, 31)
    assert segments(index).tolist() == [0, 0, 0, 1, 1, 2, 2]
    assert segments(index).dtype == np.int64
    assert position_in_segment(index).tolist() == [0, 1, 2, 0, 1, 0, 1]


def test_gap_report_counts_missing_hours_and_the_longest_gap():
    report = gap_report(_hours(0, 1, 2, 5, 6, 30, 31))
    assert report["n_gaps"] == 2
    assert report["missing_hours"] == 2 + 23
    assert report["longest_gap_hours"] == 23
    assert report["longest_gap_after"] == "2024-01-01T06:00:00+00:00"
    assert report["n_segments"] == 3


def test_gap_report_of_a_complete_index_is_empty():
    report = gap_report(_hours(*range(10)))
    assert (report["n_gaps"], report["missing_hours"], report["longest_gap_hours"]) == (0, 0, 0)


@pytest.mark.parametrize("max_hours", [0, 1, 2, 3])
def test_only_gaps_up_to_max_hours_are_filled(max_hours):
    index = _hours(0, 1, 3, 4, 7, 8)  # gaps of 1 and 2 missing hours
    market = pd.DataFrame({"close": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]}, index=index)
    filled = fill_short_gaps(market, max_hours)
    expected_rows = 6 + (1 if max_hours >= 1 else 0) + (2 if max_hours >= 2 else 0)
    assert len(filled) == expected_rows
    assert gap_report(filled.index)["n_gaps"] == (max_hours < 1) + (max_hours < 2)


def test_filled_hours_repeat_the_past_close_with_no_volume_never_the_future():
    index = _hours(0, 1, 4)
    market = pd.DataFrame(
        {
            "open": [10.0, 11.0, 50.0],
            "high": [12.0, 13.0, 60.0],
            "low": [9.0, 10.0, 40.0],
            "close": [11.0, 12.0, 55.0],
            "volume": [5.0, 6.0, 7.0],
            "funding_rate": [1e-4, 2e-4, 9e-4],
        },
        index=index,
    )
    filled = fill_short_gaps(market, 2)
    new = filled.loc[_hours(2, 3)]
    for col in ("open", "high", "low", "close"):
        assert (new[col] == 12.0).all(), col
    assert (new["volume"] == 0.0).all()
    assert (new["funding_rate"] == 2e-4).all()
    pd.testing.assert_frame_equal(filled.loc[index], market)  # the original rows are untouched
