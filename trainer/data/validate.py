"""Turn a raw table read from a file into a validated hourly market table, or raise UserError.

Called by ``trainer.data.market`` (csv, parquet) and ``trainer.data.joined`` (each file of a
joined source) before any work. Every message names the file, the column and the first offending
row (rows counted from 1 after the header), and what is allowed.

Market columns by role (any subset beyond ``close``):

- price: ``open, high, low, close, volume`` (``close`` required, never NaN: a missing hour is a
  missing row);
- futures: ``futures_close`` (perpetual trade price), ``futures_mark`` (mark price);
- funding: ``funding_rate`` (per 8h settlement);
- macro: ``macro_<name>``; on-chain: ``onchain_<name>``.

Prices a feed gets wrong (``data.bad_prices``, see ``screen_prices``): a value beyond
``MAX_ABS``, a price that jumps more than ``MAX_JUMP`` times in an hour and comes back (a bad
tick), or an open or close outside its bar's [low, high], is an error naming the row by default;
``drop`` removes such rows (each becomes a missing hour) and ``clip`` puts open and close back
inside [low, high] and drops the rest, each with a warning. A jump that does not come back
within ``SPIKE_HOURS`` (units changed mid-file) is always an error.

Price and futures columns may start late (NaN before the first value); later NaN runs of at most
``max_ffill_hours`` are forward-filled, longer ones are an error. Funding, macro and on-chain
columns are slower than the table: they are held (forward-filled) from each known value.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd

from trainer.data.calendar import ALWAYS_OPEN, Calendar, epoch_hours
from trainer.data.gaps import fill_short_gaps, gap_report
from trainer.errors import UserError

PRICE = ("open", "high", "low", "close", "volume")
FUTURES = ("futures_close", "futures_mark")
FUNDING = ("funding_rate",)
PREFIXES = ("macro_", "onchain_")
ALLOWED = (
    "open, high, low, close, volume, futures_close, futures_mark, funding_rate, "
    "macro_<name>, onchain_<name>"
)
POSITIVE = ("open", "high", "low", "close", *FUTURES)
BAD_PRICES = ("error", "drop", "clip")
# No market quotes beyond this: every square and sum of the features stays far from overflow.
MAX_ABS = 1e18
# An hourly move beyond this factor (either way) is a bad tick when it comes back within
# SPIKE_HOURS, and a change of units when it does not.
MAX_JUMP = 10.0
SPIKE_HOURS = 24
log = logging.getLogger(__name__)
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_UTC_SUFFIX = re.compile(r"(?:Z|[+-]00:?00)$")


def is_market_column(name: str) -> bool:
    if name in PRICE or name in FUTURES or name in FUNDING:
        return True
    return any(name.startswith(p) and bool(_NAME.match(name[len(p) :])) for p in PREFIXES)


def held_column(name: str) -> bool:
    """Slower-than-hourly roles, held from each known value until the next."""
    return name in FUNDING or name.startswith(PREFIXES)


def _where(origin: str, column: str, row: int | None = None) -> str:
    at = f", row {row + 1}" if row is not None else ""
    return f"{origin}, column '{column}'{at}"


def parse_timestamps(
    values: pd.Series, origin: str, column: str = "timestamp", hourly: bool = True
) -> pd.DatetimeIndex:
    """UTC timestamps, on the hour when ``hourly``; strictly increasing (sorted, no duplicates).

    Strings must carry a UTC marker (``Z`` or ``+00:00``); datetime columns must be UTC-aware.
    With ``hourly=False`` (daily files) plain dates are accepted and read as UTC midnights.
    """
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise UserError(f"{_where(origin, column, row)}: empty timestamp")
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        if str(values.dt.tz) not in ("UTC", "utc", "UTC+00:00"):
            raise UserError(
                f"{_where(origin, column, 0)}: timestamps in {values.dt.tz}; must be UTC"
            )
        stamps = pd.DatetimeIndex(values)
    elif pd.api.types.is_datetime64_dtype(values.dtype):
        if hourly:
            raise UserError(f"{_where(origin, column, 0)}: naive timestamps; must be UTC-aware")
        stamps = pd.DatetimeIndex(values).tz_localize("UTC")
    else:
        text = values.astype(str).str.strip()
        stamps = _parse_text(text, origin, column, hourly)
    if hourly:
        off = stamps != stamps.floor("h")
        if off.any():
            row = int(np.flatnonzero(off)[0])
            raise UserError(
                f"{_where(origin, column, row)}: {stamps[row]} is not on the hour; "
                "rows must be hourly bars stamped at their open"
            )
    step = np.diff(stamps.asi8)
    if (step <= 0).any():
        row = int(np.flatnonzero(step <= 0)[0]) + 1
        what = "duplicated" if step[row - 1] == 0 else "out of order (earlier than the row before)"
        raise UserError(
            f"{_where(origin, column, row)}: timestamp {stamps[row]} is {what}; "
            "timestamps must be sorted and unique"
        )
    return pd.DatetimeIndex(stamps, name="timestamp").as_unit("ns")


def _parse_text(text: pd.Series, origin: str, column: str, hourly: bool) -> pd.DatetimeIndex:
    date_only = text.str.fullmatch(r"\d{4}-\d{2}-\d{2}")
    if hourly or not date_only.all():
        no_tz = ~text.str.contains(_UTC_SUFFIX)
        if no_tz.any():
            row = int(np.flatnonzero(no_tz.to_numpy())[0])
            raise UserError(
                f"{_where(origin, column, row)}: '{text.iloc[row]}' has no UTC marker; "
                "write ISO-8601 UTC such as 2024-01-31T13:00:00Z"
            )
    parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    if parsed.isna().any():
        row = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise UserError(
            f"{_where(origin, column, row)}: cannot parse '{text.iloc[row]}' as a timestamp; "
            "write ISO-8601 UTC such as 2024-01-31T13:00:00Z"
        )
    return pd.DatetimeIndex(parsed)


def parse_numbers(values: pd.Series, origin: str, column: str) -> np.ndarray:
    """float64 values; text that is not a number, or an infinity, is an error naming the row."""
    if pd.api.types.is_bool_dtype(values.dtype):
        raise UserError(f"{_where(origin, column, 0)}: booleans; must be numbers")
    if pd.api.types.is_numeric_dtype(values.dtype):
        out = values.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        out = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.isnan(out) & values.notna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise UserError(f"{_where(origin, column, row)}: '{values.iloc[row]}' is not a number")
    if np.isinf(out).any():
        row = int(np.flatnonzero(np.isinf(out))[0])
        raise UserError(f"{_where(origin, column, row)}: infinite value; must be finite")
    return out


def _check_nan_runs(values: np.ndarray, origin: str, column: str, max_hours: int) -> None:
    """Price-like columns: NaN only before the first value, or in runs of at most max_hours."""
    nan = np.isnan(values)
    if not nan.any():
        return
    if column == "close":
        row = int(np.flatnonzero(nan)[0])
        raise UserError(
            f"{_where(origin, column, row)}: close is empty; a missing hour must be a missing row"
        )
    known = np.flatnonzero(~nan)
    if known.size == 0:
        raise UserError(f"{_where(origin, column)}: every value is empty; drop the column")
    after = nan.copy()
    after[: known[0]] = False  # a late start (e.g. before a listing) is fine
    if not after.any():
        return
    # lengths of NaN runs after the first value
    edges = np.diff(np.concatenate(([0], after.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    long = np.flatnonzero(ends - starts > max_hours)
    if long.size:
        row = int(starts[long[0]])
        raise UserError(
            f"{_where(origin, column, row)}: {int(ends[long[0]] - row)} empty rows in a row; "
            f"at most data.max_ffill_hours={max_hours} are forward-filled"
        )


def _check_values(table: pd.DataFrame, origin: str, bad_prices: str = "error") -> pd.DataFrame:
    for col in POSITIVE:
        if col in table.columns:
            bad = (table[col] <= 0).to_numpy()
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise UserError(
                    f"{_where(origin, col, row)}: price {table[col].iloc[row]:g}; must be > 0"
                )
    if "volume" in table.columns:
        bad = (table["volume"] < 0).to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise UserError(f"{_where(origin, 'volume', row)}: negative volume; must be >= 0")
    if "high" in table.columns and "low" in table.columns:
        bad = (table["high"] < table["low"]).to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise UserError(f"{_where(origin, 'high', row)}: high below low")
    return screen_prices(table, origin, bad_prices)


def _spikes_and_jumps(values: np.ndarray) -> tuple[list[tuple[int, int]], list[int]]:
    """Rows of bad ticks (first, last) and of level shifts in one price column (NaN ignored).

    A move beyond MAX_JUMP that the price undoes within SPIKE_HOURS rows (back within MAX_JUMP
    of the level before it) is a bad tick; one it never undoes is a level shift.
    """
    rows = np.flatnonzero(np.isfinite(values) & (values > 0))
    if rows.size < 2:
        return [], []
    logs = np.log(values[rows])
    step = np.diff(logs)
    limit = np.log(MAX_JUMP)
    big = np.flatnonzero(np.abs(step) > limit) + 1  # positions in `rows` entering a move
    spikes, jumps = [], []
    i = 0
    while i < len(big):
        start = big[i]
        back = None
        for j in range(i + 1, len(big)):
            end = big[j]
            if rows[end] - rows[start] > SPIKE_HOURS:
                break
            if abs(logs[end] - logs[start - 1]) <= limit:
                back = j
                break
        if back is None:
            jumps.append(int(rows[start]))
            i += 1
        else:
            spikes.append((int(rows[start]), int(rows[big[back] - 1])))
            i = back + 1
    return spikes, jumps


def screen_prices(table: pd.DataFrame, origin: str, policy: str = "error") -> pd.DataFrame:
    """Apply ``data.bad_prices`` (see the module doc) to a parsed table; rows as in the file."""
    bad = np.zeros(len(table), dtype=bool)
    first: tuple[int, str, str] | None = None

    def found(rows: np.ndarray, column: str, what: str) -> None:
        nonlocal first
        if rows.size and (first is None or rows[0] < first[0]):
            first = (int(rows[0]), column, what)
        bad[rows] = True

    for col in table.columns:
        values = table[col].to_numpy()
        huge = np.flatnonzero(np.abs(np.nan_to_num(values)) > MAX_ABS)
        found(huge, col, f"{values[huge[0]] if huge.size else 0:g} is beyond {MAX_ABS:g}")
    for col in (c for c in POSITIVE if c in table.columns):
        values = np.where(bad, np.nan, table[col].to_numpy())
        spikes, jumps = _spikes_and_jumps(values)
        if jumps:
            row = jumps[0]
            raise UserError(
                f"{_where(origin, col, row)}: the price moves more than {MAX_JUMP:g}x in an hour"
                f" and stays there for over {SPIKE_HOURS} hours (units changed?); fix the file"
            )
        for a, b in spikes:
            found(
                np.arange(a, b + 1),
                col,
                f"a bad tick: more than {MAX_JUMP:g}x its neighbours, back within"
                f" {b - a + 1} hour(s)",
            )
    if {"high", "low"} <= set(table.columns):
        high, low = table["high"].to_numpy(), table["low"].to_numpy()
        for col in ("open", "close"):
            if col in table.columns:
                v = table[col].to_numpy()
                outside = np.flatnonzero((v > high * (1 + 1e-9)) | (v < low * (1 - 1e-9)))
                if policy != "clip":
                    found(outside, col, f"{col} outside the bar's [low, high]")
                elif outside.size:
                    table = table.copy()
                    table[col] = np.clip(v, low, high)
                    log.warning(
                        "%s: %d %s value(s) outside [low, high] clipped (data.bad_prices=clip),"
                        " the first at row %d",
                        _where(origin, col),
                        outside.size,
                        col,
                        int(outside[0]) + 1,
                    )
    if first is None:
        return table
    row, col, what = first
    if policy == "error":
        raise UserError(
            f"{_where(origin, col, row)}: {what}; fix the file, or set data.bad_prices=drop"
            " (drop such rows) or clip (clip open/close into [low, high], drop the rest)"
        )
    log.warning(
        "%s: %s; %d row(s) with bad prices dropped (data.bad_prices=%s), each now a missing hour",
        _where(origin, col, row),
        what,
        int(bad.sum()),
        policy,
    )
    return table[~bad]


def market_table(
    raw: pd.DataFrame,
    origin: str,
    max_ffill_hours: int,
    calendar: Calendar = ALWAYS_OPEN,
    closed_rows: str = "error",
    bad_prices: str = "error",
) -> pd.DataFrame:
    """Validate a raw table (a ``timestamp`` column plus role columns) into the market table."""
    if len(raw) == 0:
        raise UserError(f"{origin}: no data rows; need a 'timestamp' and a 'close' column")
    columns = [str(c).strip() for c in raw.columns]
    raw = raw.set_axis(columns, axis=1)
    if "timestamp" not in columns:
        raise UserError(
            f"{origin}: no 'timestamp' column (found: {', '.join(columns)}); "
            "name the UTC time column 'timestamp'"
        )
    roles = [c for c in columns if c != "timestamp"]
    for col in roles:
        if not is_market_column(col):
            raise UserError(f"{_where(origin, col)}: not a market column; allowed: {ALLOWED}")
    if len(set(roles)) != len(roles):
        dup = next(c for c in roles if roles.count(c) > 1)
        raise UserError(f"{_where(origin, dup)}: appears twice")
    if "close" not in roles:
        raise UserError(f"{_where(origin, 'close')}: missing; the close price is required")
    index = parse_timestamps(raw["timestamp"], origin)
    table = pd.DataFrame({c: parse_numbers(raw[c], origin, c) for c in roles}, index=index)
    for col in roles:
        if not held_column(col):
            _check_nan_runs(table[col].to_numpy(), origin, col, max_ffill_hours)
    table = _check_values(table, origin, bad_prices)
    return finish(open_rows(table, origin, calendar, closed_rows), max_ffill_hours, calendar)


def open_rows(
    table: pd.DataFrame, origin: str, calendar: Calendar, closed_rows: str
) -> pd.DataFrame:
    """The rows of hours the calendar has open: rows stamped in closed hours are an error naming
    the first (``closed_rows=error``), or dropped (``drop``: feeds that quote a little past the
    close, or follow New York's daylight saving time while the calendar is in UTC)."""
    closed = ~calendar.is_open(epoch_hours(table.index))
    if not closed.any():
        return table
    if closed_rows == "drop":
        return table[~closed]
    row = int(np.flatnonzero(closed)[0])
    raise UserError(
        f"{origin}, row {row + 1}: {table.index[row].isoformat()} is an hour the market is"
        f" closed (data.calendar={calendar.name}: {calendar.describe()}); rows in closed"
        f" hours: {int(closed.sum())}. Set data.closed_rows=drop to drop them, or describe the"
        " market's hours with data.calendar=weekly and data.closures"
    )


def finish(
    table: pd.DataFrame, max_ffill_hours: int, calendar: Calendar = ALWAYS_OPEN
) -> pd.DataFrame:
    """Fill short NaN runs and short missing open hours, forward only; hold slow roles.

    ``attrs["gaps_before_fill"]`` keeps the gap report of the table as it was read;
    ``attrs["calendar"]`` the calendar whose open hours the rows are.
    """
    filled = table.copy()
    for col in filled.columns:
        limit = None if held_column(col) else max(max_ffill_hours, 1)
        filled[col] = filled[col].ffill(limit=limit)
    out = fill_short_gaps(filled, max_ffill_hours, calendar)
    out.attrs["gaps_before_fill"] = gap_report(pd.DatetimeIndex(table.index), calendar)
    out.attrs["calendar"] = calendar
    return out
