"""Exact bounds of every split part: the hour each part starts and ends, the embargo measured in
hours (not rows) across a data gap, the period's edges, and the minimum part size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trainer.errors import UserError
from trainer.splits import MIN_PART_ROWS, holdout, walk_forward


def _hours(start: str, end: str) -> np.ndarray:
    return np.arange(np.datetime64(start, "h"), np.datetime64(end, "h")).astype("datetime64[ns]")


def _n_hours(n: int) -> np.ndarray:
    return (np.datetime64("2024-01-01T00", "h") + np.arange(n)).astype("datetime64[ns]")


def _at(text: str) -> np.datetime64:
    return np.datetime64(text, "ns")


def _spans(fold: object) -> list[tuple[int, int]]:
    return [(s.start, s.stop) for s in (fold.train, fold.valid, fold.test)]  # type: ignore[attr-defined]


def test_holdout_cuts_at_each_fraction_and_ends_each_part_one_embargo_early() -> None:
    ts = _n_hours(1000)
    fold = holdout(ts, (0.6, 0.25, 0.15), embargo_hours=4)
    # valid starts at 60%, test at 85%; train and valid stop 4 hours before the next part
    assert _spans(fold) == [(0, 596), (600, 846), (850, 1000)]
    assert fold.name == "holdout"


def test_holdout_embargo_counts_hours_across_a_data_gap() -> None:
    ts = _n_hours(1000)
    # ten hours missing just before the validation cut: the embargo is already served by the gap
    ts = np.concatenate([ts[:594], ts[604:]])  # 990 rows; valid's first row 594 is hour 604
    fold = holdout(ts, (0.6, 0.25, 0.15), embargo_hours=4)
    assert fold.valid.start == 594 and fold.train.stop == 594
    assert ts[fold.valid.start] - ts[fold.train.stop - 1] == np.timedelta64(11, "h")


def test_a_part_of_exactly_the_minimum_rows_is_accepted_and_one_less_refused() -> None:
    # 50 test rows: n * 0.15 rows of test when n = 334 (cut at int(334 * 0.85) = 283 -> 51 rows)
    n_ok = next(n for n in range(300, 400) if n - int(n * 0.85) == MIN_PART_ROWS)
    fold = holdout(_hours("2024-01-01", "2024-03-01")[:n_ok], (0.6, 0.25, 0.15), 0)
    assert fold.test.stop - fold.test.start == MIN_PART_ROWS
    n_short = next(n for n in range(300, 400) if n - int(n * 0.85) == MIN_PART_ROWS - 1)
    with pytest.raises(UserError) as err:
        holdout(_hours("2024-01-01", "2024-03-01")[:n_short], (0.6, 0.25, 0.15), 0)
    assert str(err.value) == (
        f"holdout: the test part has {MIN_PART_ROWS - 1} rows (at least {MIN_PART_ROWS} needed);"
        " use more data or other split fractions"
    )


def test_walk_forward_fold_hours_follow_the_fractions_and_the_embargo() -> None:
    ts = _hours("2023-01-01", "2025-01-01")
    # fractions whose ratios are exact in binary: valid = half a step, train = two steps
    fold = next(walk_forward(ts, "2024-04-01", "2024-06-30", 3, (0.5, 0.125, 0.25), 4))
    step = pd.Timestamp("2024-07-01") - pd.Timestamp("2024-04-01")  # 91 days
    t0 = pd.Timestamp("2024-04-01")
    v0 = t0 - pd.Timedelta(hours=4) - step / 2
    tr0 = v0 - pd.Timedelta(hours=4) - 2 * step
    hour = pd.Timedelta(hours=1)
    first_last = [(ts[s.start], ts[s.stop - 1]) for s in (fold.train, fold.valid, fold.test)]
    assert first_last == [
        (_at(str(tr0)), _at(str(v0 - pd.Timedelta(hours=4) - hour))),
        (_at(str(v0)), _at(str(t0 - pd.Timedelta(hours=4) - hour))),
        (_at("2024-04-01T00"), _at("2024-06-30T23")),
    ]
    assert fold.name == "2024Q2"


def test_walk_forward_last_step_ends_with_the_period_end_day() -> None:
    ts = _hours("2022-01-01", "2025-01-01")
    folds = list(walk_forward(ts, "2024-01-01", "2024-05-15", 3, (0.7, 0.15, 0.15), 1))
    assert [f.name for f in folds] == ["2024Q1", "2024Q2"]
    last = folds[-1].test
    assert (ts[last.start], ts[last.stop - 1]) == (_at("2024-04-01T00"), _at("2024-05-15T23"))


@pytest.mark.parametrize(
    ("start", "step", "names"),
    [
        ("2024-01-01", 1, ["2024-01", "2024-02", "2024-03"]),
        ("2024-02-01", 3, ["2024Q1"]),  # named by the quarter its test part starts in
        ("2024-08-01", 3, ["2024Q3"]),
    ],
)
def test_walk_forward_folds_are_named_by_month_or_quarter(
    start: str, step: int, names: list[str]
) -> None:
    ts = _hours("2022-01-01", "2025-01-01")
    end = str((pd.Timestamp(start) + pd.DateOffset(months=3) - pd.Timedelta(days=1)).date())
    folds = list(walk_forward(ts, start, end, step, (0.7, 0.15, 0.15), 1))
    assert [f.name for f in folds] == names


def test_walk_forward_may_start_on_the_first_hour_but_not_before_it() -> None:
    ts = _hours("2024-01-01", "2025-01-01")
    # starting on the first hour is inside the data; the folds' training then lies before it
    with pytest.raises(UserError, match="the train part has 0 rows"):
        list(walk_forward(ts, "2024-01-01", "2024-03-31", 3, (0.7, 0.15, 0.15), 1))
    with pytest.raises(UserError, match="outside the data"):
        list(walk_forward(ts[1:], "2024-01-01", "2024-03-31", 3, (0.7, 0.15, 0.15), 1))


def test_walk_forward_may_end_up_to_a_day_after_the_last_row() -> None:
    # the period's last hour (2024-12-31 23:00) is exactly 24 hours after the data's last row
    ts = _hours("2022-01-01", "2024-12-31")
    folds = list(walk_forward(ts, "2024-10-01", "2024-12-31", 3, (0.7, 0.15, 0.15), 1))
    assert [f.name for f in folds] == ["2024Q4"]
    with pytest.raises(UserError) as err:
        list(walk_forward(ts[:-1], "2024-10-01", "2024-12-31", 3, (0.7, 0.15, 0.15), 1))
    assert str(err.value) == (
        "split.start=2024-10-01, split.end=2024-12-31: the walk-forward period lies outside the"
        " data (2022-01-01 00:00 to 2024-12-30 22:00 UTC); set split.start/split.end inside it"
    )


def test_walk_forward_part_too_small_names_the_fold() -> None:
    ts = _hours("2024-01-01", "2025-01-01")
    with pytest.raises(UserError, match=r"^walk-forward fold 2024Q1: the train part has 0 rows"):
        list(walk_forward(ts, "2024-01-01", "2024-03-31", 3, (0.7, 0.15, 0.15), 1))


def test_fold_bounds_give_each_parts_first_and_last_hour_in_utc() -> None:
    ts = _n_hours(1000)
    fold = holdout(ts, (0.6, 0.25, 0.15), embargo_hours=4)
    assert fold.bounds(ts) == {
        "train": ["2024-01-01T00:00:00Z", "2024-01-25T19:00:00Z"],
        "valid": ["2024-01-26T00:00:00Z", "2024-02-05T05:00:00Z"],
        "test": ["2024-02-05T10:00:00Z", "2024-02-11T15:00:00Z"],
    }
