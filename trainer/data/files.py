"""Reading a csv or parquet data file as it is (validated afterwards by ``trainer.data.validate``).

Shared by ``trainer.data.market`` (``data=csv|parquet``) and ``trainer.data.joined``
(``data=binance_btc``: one file per role). A missing or unreadable file, or a header naming a
column twice, raises ``UserError`` naming it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from trainer.errors import UserError

TAIL_BLOCK = 1 << 16  # first bytes tried from a file's end; quadrupled until the rows suffice


@dataclass(frozen=True)
class Recent:
    """Only a file's last rows are wanted (``python -m trainer.predict``): those from ``since``
    on, or the last ``hours`` hours. A hint: a file may be read whole, never less."""

    since: pd.Timestamp | None = None  # UTC
    hours: int | None = None

    def bound(self, last: pd.Timestamp, extra_hours: int) -> pd.Timestamp:
        """The earliest timestamp the rows read must reach back to."""
        extra = pd.Timedelta(hours=extra_hours)
        if self.since is not None:
            return self.since - extra
        return last - pd.Timedelta(hours=self.hours or 0) - extra


def _exists(path: Path) -> None:
    if not path.is_file():
        raise UserError(f"data.path={path}: file not found (relative paths start at {Path.cwd()})")


def read_csv(
    path: Path,
    time_column: str = "timestamp",
    recent: Recent | None = None,
    extra_hours: int = 0,
) -> pd.DataFrame:
    """A csv as read, with the time column kept as text (validated later).

    With ``recent``, only the file's last rows that reach back to ``recent.bound`` (less
    ``extra_hours``) are parsed: an hourly caller needs the end of a file of years.
    """
    _exists(path)
    if recent is not None:
        tail = _read_tail(path, time_column, recent, extra_hours)
        if tail is not None:
            return tail
    return _parse_csv(path, path, time_column)


def _parse_csv(source: Any, path: Path, time_column: str) -> pd.DataFrame:
    try:
        # pandas renames a repeated header name (close, close.1): read the header as written
        header = pd.read_csv(path, header=None, nrows=1, dtype=str, skipinitialspace=True)
        unique_columns(f"data file {path}", [str(c) for c in header.iloc[0]])
        return pd.read_csv(source, dtype={time_column: str}, skipinitialspace=True)
    except UserError:
        raise
    except pd.errors.EmptyDataError:
        raise UserError(f"data file {path}: empty file; need a header and data rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        msg = str(exc).strip().splitlines()[0]
        raise UserError(f"data file {path}: not a readable csv ({msg})") from None


def _read_tail(
    path: Path, time_column: str, recent: Recent, extra_hours: int
) -> pd.DataFrame | None:
    """The file's last whole lines under its header, growing until their first timestamp is
    at or before the bound; None when the whole file is needed (or a time does not parse:
    the whole file's validation then names the row)."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        header = fh.readline()
        block = TAIL_BLOCK
        while size - block > len(header):
            fh.seek(size - block)
            body = fh.read()
            body = body[body.find(b"\n") + 1 :]  # drop the partial first line
            frame = _parse_csv(io.BytesIO(header + body), path, time_column)
            if len(frame) < 2 or time_column not in frame.columns:
                return None
            first, last = (_stamp(frame[time_column].iloc[i]) for i in (0, -1))
            if first is None or last is None:
                return None
            if first <= recent.bound(last, extra_hours):
                return frame
            block *= 4
    return None


def _stamp(text: object) -> pd.Timestamp | None:
    try:
        t = pd.Timestamp(str(text).strip())
    except (ValueError, TypeError):
        return None
    if pd.isna(t):
        return None
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


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
