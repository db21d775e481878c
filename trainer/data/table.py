"""The table a run learns from: feature rows with their labels, in time order.

Built by ``trainer.dataset.build_table`` from a market source, or read back from prepared
splits by ``trainer.data.npz.read_table`` (which come already cut: ``fixed_split``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from trainer.data.calendar import ALWAYS_OPEN, Calendar
from trainer.splits import Fold


@dataclass(frozen=True)
class Table:
    """Rows with complete features and labels, in time order."""

    X: np.ndarray  # (n, f) float64 raw features
    feature_names: list[str]
    timestamps: np.ndarray  # (n,) datetime64[ns] UTC (naive)
    labels: dict[str, np.ndarray]  # ret_1h, dir_1h, ret_4h, dir_4h: (n,)
    segment: np.ndarray  # (n,) int64, changes where consecutive rows are not one open hour apart
    data_hash: str
    source: str
    gap_report: dict[str, object] = field(default_factory=dict)
    fixed_split: Fold | None = None  # prepared splits (npz) come already cut
    calendar: Calendar = ALWAYS_OPEN  # the market's open hours (embargoes count them)

    def __len__(self) -> int:
        return int(self.X.shape[0])


def market_hash(market: pd.DataFrame) -> str:
    """sha256 of the market table's index, columns and values."""
    h = hashlib.sha256()
    h.update(",".join(map(str, market.columns)).encode())
    h.update(pd.DatetimeIndex(market.index).asi8.tobytes())
    h.update(np.ascontiguousarray(market.to_numpy(dtype=np.float64)).tobytes())
    return h.hexdigest()


def segments_of(timestamps: np.ndarray, calendar: Calendar = ALWAYS_OPEN) -> np.ndarray:
    """Segment id per row: +1 wherever a row is not exactly one open hour after the previous."""
    clock = calendar.clock(timestamps.astype("datetime64[h]").astype(np.int64))
    step = np.diff(clock, prepend=np.int64(-(10**9)))
    return np.cumsum(step != 1).astype(np.int64) - 1
