"""Missing hours in an hourly table: segments, the gap report and the forward-fill policy.

Called by ``trainer.data.market.load_market`` (fill) and by the trainer (segments, report for
metadata). A *gap* is a place where the UTC index jumps by more than one *open* hour of the
market's calendar (``trainer.data.calendar``: a weekend closure of an FX market is not a gap;
on ``24/7``, the default, every hour is open). Short gaps are forward-filled (never from the
future); longer ones stay, and split the table into contiguous *segments* that no feature
window, label or sequence window may cross.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from trainer.data.calendar import (
    ALWAYS_OPEN,
    FX,
    HOUR_NS,
    Calendar,
    epoch_hours,
    hour_of_week_of,
    weekday_hour,
)

# Roles whose missing hours mean "no trading": a filled hour repeats the last close with no volume.
_PRICE_COLUMNS = ("open", "high", "low", "close")


def _clock(index: pd.Index, calendar: Calendar) -> np.ndarray:
    """Open-hour clock of each row, int64 (epoch hours on 24/7)."""
    return calendar.clock(epoch_hours(index))


def segments(index: pd.Index, calendar: Calendar = ALWAYS_OPEN) -> np.ndarray:
    """Segment id per row, int64: starts at 0 and increments after every jump of more than
    one open hour."""
    if len(index) == 0:
        return np.zeros(0, dtype=np.int64)
    jumps = np.diff(_clock(index, calendar)) > 1
    return np.concatenate(([0], np.cumsum(jumps))).astype(np.int64)


def position_in_segment(index: pd.Index, calendar: Calendar = ALWAYS_OPEN) -> np.ndarray:
    """Rows since the start of each row's segment (0 at a segment start), int64.

    A computation that looks back ``k`` rows is valid at a row only when this is >= k.
    """
    n = len(index)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    seg = segments(index, calendar)
    starts = np.flatnonzero(np.concatenate(([True], seg[1:] != seg[:-1])))
    return np.arange(n, dtype=np.int64) - np.repeat(starts, np.diff(np.append(starts, n)))


def gap_report(index: pd.Index, calendar: Calendar = ALWAYS_OPEN) -> dict[str, Any]:
    """Count and size of the unscheduled gaps in an hourly index, in open hours (JSON-able,
    for metadata); scheduled closures are not gaps."""
    hours = _clock(index, calendar)
    missing = np.diff(hours) - 1 if len(hours) > 1 else np.zeros(0, dtype=np.int64)
    gaps = np.flatnonzero(missing > 0)
    longest = int(missing.max()) if gaps.size else 0
    report: dict[str, Any] = {
        "n_rows": len(index),
        "first": index[0].isoformat() if len(index) else None,
        "last": index[-1].isoformat() if len(index) else None,
        "n_gaps": int(gaps.size),
        "missing_hours": int(missing[gaps].sum()) if gaps.size else 0,
        "longest_gap_hours": longest,
        "longest_gap_after": None,
        "n_segments": int(gaps.size) + 1 if len(index) else 0,
    }
    if gaps.size:
        report["longest_gap_after"] = index[int(gaps[np.argmax(missing[gaps])])].isoformat()
    if not calendar.always_open:
        report["calendar"] = calendar.to_json()
    return report


def weekly_gap(index: pd.Index) -> tuple[int, int, int, int] | None:
    """The gap that recurs at the same hour of the week with the same length in at least half
    the weeks the index spans (3 at least): (first missing hour of the week, its hours, weeks
    it occurs in, weeks spanned); None if there is none. The mark of a market that closes."""
    hours = epoch_hours(index)
    if len(hours) < 2:
        return None
    missing = np.diff(hours) - 1
    at = np.flatnonzero(missing > 0)
    if at.size < 3:
        return None
    starts = hour_of_week_of(hours[at] + 1)
    (start, length), count = Counter(
        zip(starts.tolist(), missing[at].tolist(), strict=True)
    ).most_common(1)[0]
    # the weeks in which that hour of the week lies inside the index's span
    first = hours[0] + 1 + (start - int(hour_of_week_of(hours[:1] + 1)[0])) % 168
    weeks = max(1, int((hours[-1] - first) // 168) + 1)
    if count < 3 or count < weeks / 2:
        return None
    return int(start), int(length), int(count), weeks


def calendar_hint(index: pd.Index, calendar: Calendar) -> str:
    """A sentence suggesting data.calendar when a 24/7 table misses the same hours every week."""
    if not calendar.always_open:
        return ""
    found = weekly_gap(index)
    if found is None:
        return ""
    start, length, count, weeks = found
    first, after = weekday_hour(start), weekday_hour(start + length)
    if (start, length) == FX.closures[0]:
        fix = "set data.calendar=fx"
    else:
        fix = f'set data.calendar=weekly \'data.closures=[{{start: "{first}", end: "{after}"}}]\''
    return (
        f" The same {length}-hour gap ({first} to {after} UTC) recurs in {count} of {weeks}"
        f" weeks: if the market closes then, {fix} so closed hours are not gaps"
        " (see docs/calendar.md)."
    )


def fill_short_gaps(
    market: pd.DataFrame, max_hours: int, calendar: Calendar = ALWAYS_OPEN
) -> pd.DataFrame:
    """Insert the missing open hours of every gap of at most ``max_hours`` open hours, filled
    forward (scheduled-closed hours stay out).

    A filled hour repeats the previous close as open/high/low/close with zero volume, and the
    last known value of every other column: only the past is used. Longer gaps are left as they
    are. Returns a new frame; the input is untouched.
    """
    if max_hours <= 0 or len(market) < 2:
        return market.copy()
    index = pd.DatetimeIndex(market.index)
    clock = _clock(index, calendar)
    missing = np.diff(clock) - 1
    fill_at = np.flatnonzero((missing > 0) & (missing <= max_hours))
    if fill_at.size == 0:
        return market.copy()
    new_hours = calendar.hours_at(
        np.concatenate([np.arange(clock[i] + 1, clock[i + 1], dtype=np.int64) for i in fill_at])
    )
    new_index = pd.DatetimeIndex(
        pd.to_datetime(new_hours * HOUR_NS, unit="ns", utc=True), name=index.name
    ).as_unit(index.unit)
    full = market.reindex(index.append(new_index).sort_values())
    is_new = full.index.isin(new_index)
    filled = full.copy()
    filled.loc[is_new] = full.ffill().loc[is_new]  # only the inserted hours change
    if "close" in full.columns:
        for col in _PRICE_COLUMNS:
            if col in full.columns:
                filled.loc[is_new, col] = filled.loc[is_new, "close"]
    if "volume" in full.columns:
        filled.loc[is_new, "volume"] = 0.0
    return filled
