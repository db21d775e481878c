"""Malformed market files: each ends in one UserError naming the file, the column and the row."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import hourly_market
from trainer.data.config import CsvDataConfig, FeaturesConfig, ParquetDataConfig
from trainer.data.features import build_features
from trainer.data.market import load_market
from trainer.errors import UserError

ROWS = 300


def _good() -> pd.DataFrame:
    df = hourly_market(ROWS)
    df["futures_close"] = df["close"] * 1.0001
    return df


def _set(column: str, row: int, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def edit(df: pd.DataFrame) -> pd.DataFrame:
        df = df.astype({column: object})
        df.loc[row, column] = value
        return df

    return edit


def _run(column: str, first: int, n: int, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def edit(df: pd.DataFrame) -> pd.DataFrame:
        df = df.astype({column: object})
        df.loc[first : first + n - 1, column] = value
        return df

    return edit


def _drop(column: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda df: df.drop(columns=[column])


def _dup_row(row: int) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda df: _set("timestamp", row, df.loc[row - 1, "timestamp"])(df)


def _swap(row: int) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def edit(df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        a, b = df.loc[row, "timestamp"], df.loc[row + 1, "timestamp"]
        df.loc[row, "timestamp"], df.loc[row + 1, "timestamp"] = b, a
        return df

    return edit


def _rename(old: str, new: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda df: df.rename(columns={old: new})


def _naive(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(timestamp=df["timestamp"].str.rstrip("Z"))


# (case, edit of the good table, expected column in the message, expected row or None)
CASES: list[tuple[str, Callable[[pd.DataFrame], pd.DataFrame], str | None, int | None]] = [
    ("missing close", _drop("close"), "close", None),
    ("no timestamp column", _rename("timestamp", "time"), None, None),
    ("duplicated timestamp", _dup_row(120), "timestamp", 121),
    ("unsorted timestamps", _swap(50), "timestamp", 52),
    ("naive timestamps", _naive, "timestamp", 1),
    ("non-UTC offset", _set("timestamp", 7, "2024-01-01T07:00:00+02:00"), "timestamp", 8),
    ("unparseable timestamp", _set("timestamp", 9, "yesterday noon"), "timestamp", 10),
    ("timestamp off the hour", _set("timestamp", 11, "2024-01-01T11:30:00Z"), "timestamp", 12),
    ("NaN run in close", _run("close", 40, 3, np.nan), "close", 41),
    ("inf in close", _set("close", 60, np.inf), "close", 61),
    ("negative price", _set("low", 70, -5.0), "low", 71),
    ("zero close", _set("close", 71, 0.0), "close", 72),
    ("text column", _set("volume", 80, "lots"), "volume", 81),
    ("negative volume", _set("volume", 81, -1.0), "volume", 82),
    ("unknown column", _rename("volume", "vol"), "vol", None),
    ("high below low", _set("high", 90, 1.0), "high", 91),
    ("long NaN run in futures", _run("futures_close", 100, 5, np.nan), "futures_close", 101),
    ("all-empty futures column", _run("futures_close", 0, ROWS, np.nan), "futures_close", None),
]


def _write(df: pd.DataFrame, path: Path) -> None:
    if path.suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize(("case", "edit", "column", "row"), CASES, ids=[c[0] for c in CASES])
def test_malformed_market_file_is_one_user_error_naming_file_column_and_row(
    tmp_path, suffix, case, edit, column, row
):
    path = tmp_path / f"market{suffix}"
    df = edit(_good())
    if suffix == ".parquet":
        # parquet keeps types: a text value makes the whole column text, as a user's would
        df = df.astype({c: str for c in df.columns if df[c].dtype == object})
    _write(df, path)
    cfg = CsvDataConfig(path=str(path)) if suffix == ".csv" else ParquetDataConfig(path=str(path))
    with pytest.raises(UserError) as info:
        load_market(cfg)
    msg = str(info.value)
    assert "\n" not in msg
    assert str(path) in msg
    if column is not None:
        assert f"column '{column}'" in msg
    if row is not None:
        assert f"row {row}:" in msg


def test_the_good_table_loads(tmp_path):
    path = tmp_path / "good.csv"
    _good().to_csv(path, index=False)
    assert len(load_market(CsvDataConfig(path=str(path)))) == ROWS


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"", "empty file"), (b"timestamp,close\n", "no data rows"), (b"\xff\xfe\x00bad", "csv")],
)
def test_empty_or_unreadable_csv_is_a_user_error(tmp_path, content, expected):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(UserError, match=expected) as info:
        load_market(CsvDataConfig(path=str(path)))
    assert str(path) in str(info.value)


def test_missing_file_and_non_parquet_file_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="file not found"):
        load_market(CsvDataConfig(path=str(tmp_path / "nope.csv")))
    fake = tmp_path / "fake.parquet"
    fake.write_text("timestamp,close\n")
    with pytest.raises(UserError, match="not a readable parquet"):
        load_market(ParquetDataConfig(path=str(fake)))


def test_too_little_history_for_the_longest_window_names_the_feature(tmp_path):
    path = tmp_path / "short.csv"
    _good().iloc[:100].to_csv(path, index=False)
    market = load_market(CsvDataConfig(path=str(path)))
    with pytest.raises(UserError, match=r"100 hours; feature 'close_(z|vol)_168h' needs"):
        build_features(market, FeaturesConfig())


# --- prepared splits (npz + sidecar) ----------------------------------------------------------


@pytest.fixture(scope="module")
def npz_files(tmp_path_factory) -> Path:
    from trainer.data.config import SyntheticDataConfig
    from trainer.data.npz import write_splits
    from trainer.dataset import build_table
    from trainer.splits import holdout

    table = build_table(SyntheticDataConfig(start="2023-01-01", end="2023-03-31"), FeaturesConfig())
    fold = holdout(table.timestamps, (0.7, 0.15, 0.15), 4)
    out = tmp_path_factory.mktemp("datasets")
    write_splits(out, table, fold, 4)
    return out


def _rewrite(path: Path, edit_arrays=None, edit_meta=None) -> None:
    """Change a written npz and/or sidecar as a user's tool would (without our sha256)."""
    import json

    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    if edit_arrays:
        edit_arrays(arrays)
    np.savez(path, **arrays)
    meta = json.loads(path.with_suffix(".json").read_text())
    meta.pop("sha256")
    if edit_meta:
        edit_meta(meta)
    path.with_suffix(".json").write_text(json.dumps(meta))


