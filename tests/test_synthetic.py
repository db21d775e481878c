"""The embedded synthetic market: format, realism and the planted signal knob."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trainer.data.synthetic import generate_market, oracle_hit_rate, simulate

FULL = simulate("2020-01-01", "2025-12-31", seed=42, signal_strength=0.05)
MARKET = FULL.table


def test_table_is_hourly_utc_from_start_to_end_with_every_role():
    index = MARKET.index
    assert index.name == "timestamp" and str(index.tz) == "UTC"
    assert index[0] == pd.Timestamp("2020-01-01 00:00", tz="UTC")
    assert index[-1] == pd.Timestamp("2025-12-31 23:00", tz="UTC")
    assert index.dtype == "datetime64[ns, UTC]"
    assert (np.diff(index.asi8) == 3_600_000_000_000).all()
    for col in ("open", "high", "low", "close", "volume", "futures_close", "funding_rate"):
        assert col in MARKET.columns
    assert any(c.startswith("macro_") for c in MARKET.columns)
    assert any(c.startswith("onchain_") for c in MARKET.columns)
    assert (MARKET.dtypes == np.float64).all()
    assert (MARKET["high"] >= MARKET[["open", "close"]].max(axis=1)).all()
    assert (MARKET["low"] <= MARKET[["open", "close"]].min(axis=1)).all()


def test_same_seed_same_market_and_the_data_seed_changes_it():
    a = generate_market("2023-01-01", "2023-03-31", seed=5)
    pd.testing.assert_frame_equal(a, generate_market("2023-01-01", "2023-03-31", seed=5))
    assert not a["close"].equals(generate_market("2023-01-01", "2023-03-31", seed=6)["close"])


def test_hourly_volatility_is_btc_like_with_clustering_and_fat_tails():
    r = np.log(MARKET["close"]).diff().dropna()
    assert 0.004 < r.std() < 0.01
    assert r.kurt() > 3  # fat tails (a normal has excess kurtosis 0)
    absr = r.abs().to_numpy()
    assert np.corrcoef(absr[:-1], absr[1:])[0, 1] > 0.1  # volatility clustering


def test_seasonality_and_volume_follow_volatility():
    r = np.log(MARKET["close"]).diff().abs()
    by_hour = r.groupby(MARKET.index.hour).mean()
    assert by_hour.loc[14:16].mean() > 1.2 * by_hour.loc[2:4].mean()
    weekend = MARKET.index.day_of_week >= 5
    assert r[weekend].mean() < 0.85 * r[~weekend].mean()
    assert np.corrcoef(np.log(MARKET["volume"])[1:], r[1:])[0, 1] > 0.2


def test_crash_windows_fall_hard():
    def change(first: str, last: str) -> float:
        c = MARKET["close"]
        return float(c.loc[last].iloc[-1] / c.loc[first].iloc[0] - 1)

    assert change("2022-11-07", "2022-11-09") < -0.15
    assert change("2023-03-09", "2023-03-10") < -0.05


def test_funding_settles_every_8_hours_and_daily_series_change_only_at_midnight():
    changed = MARKET["funding_rate"].diff().fillna(0) != 0
    assert set(MARKET.index[changed].hour) <= {0, 8, 16}
    for col in [c for c in MARKET.columns if c.startswith(("macro_", "onchain_"))]:
        moved = MARKET[col].diff().fillna(0) != 0
        assert set(MARKET.index[moved].hour) == {0}, col


def test_macro_value_of_a_day_is_used_only_from_the_next_day():
    # The synthetic S&P 500 co-moves with BTC's return of the same day; held from D+1 00:00,
    # its change at D+1 may correlate with day D's BTC return, never with D+1's own.
    daily = MARKET["close"].resample("D").last()
    btc = np.log(daily).diff()
    spx = np.log(MARKET["macro_spx"].resample("D").first()).diff()
    both = pd.concat([btc.shift(1), btc, spx], axis=1, keys=["prev", "same", "spx"]).dropna()
    both = both[both["spx"] != 0]
    assert both["spx"].corr(both["prev"]) > 0.1
    assert abs(both["spx"].corr(both["same"])) < 0.08


@pytest.mark.parametrize("horizon", [1, 4])
def test_signal_strength_raises_the_oracle_hit_rate_and_zero_is_a_coin_flip(horizon):
    rates = {
        s: oracle_hit_rate(simulate("2020-01-01", "2025-12-31", 42, s), horizon)
        for s in (0.0, 0.05, 0.1)
    }
    assert abs(rates[0.0] - 0.5) < 0.01
    assert rates[0.0] + 0.01 < rates[0.05] < rates[0.1] - 0.01


def test_control_market_differs_from_the_signal_market_only_by_the_planted_term():
    control = simulate("2023-01-01", "2023-06-30", 42, 0.0)
    signal = simulate("2023-01-01", "2023-06-30", 42, 0.05)
    np.testing.assert_array_equal(control.z, signal.z)
    r0 = np.log(control.table["close"]).diff()
    r1 = np.log(signal.table["close"]).diff()
    assert 0.99 < np.corrcoef(r0[1:], r1[1:])[0, 1] < 1.0


def test_the_signal_is_learnable_from_past_features_only():
    # the basis at hour t is visible at t and predicts the return of hour t+1
    basis = (MARKET["futures_close"] / MARKET["close"] - 1).to_numpy()
    nxt = np.sign(np.diff(np.log(MARKET["close"].to_numpy())))
    z_basis = basis[:-1] - pd.Series(basis).rolling(24).mean().to_numpy()[:-1]
    ok = ~np.isnan(z_basis)
    hit = np.mean(np.sign(z_basis[ok]) == nxt[ok])
    assert hit > 0.505


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.97, 0.999])
def test_the_ar1_series_is_bit_identical_to_scipys_linear_filter(phi: float) -> None:
    # The loop replaced scipy.signal.lfilter (0.4 s of import per process): the embedded
    # market, and every data hash recorded with it, must not change.
    from scipy.signal import lfilter

    from trainer.data.synthetic import _ar1

    noise = np.random.default_rng(7).standard_normal(20_000)
    want = np.empty(noise.size)
    want[0] = noise[0]
    c = np.sqrt(1 - phi * phi)
    want[1:] = lfilter([c], [1.0, -phi], noise[1:], zi=[phi * noise[0]])[0]
    np.testing.assert_array_equal(_ar1(noise, phi), want)
