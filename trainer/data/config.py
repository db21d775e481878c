"""Schemas of the `data` and `features` config groups (registered by ``trainer.config``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING

from trainer.data.calendar import Calendar, make_calendar
from trainer.errors import (
    MAX_WINDOW_HOURS,
    WINDOW_WHY,
    UserError,
    at_most,
    check_seed,
    in_range,
    one_of,
    path_text,
)


@dataclass
class ClosureConfig:
    """A weekly closure of ``data.calendar=weekly`` (UTC): ``{start: 'Fri 22:00', end: ...}``."""

    start: str = MISSING  # first closed hour: a weekday and a whole hour
    end: str = MISSING  # first open hour after it


# target.horizon -> hours: the label horizons a table offers and a run may predict
HORIZONS = {"1h": 1, "4h": 4}


@dataclass
class DataConfig:
    source: str = MISSING
    # Missing hours are forward-filled up to this many hours; longer gaps split the series
    # into segments that no feature window, label or sequence window crosses.
    max_ffill_hours: int = 2
    # Prices a feed got wrong (a value past 1e18, a bad tick more than 10x its neighbours, an
    # open or close outside [low, high]): error (naming file, column, row) | drop (the rows
    # become missing hours) | clip (open/close into [low, high]; the rest dropped), with a warning
    bad_prices: str = "error"
    # When the market trades: 24/7 | fx (closed Fri 22:00 to Sun 22:00 UTC) | weekly (closures
    # below). Closed hours are not gaps: windows, labels and the fill limit count open hours.
    calendar: str = "24/7"
    closures: list[ClosureConfig] = field(default_factory=list)  # data.calendar=weekly only
    closed_rows: str = "error"  # rows stamped in closed hours: error | drop (e.g. DST shifts)

    def __post_init__(self) -> None:
        one_of("data.bad_prices", self.bad_prices, ("error", "drop", "clip"))
        in_range(
            "data.max_ffill_hours",
            self.max_ffill_hours,
            0,
            168,
            "hours of prices invented by holding the last one; beyond a week, a gap",
        )
        one_of("data.closed_rows", self.closed_rows, ("error", "drop"))
        self.trading_calendar()  # refuses a bad calendar before any work

    def trading_calendar(self) -> Calendar:
        return make_calendar(self.calendar, [(c.start, c.end) for c in self.closures])


@dataclass
class SyntheticDataConfig(DataConfig):
    source: str = "synthetic"
    start: str = "2020-01-01"
    end: str = "2025-12-31"
    seed: int = 42  # the market's own seed: a `seed=` sweep must not change the data
    # Strength of the planted predictive signal; 0 gives a no-signal control market.
    signal_strength: float = 0.15

    def __post_init__(self) -> None:
        super().__post_init__()
        check_seed("data.seed", self.seed)
        if not 0.0 <= self.signal_strength < 1.0:
            raise UserError(f"data.signal_strength={self.signal_strength}: must be in [0, 1)")


def check_date(key: str, value: str | None) -> None:
    """UserError unless ``value`` is None or a date pandas reads (YYYY-MM-DD[ HH:MM])."""
    if value is None:
        return
    import pandas as pd

    try:
        pd.Timestamp(value)
    except (ValueError, TypeError):
        raise UserError(f"{key}={value!r}: not a date (use YYYY-MM-DD)") from None


@dataclass
class FileDataConfig(DataConfig):
    path: str = MISSING

    def __post_init__(self) -> None:
        super().__post_init__()
        path_text("data.path", self.path)


@dataclass
class TableFileDataConfig(FileDataConfig):
    """One hourly market table in a file, optionally cut to [start, end] (UTC, inclusive)."""

    start: str | None = None  # null: from the file's first row
    end: str | None = None  # null: to its last row; a date means through the end of that day

    def __post_init__(self) -> None:
        super().__post_init__()
        check_date("data.start", self.start)
        check_date("data.end", self.end)


@dataclass
class CsvDataConfig(TableFileDataConfig):
    source: str = "csv"


@dataclass
class ParquetDataConfig(TableFileDataConfig):
    source: str = "parquet"


@dataclass
class NpzDataConfig(FileDataConfig):
    source: str = "npz"


ROLES = ("price", "futures", "futures_mark", "funding", "macro", "onchain")


@dataclass
class RoleFileConfig:
    """One file of a joined source: which role its columns play and when each row is known."""

    path: str = MISSING  # relative to data.root
    role: str = MISSING  # price | futures | futures_mark | funding | macro | onchain
    time_column: str = "timestamp"
    # A row stamped T is known from T + lag_hours (macro dated D: after the US close of D).
    lag_hours: int = 0
    # How long a value is held when the next one is missing; longer, the role is empty there.
    max_stale_hours: int = 2
    # The file's columns to take (macro/onchain); empty: every numeric column
    columns: list[str] = field(default_factory=list)


@dataclass
class JoinedDataConfig(DataConfig):
    """Several files joined by role onto the hourly index of the one ``price`` file."""

    source: str = "binance_btc"
    root: str = "../shared/data"
    files: dict[str, RoleFileConfig] = field(default_factory=dict)
    start: str | None = None  # trim the price file's index (UTC dates, inclusive)
    end: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        path_text("data.root", self.root)
        for key, spec in self.files.items():
            path_text(f"data.files.{key}.path", spec.path)


def _windows(key: str, values: list[int], low: int = 1) -> None:
    for v in values:
        if not isinstance(v, int) or v < low:
            raise UserError(f"{key}={list(values)}: every window must be an integer >= {low}")
        at_most(key, v, MAX_WINDOW_HOURS, WINDOW_WHY)
    at_most(f"{key} (count)", len(values), 32, "each window is a feature column per role")


@dataclass
class PriceFeatures:
    enabled: bool = True
    return_windows: list[int] = field(default_factory=lambda: [1, 4, 24])  # log ret, pct-change
    zscore_windows: list[int] = field(default_factory=lambda: [7, 24, 168])  # close vs its mean
    volatility_windows: list[int] = field(default_factory=lambda: [24, 168])  # std of 1h returns
    range_windows: list[int] = field(default_factory=lambda: [24])  # mean log(high/low)
    volume_zscore_windows: list[int] = field(default_factory=lambda: [24, 168])  # of log volume
    volume_delta_windows: list[int] = field(default_factory=lambda: [1, 24])  # log-volume change

    def __post_init__(self) -> None:
        _windows("features.price.return_windows", self.return_windows)
        _windows("features.price.zscore_windows", self.zscore_windows, 2)
        _windows("features.price.volatility_windows", self.volatility_windows, 2)
        _windows("features.price.range_windows", self.range_windows)
        _windows("features.price.volume_zscore_windows", self.volume_zscore_windows, 2)
        _windows("features.price.volume_delta_windows", self.volume_delta_windows)


@dataclass
class FuturesFeatures:
    """Basis (futures / spot - 1): ``basis_*`` from futures_close, ``mark_basis_*`` from mark."""

    enabled: bool = True
    delta_windows: list[int] = field(default_factory=lambda: [1, 24])
    zscore_windows: list[int] = field(default_factory=lambda: [24, 168])

    def __post_init__(self) -> None:
        _windows("features.futures.delta_windows", self.delta_windows)
        _windows("features.futures.zscore_windows", self.zscore_windows, 2)


@dataclass
class FundingFeatures:
    enabled: bool = True
    delta_windows: list[int] = field(default_factory=lambda: [8, 24])  # settlements are 8h apart
    zscore_windows: list[int] = field(default_factory=lambda: [24, 168])

    def __post_init__(self) -> None:
        _windows("features.funding.delta_windows", self.delta_windows)
        _windows("features.funding.zscore_windows", self.zscore_windows, 2)


@dataclass
class MacroFeatures:
    """Change over each window of every macro column, as held from its publication hour:
    pct-change for levels, difference for columns in percent (names ending in ``_pct``)."""

    enabled: bool = True
    change_windows: list[int] = field(default_factory=lambda: [24])

    def __post_init__(self) -> None:
        _windows("features.macro.change_windows", self.change_windows)


@dataclass
class OnchainFeatures:
    enabled: bool = True
    delta_windows: list[int] = field(default_factory=lambda: [24])
    zscore_windows: list[int] = field(default_factory=lambda: [168])

    def __post_init__(self) -> None:
        _windows("features.onchain.delta_windows", self.delta_windows)
        _windows("features.onchain.zscore_windows", self.zscore_windows, 2)


@dataclass
class FeaturesConfig:
    price: PriceFeatures = field(default_factory=PriceFeatures)
    futures: FuturesFeatures = field(default_factory=FuturesFeatures)
    funding: FundingFeatures = field(default_factory=FundingFeatures)
    macro: MacroFeatures = field(default_factory=MacroFeatures)
    onchain: OnchainFeatures = field(default_factory=OnchainFeatures)
    calendar: bool = True  # hour of day and day of week, as sin/cos (known in advance)
    # Columns whose training std is below this are dropped (train part only).
    constant_tol: float = 1e-12

    def __post_init__(self) -> None:
        in_range("features.constant_tol", self.constant_tol, 0.0, 1.0)
