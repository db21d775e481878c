"""Join several files by role into one hourly market table (``data=binance_btc``).

Called by ``trainer.data.market.load_market``. The one ``price`` file gives the hourly index;
every other file is placed on it by the hour each of its rows becomes *known*: a row stamped T
with ``lag_hours`` L is known from T + L (floored to the hour: a bar stamped H covers
[H, H+1h) and its features are computed at its close, H+1h, so anything known before then may
be used). Each value is then held forward for at most ``max_stale_hours``; nothing is ever taken
from a row that is not yet known, so the join has no look-ahead.

Roles and the columns they give (``columns`` picks a subset for macro/onchain):

- ``price``: open, high, low, close, volume (hourly bars; the table's index);
- ``futures`` / ``futures_mark``: the file's ``close`` as ``futures_close`` / ``futures_mark``;
- ``funding``: ``funding_rate`` (settlements, e.g. every 8h);
- ``macro`` / ``onchain``: every numeric column ``c`` as ``macro_c`` / ``onchain_c`` (daily; plain
  dates are UTC midnights, so a one-day lag makes the value of D known from D+1 00:00 UTC).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from trainer.data.config import ROLES, JoinedDataConfig, RoleFileConfig
from trainer.data.files import Recent, read_csv, read_parquet
from trainer.data.validate import (
    PRICE,
    _check_nan_runs,
    _check_values,
    finish,
    open_rows,
    parse_numbers,
    parse_timestamps,
)
from trainer.errors import UserError

HOURLY_ROLES = ("price", "futures", "futures_mark")


def load_joined(cfg: JoinedDataConfig, recent: Recent | None = None) -> pd.DataFrame:
    """The market table joined from ``cfg.files`` under ``cfg.root`` (see module doc).

    ``recent``: the price file is read from its end back to the hours asked for, every other
    file back to the price rows read, less its lag and how long its values are held.
    """
    root = Path(cfg.root)
    if not root.is_dir():
        raise UserError(f"data.root={cfg.root}: folder not found (relative to {Path.cwd()})")
    for key, spec in cfg.files.items():
        _check_spec(key, spec)
    prices = [k for k, f in cfg.files.items() if f.role == "price"]
    if len(prices) != 1:
        raise UserError(
            f"data.files: exactly one file must have role 'price' (found {len(prices)}: "
            f"{', '.join(prices) or 'none'})"
        )
    # Read and validate every file before joining anything (the price file first: with
    # ``recent`` it says how far back the others are needed).
    first = cfg.files[prices[0]]
    parts = {
        prices[0]: _read_role(prices[0], first, root, cfg.max_ffill_hours, cfg.bad_prices, recent)
    }
    if recent is not None:
        recent = Recent(since=pd.DatetimeIndex(parts[prices[0]].index)[0])
    for key, spec in cfg.files.items():
        if key not in parts:
            parts[key] = _read_role(key, spec, root, cfg.max_ffill_hours, cfg.bad_prices, recent)
    # Fill the price file's short gaps first, so every other role lands on the final hours.
    calendar = cfg.trading_calendar()
    spec = cfg.files[prices[0]]
    price = open_rows(
        parts[prices[0]], f"data file {Path(cfg.root) / spec.path}", calendar, cfg.closed_rows
    )
    table = finish(_trim(price, cfg), cfg.max_ffill_hours, calendar)
    for key, spec in cfg.files.items():
        if spec.role == "price":
            continue
        for column, values in parts[key].items():
            if column in table.columns:
                raise UserError(
                    f"data.files.{key}: column '{column}' is already given by another file"
                )
            table[column] = _place(values, spec, pd.DatetimeIndex(table.index))
    return table


def _check_spec(key: str, spec: RoleFileConfig) -> None:
    if spec.role not in ROLES:
        raise UserError(f"data.files.{key}.role={spec.role!r}: must be one of {', '.join(ROLES)}")
    if spec.lag_hours < 0:
        raise UserError(f"data.files.{key}.lag_hours={spec.lag_hours}: must be >= 0")
    if spec.max_stale_hours < 0:
        raise UserError(f"data.files.{key}.max_stale_hours={spec.max_stale_hours}: must be >= 0")


def _read_role(
    key: str,
    spec: RoleFileConfig,
    root: Path,
    max_ffill: int,
    bad_prices: str = "error",
    recent: Recent | None = None,
) -> pd.DataFrame:
    """One file as a frame of its table columns, indexed by the file's own (UTC) timestamps."""
    path = root / spec.path
    if not path.is_file():
        raise UserError(f"data.files.{key}.path={spec.path}: file not found under {root}")
    if path.suffix == ".parquet":
        raw = read_parquet(path)
    else:
        # A value is used lag_hours after its stamp and held max_stale_hours: read that far back.
        back = spec.lag_hours + max(spec.max_stale_hours, max_ffill) + 24
        raw = read_csv(path, spec.time_column, recent, back)
    origin = f"data file {path}"
    if len(raw) == 0:
        raise UserError(f"{origin}: no data rows")
    if spec.time_column not in raw.columns:
        raise UserError(
            f"{origin}: no '{spec.time_column}' column (found: {', '.join(map(str, raw.columns))});"
            f" set data.files.{key}.time_column"
        )
    mapping = _columns(key, spec, [str(c) for c in raw.columns], origin)
    index = parse_timestamps(
        raw[spec.time_column], origin, spec.time_column, hourly=spec.role in HOURLY_ROLES
    )
    frame = pd.DataFrame(
        {new: parse_numbers(raw[old], origin, old) for old, new in mapping.items()}, index=index
    )
    if spec.role in HOURLY_ROLES:
        for old, new in mapping.items():
            _check_nan_runs(frame[new].to_numpy(), origin, old, max_ffill)
        named = frame.rename(columns={v: k for k, v in mapping.items()})  # as in the file
        frame = _check_values(named, origin, bad_prices).rename(columns=mapping)
    return frame


