"""Schemas of the `data` and `features` config groups."""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING


@dataclass
class DataConfig:
    source: str = MISSING
    # Missing hours are forward-filled up to this many hours; longer gaps split the series
    # into segments that no feature window, label or sequence window crosses.
    max_ffill_hours: int = 2


@dataclass
class SyntheticDataConfig(DataConfig):
    source: str = "synthetic"
    start: str = "2020-01-01"
    end: str = "2025-12-31"
    seed: int = 42  # the market's own seed: a `seed=` sweep must not change the data
    # Strength of the planted predictive signal; 0 gives a no-signal control market.
    signal_strength: float = 0.05


@dataclass
class CsvDataConfig(DataConfig):
    source: str = "csv"
    path: str = MISSING


@dataclass
class ParquetDataConfig(DataConfig):
    source: str = "parquet"
    path: str = MISSING


@dataclass
class NpzDataConfig(DataConfig):
    source: str = "npz"
    path: str = MISSING


@dataclass
class FeaturesConfig:
    return_windows: list[int] = field(default_factory=lambda: [1, 4, 24])
    zscore_windows: list[int] = field(default_factory=lambda: [7, 24])
    # Columns whose training std is below this are dropped (train part only).
    constant_tol: float = 1e-12
