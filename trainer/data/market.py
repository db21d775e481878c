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
            cfg.bad_prices,
        )
    raise UserError(f"data.source={cfg.source!r}: must be one of {', '.join(SOURCES)}")


def _exists(path: Path) -> None:
    if not path.is_file():
        raise UserError(f"data.path={path}: file not found (relative paths start at {Path.cwd()})")


def read_csv(path: Path, time_column: str = "timestamp") -> pd.DataFrame:
    """A csv as read, with the time column kept as text (validated later)."""
    _exists(path)
    try:
        # pandas renames a repeated header name (close, close.1): read the header as written
        header = pd.read_csv(path, header=None, nrows=1, dtype=str, skipinitialspace=True)
        unique_columns(f"data file {path}", [str(c) for c in header.iloc[0]])
        return pd.read_csv(path, dtype={time_column: str}, skipinitialspace=True)
    except UserError:
        raise
    except pd.errors.EmptyDataError:
        raise UserError(f"data file {path}: empty file; need a header and data rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        msg = str(exc).strip().splitlines()[0]
        raise UserError(f"data file {path}: not a readable csv ({msg})") from None


def unique_columns(origin: str, names: list[str]) -> None:
    """Refuse a header that names a column twice (after trimming spaces), naming it."""
    seen: dict[str, int] = {}
    for i, name in enumerate(n.strip() for n in names):
        if name in seen:
            raise UserError(
                f"{origin}, column '{name}': appears twice in the header (columns"
                f" {seen[name] + 1} and {i + 1}); keep one"
            )
        seen[name] = i


def read_parquet(path: Path) -> pd.DataFrame:
    _exists(path)
    try:
        import pyarrow.parquet as pq

        unique_columns(f"data file {path}", list(pq.read_schema(path).names))
        return pd.read_parquet(path, engine="pyarrow")
    except UserError:
        raise
    except Exception as exc:  # pyarrow raises several types for a corrupt or foreign file
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"data file {path}: not a readable parquet file ({msg})") from None
