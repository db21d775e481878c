"""Feature families: stable names, values, warm-up per segment, switches and windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trainer.data.config import FeaturesConfig, PriceFeatures
from trainer.data.features import build_features, constant_columns, rolling_z
from trainer.data.synthetic import generate_market
from trainer.errors import UserError

MARKET = generate_market("2023-01-01", "2023-03-31", seed=1, signal_strength=0.05)


def test_names_are_stable_and_readable_for_every_role():
    names = list(build_features(MARKET, FeaturesConfig()).columns)
    for expected in (
        "close_ret_1h",
        "close_pct_4h",
        "close_ret_24h",
        "close_z_7h",
        "close_z_168h",
        "close_vol_24h",
        "range_1h",
        "volume_z_24h",
        "basis",
        "basis_delta_1h",
        "basis_z_168h",
        "funding",
        "funding_delta_8h",
        "funding_z_168h",
        "macro_spx_pct_24h",
        "macro_ust10y_pct_delta_24h",
        "onchain_exchange_netflow_delta_24h",
        "onchain_exchange_reserve_z_168h",
        "hour_sin",
    ):
        assert expected in names
    assert len(set(names)) == len(names)


def test_values_match_their_definition():
    f = build_features(MARKET, FeaturesConfig())
    close = MARKET["close"]
    t = 500
    assert f["close_ret_24h"].iloc[t] == pytest.approx(np.log(close.iloc[t] / close.iloc[t - 24]))
    assert f["close_pct_4h"].iloc[t] == pytest.approx(close.iloc[t] / close.iloc[t - 4] - 1)
    window = close.iloc[t - 23 : t + 1]
    assert f["close_z_24h"].iloc[t] == pytest.approx((close.iloc[t] - window.mean()) / window.std())
    basis = MARKET["futures_close"] / close - 1
    assert f["basis"].iloc[t] == pytest.approx(basis.iloc[t])
    assert f["basis_delta_1h"].iloc[t] == pytest.approx(basis.iloc[t] - basis.iloc[t - 1])
    rets = np.log(close).diff().iloc[t - 23 : t + 1]
    assert f["close_vol_24h"].iloc[t] == pytest.approx(rets.std())
    assert f.dtypes.unique().tolist() == [np.dtype("float64")]


def test_warm_up_is_missing_and_no_window_spans_a_gap():
    cfg = FeaturesConfig(price=PriceFeatures(zscore_windows=[24]))
    drop = np.zeros(len(MARKET), dtype=bool)
    drop[1000:1030] = True  # a 30h outage
    market = MARKET[~drop]
    f = build_features(market, cfg)
    after = 1000  # first row after the gap
    assert f["close_ret_1h"].iloc[:1].isna().all() and f["close_ret_1h"].iloc[1:5].notna().all()
    assert f["close_ret_24h"].iloc[after : after + 24].isna().all()
    assert f["close_ret_24h"].iloc[after + 24 :].iloc[:100].notna().all()
    assert f["close_z_24h"].iloc[after : after + 23].isna().all()
    assert f["close_z_24h"].iloc[after + 23 :].iloc[:100].notna().all()
    # a value after its warm-up equals the one built on the segment alone
    alone = build_features(market.iloc[after:], cfg)
    pd.testing.assert_frame_equal(f.iloc[after:], alone, check_exact=False, rtol=1e-9)


def test_families_can_be_switched_off_and_windows_set_in_config():
    cfg = FeaturesConfig(price=PriceFeatures(return_windows=[2], zscore_windows=[12]))
    cfg.futures.enabled = False
    cfg.macro.enabled = False
    cfg.onchain.enabled = False
    cfg.funding.enabled = False
    cfg.calendar = False
    names = list(build_features(MARKET, cfg).columns)
    assert "close_ret_2h" in names and "close_z_12h" in names
    assert not any(n.startswith(("basis", "funding", "macro_", "onchain_", "hour")) for n in names)


def test_only_the_families_of_present_roles_are_built():
    names = list(build_features(MARKET[["close"]], FeaturesConfig()).columns)
    assert names and all(n.startswith("close_") or n.startswith(("hour", "dow")) for n in names)


def test_too_little_history_for_the_longest_window_is_a_user_error():
    with pytest.raises(UserError, match=r"close_(z|vol)_168h"):
        build_features(MARKET.iloc[:100], FeaturesConfig())


def test_rolling_z_of_a_flat_window_is_zero_not_huge():
    x = np.array([1e-4] * 30 + [2e-4] * 30)
    z = rolling_z(x, 8)
    assert np.nanmax(np.abs(z)) < 3
    assert z[20] == 0.0


def test_constant_columns_uses_the_tolerance_and_ignores_nan():
    X = np.array([[1.0, 5.0, np.nan], [1.0, 6.0, np.nan], [1.0 + 1e-14, 7.0, np.nan]])
    assert constant_columns(X, ["a", "b", "c"], 1e-12) == ["a", "c"]
    assert constant_columns(X, ["a", "b", "c"], 10.0) == ["a", "b", "c"]
