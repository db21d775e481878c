"""``data=binance_btc`` joins its files without look-ahead, checked on a small copy of the real
layout built here (the real files live outside the repository): every value enters the table at
the hour it becomes known, by each file's ``lag_hours`` in conf/data/binance_btc.yaml."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.test_data_sources import binance_btc_config
from trainer.data.market import load_market

HOURS = pd.date_range("2023-03-06", "2023-03-14 23:00", freq="h", tz="UTC")  # Mon .. next Tue
MACRO_DAYS = pd.bdate_range("2023-03-03", "2023-03-14")  # weekdays only, as FRED publishes


def _iso(index: pd.DatetimeIndex) -> list[str]:
    return [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in index]


def _candles(path: Path, base: float) -> None:
    close = base + np.arange(len(HOURS), dtype=np.float64)
    pd.DataFrame(
        {
            "timestamp": _iso(HOURS),
            "open": close,
            "high": close + 1,
            "low": close - 1,
            "close": close,
            "volume": 1.0,
        }
    ).to_csv(path, index=False)


def macro_value(day: str) -> float:
    """The SPX level the fixture publishes for ``day``: its day of the month, in thousands."""
    return 1000.0 * pd.Timestamp(day).day


@pytest.fixture(scope="module")
def joined(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    root = tmp_path_factory.mktemp("shared_data")
    _candles(root / "btc_usdt_1h_binance_spot.csv", 20000.0)
    _candles(root / "btc_usdt_perp_1h_binance_usdm.csv", 30000.0)
    _candles(root / "btc_usdt_perp_mark_1h_binance_usdm.csv", 40000.0)
    settlements = pd.date_range("2023-03-05 16:00", "2023-03-14 16:00", freq="8h", tz="UTC")
    pd.DataFrame(
        {"timestamp": _iso(settlements), "funding_rate": 1e-4 * np.arange(len(settlements))}
    ).to_csv(root / "btc_usdt_perp_funding_8h_binance_usdm.csv", index=False)
    pd.DataFrame(
        {
            "date": [d.strftime("%Y-%m-%d") for d in MACRO_DAYS],
            "spx": [macro_value(str(d)) for d in MACRO_DAYS],
            "vix": 20.0,
        }
    ).to_csv(root / "macro_daily_fred.csv", index=False)
    return load_market(binance_btc_config(root=str(root)))


def test_the_spot_file_gives_the_hourly_index_and_perp_candles_join_on_their_own_hour(
    joined: pd.DataFrame,
) -> None:
    assert joined.index[0] == HOURS[0] and joined.index[-1] == HOURS[-1]
    assert len(joined) == len(HOURS)
    np.testing.assert_array_equal(joined["futures_close"] - joined["close"], 10000.0)
    np.testing.assert_array_equal(joined["futures_mark"] - joined["close"], 20000.0)


def test_a_daily_macro_value_is_used_only_from_the_next_day_utc(joined: pd.DataFrame) -> None:
    spx = joined["macro_spx"]
    assert spx["2023-03-09 23:00"] == macro_value("2023-03-08")
    assert spx["2023-03-10 00:00"] == macro_value("2023-03-09")
    # Friday's value is known from Saturday 00:00 and held over the weekend to Monday's close
    assert (spx["2023-03-11 00:00":"2023-03-13 23:00"] == macro_value("2023-03-10")).all()
    assert spx["2023-03-14 00:00"] == macro_value("2023-03-13")


def test_funding_is_known_from_its_settlement_hour_and_held_until_the_next(
    joined: pd.DataFrame,
) -> None:
    rate = joined["funding_rate"]
    # settlements every 8 hours from 2023-03-05 16:00 (rate 0): 2023-03-08 08:00 is the 9th
    assert rate["2023-03-08 07:00"] == pytest.approx(7e-4)
    assert rate["2023-03-08 08:00"] == pytest.approx(8e-4)
    assert rate["2023-03-08 15:00"] == pytest.approx(8e-4)
    moved = rate.diff().fillna(0) != 0
    assert set(rate.index[moved].hour) <= {0, 8, 16}
