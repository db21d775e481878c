"""A stored baseline (``backtest.baseline=REPORT_DIR``), checked before the walk-forward.

A previous report's target positions are compared with this evaluation's strategies hour by
hour, so the report must be one written by ``python -m evaluation`` on the same market and
cover most of the hours evaluated here. Its series holds each hour's 1h log return: returns
that differ from this data's on the shared hours mean another market (or another asset, or
another bar size); few shared hours mean another period. Either is refused with the numbers,
before any model is trained.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from evaluation.strategies import SERIES_FILE
from trainer.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

NEEDED = ("timestamp", "log_ret_1h", "target_position")
MIN_COVERAGE = 0.5  # of the evaluated hours: below, the baseline is mostly a flat line
MAX_MISMATCH = 0.01  # of the shared hours whose returns may differ (revised bars, filled gaps)


def read_stored_baseline(report_dir: str) -> pd.DataFrame:
    """The series of a report directory, or a UserError saying why it is not one."""
    import pandas as pd
    import pyarrow.parquet as pq

    key = f"backtest.baseline={report_dir}"
    path = Path(report_dir) / SERIES_FILE
    if not path.is_file():
        raise UserError(
            f"{key}: no {SERIES_FILE}; name a report directory written by python -m evaluation"
            " (artifacts/reports/<name>)"
        )
    try:
        missing = [c for c in NEEDED if c not in pq.read_schema(path).names]
        if missing:
            raise UserError(f"{key}: {SERIES_FILE} has no column {', '.join(missing)}")
        frame = pd.read_parquet(path, columns=list(NEEDED))
    except UserError:
        raise
    except Exception as exc:  # pyarrow's errors for a damaged file
        raise UserError(f"{key}: {SERIES_FILE} is not readable ({exc})") from None
    return frame


def check_stored_baseline(
    report_dir: str, frame: pd.DataFrame, timestamps: np.ndarray, log_ret: np.ndarray
) -> None:
    """Refuse a baseline of another market or period (``frame``: its series).

    ``timestamps`` and ``log_ret``: the out-of-sample hours this evaluation will test and
    their forward 1h log returns.
    """
    key = f"backtest.baseline={report_dir}"
    theirs = frame["timestamp"].to_numpy(dtype="datetime64[ns]")
    shared, ours_at, theirs_at = np.intersect1d(timestamps, theirs, return_indices=True)
    coverage = shared.size / max(timestamps.size, 1)
    if coverage < MIN_COVERAGE:
        span = f"{_day(theirs[0])}..{_day(theirs[-1])}" if theirs.size else "no hours"
        raise UserError(
            f"{key}: another period: it covers {span}, {coverage:.0%} of the"
            f" {timestamps.size} hours evaluated here ({_day(timestamps[0])}.."
            f"{_day(timestamps[-1])}); a baseline must cover at least {MIN_COVERAGE:.0%}."
            " Use a report of this period or set walk_forward.start/end to its period"
        )
    ours = log_ret[ours_at]
    stored = frame["log_ret_1h"].to_numpy(dtype=np.float64)[theirs_at]
    differ = ~np.isclose(ours, stored, rtol=1e-6, atol=1e-9)
    if differ.mean() > MAX_MISMATCH:
        first = int(np.flatnonzero(differ)[0])
        raise UserError(
            f"{key}: another market: its hourly returns differ from this data's on"
            f" {int(differ.sum())} of {shared.size} shared hours (first at {_day(shared[first])}:"
            f" {stored[first]:.6f} there, {ours[first]:.6f} here). Use a report of this market"
        )


def _day(ts: np.datetime64) -> str:
    return str(ts)[:16].replace("T", " ")
