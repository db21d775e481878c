"""Load the hourly market table of a run (``data=synthetic|csv|parquet|binance_btc``).

Called by ``trainer.dataset.build_table``. The market table: a UTC ``DatetimeIndex`` named
``timestamp``, sorted, unique, on the hour; float64 columns by role (see
``trainer.data.validate``). Short gaps (at most ``data.max_ffill_hours`` missing hours) are
forward-filled; longer gaps stay as jumps of the index. Bad input raises ``UserError`` naming the
file, the column and the first offending row, before any work.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from trainer.data.calendar import epoch_hours
from trainer.data.config import (
    CsvDataConfig,
    DataConfig,
    JoinedDataConfig,
    ParquetDataConfig,
    SyntheticDataConfig,
)
from trainer.data.files import read_csv, read_parquet
from trainer.data.gaps import gap_report
from trainer.data.validate import market_table
from trainer.errors import UserError

SOURCES = ("synthetic", "csv", "parquet", "binance_btc", "joined")


def load_market(cfg: DataConfig) -> pd.DataFrame:
    """The validated hourly market table of ``cfg`` (a new frame; see module doc).

    ``attrs["gaps_before_fill"]`` holds the gap report of the table as read, before short gaps
    were filled (the index of the result only shows the long ones).
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

        return load_joined(cfg)
    if isinstance(cfg, CsvDataConfig | ParquetDataConfig):
        path = Path(cfg.path)
        raw = read_csv(path) if isinstance(cfg, CsvDataConfig) else read_parquet(path)
        return market_table(
            raw,
            f"data file {path}",
            cfg.max_ffill_hours,
            cfg.trading_calendar(),
            cfg.closed_rows,
        )
    raise UserError(f"data.source={cfg.source!r}: must be one of {', '.join(SOURCES)}")
