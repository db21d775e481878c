"""Prices a feed gets wrong, and headers that name a column twice.

The policy (``data.bad_prices``, documented in ``trainer.data.validate``): an error naming the
file, the column and the row by default; ``drop`` and ``clip`` repair with a warning; a level
shift is always an error. Every case runs on csv and parquet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import hourly_market
from trainer.data.config import CsvDataConfig, FeaturesConfig, ParquetDataConfig
from trainer.data.features import build_features
from trainer.data.market import load_market
from trainer.errors import UserError

ROWS = 400
Edit = Callable[[pd.DataFrame], pd.DataFrame]


def _good() -> pd.DataFrame:
    return hourly_market(ROWS)


def _scale(columns: list[str], rows: slice, factor: float) -> Edit:
    def edit(df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        for c in columns:
            df.loc[df.index[rows], c] = df.loc[df.index[rows], c] * factor
        return df

    return edit


def _put(column: str, row: int, value: float) -> Edit:
    def edit(df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        df.loc[row, column] = value
        return df

    return edit


def _past(column: str, row: int, bound: str, factor: float) -> Edit:
    """``column`` at ``row`` set just past its bar's ``bound`` (high or low)."""

    def edit(df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        df.loc[row, column] = df.loc[row, bound] * factor
        return df

    return edit


OHLC = ["open", "high", "low", "close"]
# (case, edit, column and row (from 1) of the error, rows dropped by drop, and by clip)
CASES: list[tuple[str, Edit, str, int, int, int]] = [
    ("a 1e308 bar", _put("close", 100, 1e308), "close", 101, 1, 1),
    ("a 1e308 volume", _put("volume", 90, 1e308), "volume", 91, 1, 1),
    ("a single tick 1e6x its neighbours", _scale(OHLC, slice(150, 151), 1e6), "open", 151, 1, 1),
    ("a tick 1e6x in close only", _put("close", 160, 4e10), "close", 161, 1, 1),
    ("a tick 1e-6x", _scale(OHLC, slice(170, 171), 1e-6), "open", 171, 1, 1),
    ("two bad hours", _scale(["close"], slice(180, 182), 1e6), "close", 181, 2, 2),
    ("close above the high", _past("close", 120, "high", 1.005), "close", 121, 1, 0),
    ("close below the low", _past("close", 125, "low", 0.995), "close", 126, 1, 0),
    ("open below the low", _past("open", 130, "low", 0.99), "open", 131, 1, 0),
    ("a 1e6x close above the high", _put("close", 135, 4e10), "close", 136, 1, 1),
]


def _write(df: pd.DataFrame, path: Path) -> None:
    if path.suffix == ".csv":
        df.to_csv(path, index=False)
    else:  # through pyarrow: it keeps a repeated column name as pandas would not
        arrays = [pa.array(df.iloc[:, i].to_numpy()) for i in range(df.shape[1])]
        pq.write_table(pa.table(arrays, names=[str(c) for c in df.columns]), path)


def _config(path: Path, policy: str = "error") -> CsvDataConfig | ParquetDataConfig:
    cls = CsvDataConfig if path.suffix == ".csv" else ParquetDataConfig
    return cls(path=str(path), bad_prices=policy)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize(
    ("case", "edit", "column", "row", "_d", "_c"), CASES, ids=[c[0] for c in CASES]
)
def test_a_bad_price_is_an_error_naming_file_column_and_row(
    tmp_path: Path, suffix: str, case: str, edit: Edit, column: str, row: int, _d: int, _c: int
) -> None:
    path = tmp_path / f"market{suffix}"
    _write(edit(_good()), path)
    with pytest.raises(UserError) as err:
        load_market(_config(path))
    message = str(err.value)
    assert message.startswith(f"data file {path}, column '{column}', row {row}: ")
    assert "data.bad_prices=drop" in message and "\n" not in message


@pytest.mark.parametrize("policy", ["drop", "clip"])
@pytest.mark.parametrize(
    ("case", "edit", "_col", "row", "dropped", "clip_dropped"), CASES, ids=[c[0] for c in CASES]
)
def test_drop_and_clip_repair_bad_prices_with_a_warning_and_nothing_can_overflow(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    policy: str,
    case: str,
    edit: Edit,
    _col: str,
    row: int,
    dropped: int,
    clip_dropped: int,
) -> None:
    path = tmp_path / "market.csv"
    bad = edit(_good())
    _write(bad, path)
    with caplog.at_level(logging.WARNING):
        market = load_market(_config(path, policy))
    assert f"row {row}" in caplog.text and f"data.bad_prices={policy}" in caplog.text
    n_dropped = dropped if policy == "drop" else clip_dropped
    assert market.attrs["gaps_before_fill"]["missing_hours"] == n_dropped
    assert len(market) == ROWS  # a dropped hour is filled forward like any short gap
    prices = market[["open", "high", "low", "close"]].to_numpy()
    assert np.all(prices < 1e6) and np.all(prices > 1e3)  # the bad values are gone
    assert np.all(market["close"] <= market["high"]) and np.all(market["close"] >= market["low"])
    features = build_features(market, FeaturesConfig())
    assert np.isfinite(features.to_numpy()[~np.isnan(features.to_numpy())]).all()


@pytest.mark.parametrize("policy", ["error", "drop", "clip"])
def test_a_permanent_jump_is_an_error_whatever_the_policy(tmp_path: Path, policy: str) -> None:
    path = tmp_path / "market.csv"
    _write(_scale(OHLC, slice(200, None), 1e6)(_good()), path)
    with pytest.raises(UserError, match=r"column 'open', row 201: .*stays there .*units changed"):
        load_market(_config(path, policy))


@pytest.mark.parametrize("policy", ["error", "drop", "clip"])
def test_a_good_table_loads_unchanged_under_every_policy(tmp_path: Path, policy: str) -> None:
    path = tmp_path / "market.csv"
    _write(_good(), path)
    market = load_market(_config(path, policy))
    assert np.allclose(market["close"].to_numpy(), _good()["close"].to_numpy())


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize(
    ("names", "column", "where"),
    [
        (["timestamp", "open", "high", "low", "close", "close"], "close", "columns 5 and 6"),
        (["timestamp", "close", "volume", "volume", "high", "low"], "volume", "columns 3 and 4"),
        (
            ["timestamp", "timestamp", "close", "open", "high", "low"],
            "timestamp",
            "columns 1 and 2",
        ),
    ],
)
def test_a_column_named_twice_is_named_as_such(
    tmp_path: Path, suffix: str, names: list[str], column: str, where: str
) -> None:
    df = _good()[["timestamp", "open", "high", "low", "close", "volume"]]
    df.columns = pd.Index(names)
    path = tmp_path / f"market{suffix}"
    _write(df, path)
    with pytest.raises(UserError) as err:
        load_market(_config(path))
    assert str(err.value) == (
        f"data file {path}, column '{column}': appears twice in the header ({where}); keep one"
    )
