"""Reading a csv or parquet data file as it is (validated afterwards by ``trainer.data.validate``).

Shared by ``trainer.data.market`` (``data=csv|parquet``) and ``trainer.data.joined``
(``data=binance_btc``: one file per role). A missing or unreadable file raises ``UserError``
naming it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from trainer.errors import UserError


def _exists(path: Path) -> None:
    if not path.is_file():
        raise UserError(f"data.path={path}: file not found (relative paths start at {Path.cwd()})")


def read_csv(path: Path, time_column: str = "timestamp") -> pd.DataFrame:
    """A csv as read, with the time column kept as text (validated later)."""
    _exists(path)
    try:
        return pd.read_csv(path, dtype={time_column: str}, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise UserError(f"data file {path}: empty file; need a header and data rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        msg = str(exc).strip().splitlines()[0]
        raise UserError(f"data file {path}: not a readable csv ({msg})") from None


def read_parquet(path: Path) -> pd.DataFrame:
    _exists(path)
    try:
        return pd.read_parquet(path, engine="pyarrow")
    except Exception as exc:  # pyarrow raises several types for a corrupt or foreign file
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"data file {path}: not a readable parquet file ({msg})") from None