def _columns(key: str, spec: RoleFileConfig, found: list[str], origin: str) -> dict[str, str]:
    """File column -> table column, for the role."""
    if spec.role == "price":
        wanted = {c: c for c in PRICE if c in found}
        if "close" not in wanted:
            raise UserError(f"{origin}, column 'close': missing; the price file needs a close")
        return wanted
    if spec.role in ("futures", "futures_mark"):
        if "close" not in found:
            raise UserError(f"{origin}, column 'close': missing; a {spec.role} file needs a close")
        return {"close": "futures_close" if spec.role == "futures" else "futures_mark"}
    if spec.role == "funding":
        if "funding_rate" not in found:
            raise UserError(f"{origin}, column 'funding_rate': missing")
        return {"funding_rate": "funding_rate"}
    names = spec.columns or [c for c in found if c != spec.time_column]
    for c in names:
        if c not in found:
            raise UserError(
                f"data.files.{key}.columns: '{c}' is not a column of {origin} "
                f"(found: {', '.join(found)})"
            )
    prefix = "macro_" if spec.role == "macro" else "onchain_"
    return {c: prefix + c.strip().lower().replace(" ", "_") for c in names}


def _trim(price: pd.DataFrame, cfg: JoinedDataConfig) -> pd.DataFrame:
    out = price
    if cfg.start:
        out = out[out.index >= pd.Timestamp(cfg.start, tz="UTC")]
    if cfg.end:
        out = out[out.index < pd.Timestamp(cfg.end, tz="UTC") + pd.Timedelta(days=1)]
    if len(out) == 0:
        raise UserError(f"data.start={cfg.start}, data.end={cfg.end}: no price rows in between")
    return out.copy()


def _place(values: pd.Series, spec: RoleFileConfig, index: pd.DatetimeIndex) -> np.ndarray:
    """Values on the hourly index, each from the hour it is known, held max_stale_hours."""
    known = values.dropna()
    known.index = (pd.DatetimeIndex(known.index) + pd.Timedelta(hours=spec.lag_hours)).floor("h")
    known = known[~known.index.duplicated(keep="last")]  # two rows known in one hour: the later
    if known.empty:
        return np.full(len(index), np.nan)
    placed = known.reindex(
        index, method="ffill", tolerance=pd.Timedelta(hours=spec.max_stale_hours)
    )
    return np.asarray(placed.to_numpy(dtype=np.float64))
