"""Sources: csv and parquet give the same table; the real files join by role without look-ahead."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from trainer.data.config import (
    CsvDataConfig,
    JoinedDataConfig,
    ParquetDataConfig,
    SyntheticDataConfig,
)
from trainer.data.market import load_market
from trainer.data.synthetic import generate_market
from trainer.errors import UserError

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared = pytest.mark.skipif(
    not (SHARED_DATA / "btc_usdt_1h_binance_spot.csv").is_file(),
    reason=f"real data folder {SHARED_DATA} is absent (it is only on the team's machines)",
)


def binance_btc_config(**overrides: object) -> JoinedDataConfig:
    """conf/data/binance_btc.yaml through its schema (without composing the other groups)."""
    yaml = OmegaConf.load(Path(__file__).resolve().parents[1] / "conf/data/binance_btc.yaml")
    yaml.pop("defaults")
    merged = OmegaConf.merge(OmegaConf.structured(JoinedDataConfig), yaml, overrides)
    cfg = OmegaConf.to_object(merged)
    assert isinstance(cfg, JoinedDataConfig)
    return cfg


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


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_csv_and_parquet_cut_by_date_like_the_other_sources(tmp_path, market, kind):
    path = tmp_path / f"m.{kind}"
    if kind == "csv":
        market.reset_index().to_csv(path, index=False)
        make = CsvDataConfig
    else:
        market.reset_index().to_parquet(path)
        make = ParquetDataConfig
    whole = load_market(make(path=str(path)))
    cut = load_market(make(path=str(path), start="2023-01-10", end="2023-01-20"))
    expected = whole[(whole.index >= "2023-01-10") & (whole.index < "2023-01-21")]
    pd.testing.assert_frame_equal(cut, expected, check_freq=False)
    assert cut.index[-1] == pd.Timestamp("2023-01-20 23:00", tz="UTC")  # a date: the whole day
    hour = load_market(make(path=str(path), end="2023-01-20 05:00"))
    assert hour.index[-1] == pd.Timestamp("2023-01-20 05:00", tz="UTC")
    with pytest.raises(UserError, match=r"data.start=2024-01-01.*no row"):
        load_market(make(path=str(path), start="2024-01-01"))
    with pytest.raises(UserError, match=r"data.end='soon': not a date"):
        make(path=str(path), end="soon")


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
def test_binance_btc_joins_the_real_files_by_role_without_look_ahead():
    m = load_market(binance_btc_config(root=str(SHARED_DATA)))
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


@needs_shared
@pytest.mark.slow
def test_python_m_trainer_trains_end_to_end_on_the_real_files(tmp_path):
    from tests.conftest import run_cli

    done = run_cli(
        "trainer",
        "data=binance_btc",
        f"data.root={SHARED_DATA}",
        "data.start=2023-01-01",
        "progress=false",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert {"valid", "test"} <= set(metrics)
    meta = json.loads((tmp_path / "run" / "metadata.json").read_text())
    assert meta["data_source"] == "binance_btc"
    assert "basis_z_24h" in meta["feature_names"] and "macro_vix_pct_24h" in meta["feature_names"]


def test_a_missing_data_root_is_a_user_error(tmp_path):
    from trainer.data.config import JoinedDataConfig, RoleFileConfig
    from trainer.errors import UserError

    cfg = JoinedDataConfig(root=str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match=r"data.root=.*folder not found"):
        load_market(cfg)
    cfg = JoinedDataConfig(
        root=str(tmp_path), files={"spot": RoleFileConfig(path="spot.csv", role="price")}
    )
    with pytest.raises(UserError, match=r"data.files.spot.path=spot.csv: file not found"):
        load_market(cfg)