def _nan_at(a):
    a["X_valid"] = a["X_valid"].copy()
    a["X_valid"][5, 2] = np.nan


NPZ_CASES = [
    ("array missing", lambda a: a.pop("y_dir_4h_test"), None, "array 'y_dir_4h_test' missing"),
    (
        "label shape disagrees",
        lambda a: a.update(y_ret_1h_valid=a["y_ret_1h_valid"][:-3]),
        None,
        "array 'y_ret_1h_valid' has shape",
    ),
    (
        "X columns disagree with names",
        lambda a: a.update(X_train=a["X_train"][:, :-1]),
        None,
        "array 'X_train' has shape",
    ),
    (
        "sidecar feature names differ",
        None,
        lambda m: m["feature_names"].__setitem__(3, "close_z_999h"),
        "feature 3: 'close_pct_4h' in the npz, 'close_z_999h' in the sidecar",
    ),
    ("NaN in X", _nan_at, None, "array 'X_valid', column 'close_ret_4h', row 6: not finite"),
    (
        "parts out of time order",
        lambda a: a.update(timestamps_test=a["timestamps_test"][::-1].copy()),
        None,
        "row",
    ),
    ("sidecar of another format", None, lambda m: m.update(format="v0"), "'format'"),
]


@pytest.mark.parametrize(
    ("case", "edit_arrays", "edit_meta", "expected"), NPZ_CASES, ids=[c[0] for c in NPZ_CASES]
)
def test_malformed_npz_is_one_user_error_naming_file_array_and_row(
    tmp_path, npz_files, case, edit_arrays, edit_meta, expected
):
    import shutil

    from trainer.data.config import NpzDataConfig
    from trainer.data.npz import MULTI, read_table

    for f in npz_files.iterdir():
        shutil.copy(f, tmp_path / f.name)
    path = tmp_path / MULTI
    _rewrite(path, edit_arrays, edit_meta)
    with pytest.raises(UserError) as info:
        read_table(NpzDataConfig(path=str(path)))
    msg = str(info.value)
    assert str(path) in msg or path.with_suffix(".json").name in msg
    assert expected in msg


def test_a_tampered_or_orphaned_npz_is_refused(tmp_path, npz_files):
    import shutil

    from trainer.data.config import NpzDataConfig
    from trainer.data.npz import MULTI, ONE_HOUR, read_table

    for f in npz_files.iterdir():
        shutil.copy(f, tmp_path / f.name)
    with (tmp_path / MULTI).open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(UserError, match="do not match the sha256"):
        read_table(NpzDataConfig(path=str(tmp_path / MULTI)))
    (tmp_path / ONE_HOUR).with_suffix(".json").unlink()
    with pytest.raises(UserError, match=r"sidecar .* is missing"):
        read_table(NpzDataConfig(path=str(tmp_path / ONE_HOUR)))
