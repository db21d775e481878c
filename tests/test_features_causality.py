"""Changing the market after hour t never changes a feature at or before t (every family)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.causality import (
    assert_causal,
    drop_after,
    lookahead_columns,
    noise_after,
    scale_after,
    truncate_after,
)
from trainer.data.config import FeaturesConfig
from trainer.data.features import FAMILIES, Feature, build_features, rolling_mean
from trainer.data.labels import make_labels
from trainer.data.synthetic import generate_market

CFG = FeaturesConfig()


def _market_with_gaps() -> pd.DataFrame:
    market = generate_market("2023-01-01", "2023-02-28", seed=3, signal_strength=0.05)
    market["futures_mark"] = market["futures_close"] * (1 + 1e-4 * np.sin(np.arange(len(market))))
    drop = np.zeros(len(market), dtype=bool)
    drop[400:405] = True  # a 5-hour outage
    drop[900:960] = True  # a long weekend closure
    return market[~drop]


MARKET = _market_with_gaps()
N = len(MARKET)

perturbations = st.one_of(
    st.builds(
        scale_after,
        st.sampled_from([str(c) for c in MARKET.columns]),
        st.floats(0.5, 2.0).filter(lambda f: abs(f - 1.0) > 1e-3),
    ),
    st.builds(noise_after, st.integers(0, 10_000), st.floats(0.001, 0.5)),
    st.just(truncate_after),
    st.builds(drop_after, st.integers(1, 30)),
)


@pytest.mark.parametrize("family", list(FAMILIES))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(t=st.integers(200, N - 40), perturb=perturbations)
def test_changing_the_future_never_changes_a_past_feature(family, t, perturb):
    assert FAMILIES[family](MARKET, CFG), f"the test market has no column for {family}"
    assert_causal(lambda m: build_features(m, CFG, [family]), MARKET, t, perturb)


def test_every_feature_of_the_default_config_is_covered_by_a_family():
    names = build_features(MARKET, CFG).columns
    per_family = [f for fam in FAMILIES for f in build_features(MARKET, CFG, [fam]).columns]
    assert list(names) == per_family


def _centred_mean(market: pd.DataFrame, cfg: FeaturesConfig) -> list[Feature]:
    close = market["close"].to_numpy()
    return [
        Feature(
            "close_centred_mean_5h",
            4,
            lambda: pd.Series(close).rolling(5, center=True).mean().to_numpy(),
        )
    ]


def _next_close(market: pd.DataFrame, cfg: FeaturesConfig) -> list[Feature]:
    close = market["close"].to_numpy()
    return [Feature("close_next", 0, lambda: np.append(close[1:], np.nan))]


@pytest.mark.parametrize("leaky", [_centred_mean, _next_close])
@settings(max_examples=10, deadline=None)
# t inside the first segment: a centred window is still NaN right after a gap (features restart
# there), so the leak would be invisible at those few hours
@given(t=st.integers(200, 390), factor=st.floats(1.1, 2.0))
def test_the_same_check_catches_a_planted_look_ahead_feature(leaky, t, factor):
    FAMILIES["leaky"] = leaky
    try:
        fn = lambda m: build_features(m, CFG, ["price", "leaky"])  # noqa: E731
        bad = lookahead_columns(fn, MARKET, t, scale_after("close", factor))
        assert bad == [leaky(MARKET, CFG)[0].name]
        with pytest.raises(AssertionError, match="look-ahead"):
            assert_causal(fn, MARKET, t, scale_after("close", factor))
    finally:
        del FAMILIES["leaky"]


def test_a_causal_rolling_mean_passes_where_the_centred_one_fails():
    t = 500
    causal = lambda m: rolling_mean(m["close"].to_numpy(), 5)  # noqa: E731
    centred = lambda m: m["close"].rolling(5, center=True).mean().to_numpy()  # noqa: E731
    assert_causal(causal, MARKET, t, scale_after("close", 1.5))
    with pytest.raises(AssertionError):
        assert_causal(centred, MARKET, t, scale_after("close", 1.5))


@settings(max_examples=25, deadline=None)
@given(t=st.integers(200, N - 40), perturb=perturbations)
def test_labels_only_depend_on_the_future_they_describe(t, perturb):
    # A label of row s is known at s + h: shifted to that hour, it must be causal too.
    def known_labels(m: pd.DataFrame) -> pd.DataFrame:
        labels = make_labels(m, (1, 4))
        return pd.concat([labels[["ret_1h"]].shift(1), labels[["ret_4h"]].shift(4)], axis=1)

    assert_causal(known_labels, MARKET, t, perturb)
