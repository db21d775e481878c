"""Load the hourly market table of a run (``data=synthetic|csv|parquet|binance_btc``).

Called by ``trainer.dataset.build_table``. The market table: a UTC ``DatetimeIndex`` named
``timestamp``, sorted, unique, on the hour; float64 columns by role (see
``trainer.data.validate``). Short gaps (at most ``data.max_ffill_hours`` missing hours) are
forward-filled; longer gaps stay as jumps of the index. Bad input raises ``UserError`` naming the
file, the column and the first offending row, before any work.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from trainer.data.calendar import epoch_hours
from trainer.data.config import (
    CsvDataConfig,
    DataConfig,
    JoinedDataConfig,
    ParquetDataConfig,
    SyntheticDataConfig,
)
from trainer.data.files import Recent as Recent
from trainer.data.files import read_csv, read_parquet
from trainer.data.gaps import gap_report
from trainer.data.validate import market_table
from trainer.errors import UserError

SOURCES = ("synthetic", "csv", "parquet", "binance_btc", "joined")


def load_market(cfg: DataConfig, recent: Recent | None = None) -> pd.DataFrame:
    """The validated hourly market table of ``cfg`` (a new frame; see module doc).

    ``attrs["gaps_before_fill"]`` holds the gap report of the table as read, before short gaps
    were filled (the index of the result only shows the long ones). ``recent``: read csv files
    from their end, far enough back for the rows it asks for (the table then starts later).
    """
    # Ranges (max_ffill_hours, signal_strength) are checked by the schemas' __post_init__.
    if isinstance(cfg, SyntheticDataConfig):
        from trainer.data.synthetic import generate_market

        try:
            market = generate_market(cfg.start, cfg.end, cfg.seed, cfg.signal_strength)
        except ValueError as exc:
            raise UserError(f"data.start={cfg.start}, data.end={cfg.end}: {exc}") from None
        calendar = cfg.trading_calendar()
        if not calendar.always_open:  # the market as if it closed: its closed hours left out
            market = market[calendar.is_open(epoch_hours(market.index))].copy()
        market.attrs["gaps_before_fill"] = gap_report(pd.DatetimeIndex(market.index), calendar)
        market.attrs["calendar"] = calendar
        return market
    if isinstance(cfg, JoinedDataConfig):
        from trainer.data.joined import load_joined

        return load_joined(cfg, recent)
    if isinstance(cfg, CsvDataConfig | ParquetDataConfig):
        path = Path(cfg.path)
        if isinstance(cfg, CsvDataConfig):
            raw = read_csv(path, recent=recent, extra_hours=cfg.max_ffill_hours)
        else:
            raw = read_parquet(path)
        market = market_table(
            raw,
            f"data file {path}",
            cfg.max_ffill_hours,
            cfg.trading_calendar(),
            cfg.closed_rows,
            cfg.bad_prices,
        )
        return cut(market, cfg.start, cfg.end, f"data file {path}")
    raise UserError(f"data.source={cfg.source!r}: must be one of {', '.join(SOURCES)}")


def cut(market: pd.DataFrame, start: str | None, end: str | None, origin: str) -> pd.DataFrame:
    """The rows from ``start`` through the whole day (or the hour, if given) of ``end``."""
    if start is None and end is None:
        return market
    keep = np.ones(len(market), dtype=bool)
    index = pd.DatetimeIndex(market.index)
    if start is not None:
        keep &= index >= _utc(start)
    if end is not None:
        last = _utc(end)
        # A bare date means the whole day; a time means through that hour.
        keep &= index < (
            last + pd.Timedelta(days=1)
            if last == last.normalize()
            else last + pd.Timedelta(hours=1)
        )
    if not keep.any():
        first, final = index[0], index[-1]
        raise UserError(
            f"data.start={start}, data.end={end}: no row of {origin} in between (it covers"
            f" {first:%Y-%m-%d %H:%M} to {final:%Y-%m-%d %H:%M} UTC)"
        )
    out = market[keep].copy()
    out.attrs = dict(market.attrs)
    return out


def _utc(value: str) -> pd.Timestamp:
    t = pd.Timestamp(value)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
