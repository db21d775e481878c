"""Missing hours in an hourly table: segments, the gap report and the forward-fill policy.

Called by ``trainer.data.market.load_market`` (fill) and by the trainer (segments, report for
metadata). A *gap* is a place where the UTC index jumps by more than one hour. Short gaps are
forward-filled (never from the future); longer ones stay, and split the table into contiguous
*segments* that no feature window, label or sequence window may cross.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

HOUR_NS = 3_600_000_000_000

# Roles whose missing hours mean "no trading": a filled hour repeats the last close with no volume.
_PRICE_COLUMNS = ("open", "high", "low", "close")


def _hours(index: pd.Index) -> np.ndarray:
    """Whole hours since the epoch, int64 (the index is on the hour)."""
    return np.asarray(pd.DatetimeIndex(index).as_unit("ns").asi8, dtype=np.int64) // HOUR_NS


def segments(index: pd.Index) -> np.ndarray:
    """Segment id per row, int64: starts at 0 and increments after every jump of more than 1h."""
    if len(index) == 0:
        return np.zeros(0, dtype=np.int64)
    jumps = np.diff(_hours(index)) > 1
    return np.concatenate(([0], np.cumsum(jumps))).astype(np.int64)


def position_in_segment(index: pd.Index) -> np.ndarray:
    """Rows since the start of each row's segment (0 at a segment start), int64.

    A computation that looks back ``k`` rows is valid at a row only when this is >= k.
    """
    n = len(index)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    seg = segments(index)
    starts = np.flatnonzero(np.concatenate(([True], seg[1:] != seg[:-1])))
    return np.arange(n, dtype=np.int64) - np.repeat(starts, np.diff(np.append(starts, n)))


def gap_report(index: pd.Index) -> dict[str, Any]:
    """Count and size of the gaps in an hourly index (JSON-able, for metadata)."""
    hours = _hours(index)
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
    return report


def fill_short_gaps(market: pd.DataFrame, max_hours: int) -> pd.DataFrame:
    """Insert the missing hours of every gap of at most ``max_hours`` hours, filled forward.

    A filled hour repeats the previous close as open/high/low/close with zero volume, and the
    last known value of every other column: only the past is used. Longer gaps are left as they
    are. Returns a new frame; the input is untouched.
    """
    if max_hours <= 0 or len(market) < 2:
        return market.copy()
    index = pd.DatetimeIndex(market.index)
    hours = _hours(index)
    missing = np.diff(hours) - 1
    fill_at = np.flatnonzero((missing > 0) & (missing <= max_hours))
    if fill_at.size == 0:
        return market.copy()
    new_hours = np.concatenate(
        [np.arange(hours[i] + 1, hours[i + 1], dtype=np.int64) for i in fill_at]
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
