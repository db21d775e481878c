"""Sources: csv and parquet give the same table; the real files join by role without look-ahead."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trainer.config import validate
from trainer.data.config import CsvDataConfig, ParquetDataConfig, SyntheticDataConfig
from trainer.data.market import load_market
from trainer.data.synthetic import generate_market

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared = pytest.mark.skipif(
    not (SHARED_DATA / "btc_usdt_1h_binance_spot.csv").is_file(),
    reason=f"real data folder {SHARED_DATA} is absent (it is only on the team's machines)",
)


@pytest.fixture(scope="module")
def market() -> pd.DataFrame:
    return generate_market("2023-01-01", "2023-01-31", seed=2)


def test_synthetic_source_matches_the_generator(market):
    cfg = SyntheticDataConfig(start="2023-01-01", end="2023-01-31", seed=2)
    pd.testing.assert_frame_equal(load_market(cfg), market, check_freq=False)


def test_csv_and_parquet_round_trip_the_market_table(tmp_path, market):
    csv, parquet = tmp_path / "m.csv", tmp_path / "m.parquet"
    market.reset_index().to_csv(csv, index=False)
    market.reset_index().to_parquet(parquet)
    from_csv = load_market(CsvDataConfig(path=str(csv)))
    from_parquet = load_market(ParquetDataConfig(path=str(parquet)))
    pd.testing.assert_frame_equal(from_parquet, market, check_freq=False)
    pd.testing.assert_frame_equal(from_csv, market, check_freq=False, rtol=1e-12)


def test_a_csv_with_close_only_works(tmp_path, market):
    path = tmp_path / "close.csv"
    market[["close"]].reset_index().to_csv(path, index=False)
    loaded = load_market(CsvDataConfig(path=str(path)))
    assert list(loaded.columns) == ["close"]


def test_short_gaps_are_filled_and_long_ones_kept(tmp_path, market):
    drop = np.zeros(len(market), dtype=bool)
    drop[[100, 101]] = True  # 2 hours: filled
    drop[300:310] = True  # 10 hours: kept
    path = tmp_path / "gappy.csv"
    market[~drop].reset_index().to_csv(path, index=False)
    loaded = load_market(CsvDataConfig(path=str(path), max_ffill_hours=2))
    assert len(loaded) == len(market) - 10
    assert loaded["close"].iloc[100] == loaded["close"].iloc[99] == market["close"].iloc[99]
    assert loaded["volume"].iloc[100] == 0.0
    before = loaded.attrs["gaps_before_fill"]
    assert (before["n_gaps"], before["missing_hours"], before["longest_gap_hours"]) == (2, 12, 10)


def test_held_roles_are_forward_filled_from_their_known_values(tmp_path, market):
    table = market[["close", "funding_rate"]].copy()
    table.loc[table.index.hour % 8 != 0, "funding_rate"] = np.nan  # only settlements given
    path = tmp_path / "funding.csv"
    table.reset_index().to_csv(path, index=False)
    loaded = load_market(CsvDataConfig(path=str(path)))
    settle = loaded.index.hour % 8 == 0
    assert loaded["funding_rate"].iloc[8:].notna().all()
    np.testing.assert_array_equal(
        loaded["funding_rate"][settle].to_numpy(), table["funding_rate"][settle].to_numpy()
    )


@needs_shared
def test_binance_btc_joins_the_real_files_by_role_without_look_ahead(compose_cfg):
    cfg = validate(compose_cfg("data=binance_btc", f"data.root={SHARED_DATA}", tiny=False))
    m = load_market(cfg.data)
    assert m.index[0] == pd.Timestamp("2020-01-01", tz="UTC")
    assert m.index[-1] == pd.Timestamp("2025-12-31 23:00", tz="UTC")
    for col in ("close", "futures_close", "futures_mark", "funding_rate", "macro_spx"):
        assert m[col].notna().mean() > 0.99, col
    # README sanity closes
    assert m.loc["2022-11-09 12:00", "close"] == pytest.approx(17619.85)
    assert m.loc["2023-03-10 12:00", "futures_close"] == pytest.approx(19920.70)
    # the macro value dated 2023-03-09 is known only from 2023-03-10 00:00 UTC
    fred = pd.read_csv(SHARED_DATA / "macro_daily_fred.csv", index_col="date")
    assert m.loc["2023-03-09 23:00", "macro_spx"] == pytest.approx(fred.loc["2023-03-08", "spx"])
    assert m.loc["2023-03-10 00:00", "macro_spx"] == pytest.approx(fred.loc["2023-03-09", "spx"])
    # funding changes only at its settlement hours (or the first hour after an outage)
    moved = (m["funding_rate"].diff().fillna(0) != 0).to_numpy()
    after_gap = np.diff(m.index.asi8, prepend=0) > 3_600_000_000_000
    assert set(m.index[moved & ~after_gap].hour) <= {0, 8, 16}
    basis = m["futures_close"] / m["close"] - 1
    assert -6e-4 < basis.median() < 0  # README: median about -3.6 bp
