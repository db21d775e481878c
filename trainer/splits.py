"""Time-ordered splits: the 70/15/15 holdout and quarterly walk-forward folds.

Like scikit-learn's ``TimeSeriesSplit(gap=...)`` they return row positions (here contiguous
slices, so every part stays a view of the feature matrix). Between consecutive parts an
embargo of ``embargo_hours`` is left out, so no training label overlaps the hours that
validation or test features and labels see. On a market that closes the embargo counts open
hours (``trainer.data.calendar``), as the labels do. Shared by training and evaluation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pandas as pd

from trainer.data.calendar import ALWAYS_OPEN, Calendar
from trainer.errors import UserError

MIN_PART_ROWS = 50


@dataclass(frozen=True)
class Fold:
    name: str
    train: slice
    valid: slice
    test: slice

    def bounds(self, timestamps: np.ndarray) -> dict[str, list[str]]:
        """First and last timestamp of each part, for metadata."""
        out = {}
        for part in ("train", "valid", "test"):
            s: slice = getattr(self, part)
            out[part] = [_iso(timestamps[s.start]), _iso(timestamps[s.stop - 1])]
        return out


def open_clock(timestamps: np.ndarray, calendar: Calendar) -> np.ndarray:
    """(n,) int64 open-hour clock of hourly datetime64 timestamps (epoch hours on 24/7)."""
    return calendar.clock(timestamps.astype("datetime64[h]").astype(np.int64))


def holdout(
    timestamps: np.ndarray,
    fractions: tuple[float, float, float],
    embargo_hours: int,
    calendar: Calendar = ALWAYS_OPEN,
) -> Fold:
    """Train, valid, test in time order by row fractions, with the embargo between them."""
    n = timestamps.shape[0]
    cut_valid = int(n * fractions[0])
    cut_test = int(n * (fractions[0] + fractions[1]))
    clock = open_clock(timestamps, calendar)
    train_end = int(np.searchsorted(clock, clock[cut_valid] - embargo_hours, side="left"))
    valid_end = int(np.searchsorted(clock, clock[cut_test] - embargo_hours, side="left"))
    fold = Fold("holdout", slice(0, train_end), slice(cut_valid, valid_end), slice(cut_test, n))
    _check_sizes(fold, "holdout")
    return fold


def walk_forward(
    timestamps: np.ndarray,
    start: str,
    end: str,
    step_months: int,
    fractions: tuple[float, float, float],
    embargo_hours: int,
    calendar: Calendar = ALWAYS_OPEN,
) -> Iterator[Fold]:
    """Rolling folds whose test parts tile [start, end] in steps of ``step_months``.

    Each fold tests on one step, calibrates on the ``valid/test`` multiple of a step before
    it and trains on the ``train/test`` multiple before that, with the embargo between parts.
    """
    first, last = _to_ts(timestamps[0]), _to_ts(timestamps[-1])
    lo, hi = pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC") + pd.Timedelta(hours=23)
    clock = open_clock(timestamps, calendar)
    # The table's last rows have no label for the longest horizon (4h), so a period may end
    # up to a day (24 open hours) after its last row (2025-12-31 on data ending 2025-12-31
    # 19:00).
    if calendar.clock_at(lo) < clock[0] or calendar.clock_at(hi) > clock[-1] + 24:
        raise UserError(
            f"split.start={start}, split.end={end}: the walk-forward period lies outside the data"
            f" ({first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC); set split.start/split.end"
            " inside it"
        )
    embargo = pd.Timedelta(hours=embargo_hours)
    bounds = pd.date_range(lo, hi + pd.Timedelta(hours=1), freq=pd.DateOffset(months=step_months))
    if bounds[-1] < hi:
        bounds = pd.DatetimeIndex([*bounds, hi + pd.Timedelta(hours=1)])

    def row(t: pd.Timestamp, embargoed: bool = False) -> int:
        """The first row at or after t, or ``embargo_hours`` open hours before that."""
        back = embargo_hours if embargoed else 0
        return int(np.searchsorted(clock, calendar.clock_at(t) - back, side="left"))

    for t0, t1 in pairwise(bounds):
        step = t1 - t0
        # Part lengths are calendar time; the embargoes between parts are open hours.
        v0 = t0 - embargo - step * (fractions[1] / fractions[2])
        tr0 = v0 - embargo - step * (fractions[0] / fractions[2])
        parts = [
            slice(row(tr0), row(v0, embargoed=True)),
            slice(row(v0), row(t0, embargoed=True)),
            slice(row(t0), row(t1)),
        ]
        name = f"{t0.year}Q{(t0.month - 1) // 3 + 1}" if step_months == 3 else f"{t0:%Y-%m}"
        fold = Fold(name, *parts)
        _check_sizes(fold, f"walk-forward fold {name}")
        yield fold


def _check_sizes(fold: Fold, what: str) -> None:
    for part in ("train", "valid", "test"):
        s: slice = getattr(fold, part)
        if s.stop - s.start < MIN_PART_ROWS:
            raise UserError(
                f"{what}: the {part} part has {max(0, s.stop - s.start)} rows (at least"
                f" {MIN_PART_ROWS} needed); use more data or other split fractions"
            )


def _to_ts(t: np.datetime64) -> pd.Timestamp:
    return pd.Timestamp(t, tz="UTC")


def _iso(t: np.datetime64) -> str:
    return str(pd.Timestamp(t).isoformat()) + "Z"
