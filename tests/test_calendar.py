"""Markets that close (``data.calendar``): closed hours are not gaps, every count is in open hours.

The FX-like tables are built here: an hourly random walk with every hour from Friday 22:00 to
Sunday 22:00 UTC left out, as a broker's EURUSD file has it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import DictConfig

from tests.causality import assert_causal, drop_after, noise_after, truncate_after
from trainer.config import validate
from trainer.data.calendar import ALWAYS_OPEN, FX, Calendar, epoch_hours, make_calendar
from trainer.data.config import ClosureConfig, FeaturesConfig
from trainer.data.features import FAMILIES, build_features
from trainer.data.gaps import fill_short_gaps, gap_report, position_in_segment, segments
from trainer.data.labels import make_labels
from trainer.data.synthetic import generate_market
from trainer.data.validate import market_table
from trainer.errors import UserError
from trainer.fit import hours_of
from trainer.splits import holdout, open_clock, walk_forward
from trainer.trading import decision_rows


def fx_table(start: str = "2024-01-01", weeks: int = 4, seed: int = 0) -> pd.DataFrame:
    """An hourly close/volume table without the FX weekend closure (Fri 22:00 - Sun 22:00)."""
    index = pd.date_range(start, periods=weeks * 168, freq="h", tz="UTC", name="timestamp")
    index = index[FX.is_open(epoch_hours(index))]
    rng = np.random.default_rng(seed)
    close = 1.1 * np.exp(np.cumsum(rng.normal(0, 1e-3, len(index))))
    volume = rng.uniform(100, 200, len(index))
    return pd.DataFrame({"close": close, "volume": volume}, index=index)


def at(market: pd.DataFrame, stamp: str) -> int:
    return int(market.index.get_loc(pd.Timestamp(stamp, tz="UTC")))


# --- the open-hour clock ----------------------------------------------------------------------


def test_the_open_clock_steps_by_one_across_the_fx_weekend_and_is_the_hour_on_24_7():
    fri, sun = (
        pd.Timestamp("2024-01-05 21:00", tz="UTC"),
        pd.Timestamp("2024-01-07 22:00", tz="UTC"),
    )
    hours = epoch_hours(pd.DatetimeIndex([fri, sun]))
    assert np.diff(FX.clock(hours)).tolist() == [1]
    assert ALWAYS_OPEN.clock(hours).tolist() == hours.tolist()
    # every open hour round-trips; a closed hour counts as the next open one
    week = epoch_hours(pd.date_range("2024-01-01", periods=3 * 168, freq="h", tz="UTC"))
    open_ = week[FX.is_open(week)]
    assert FX.hours_at(FX.clock(open_)).tolist() == open_.tolist()
    assert np.diff(FX.clock(open_)).tolist() == [1] * (len(open_) - 1)
    assert int(FX.is_open(week).sum()) == 3 * 120


def test_on_fx_open_clock_and_clock_hour_agree_modulo_4_so_4h_decisions_stay_aligned():
    week = epoch_hours(pd.date_range("2024-01-01", periods=10 * 168, freq="h", tz="UTC"))
    open_ = week[FX.is_open(week)]
    assert (((FX.clock(open_) - open_) % 4) == 0).all()


@pytest.mark.parametrize(
    ("name", "closures", "message"),
    [
        ("fxx", [], "data.calendar='fxx': must be one of 24/7, fx, weekly"),
        ("weekly", [], "data.calendar=weekly needs data.closures"),
        ("fx", [("Sat 00:00", "Mon 00:00")], "data.closures is set but data.calendar=fx"),
        ("weekly", [("Fri 22:30", "Sun 22:00")], "data.closures[0].start='Fri 22:30'"),
        ("weekly", [("Fry 22:00", "Sun 22:00")], "data.closures[0].start='Fry 22:00'"),
        ("weekly", [("Fri 22:00", "Sun 25:00")], "data.closures[0].end='Sun 25:00'"),
        ("weekly", [("Fri 21:00", "Sun 22:00")], "lasts 49 hours; a closure must last a multiple"),
        ("weekly", [("Mon 00:00", "Mon 00:00")], "data.closures[0]: starts and ends at"),
        (
            "weekly",
            [("Fri 20:00", "Sun 20:00"), ("Sat 00:00", "Mon 00:00")],
            "two closures overlap",
        ),
    ],
)
def test_a_bad_calendar_is_refused_naming_the_key(name, closures, message):
    with pytest.raises(UserError) as err:
        make_calendar(name, closures)
    assert message in str(err.value)


def test_the_calendar_keys_compose_from_the_command_line_and_are_checked(
    compose_cfg: Callable[..., DictConfig],
):
    conf = validate(
        compose_cfg(
            "data.calendar=weekly",
            "data.closures=[{start: 'Sat 00:00', end: 'Mon 00:00'}]",
        )
    )
    assert conf.data.trading_calendar() == Calendar("weekly", ((5 * 24, 48),))
    assert validate(compose_cfg("data.calendar=fx")).data.trading_calendar() == FX
    assert validate(compose_cfg()).data.trading_calendar() == ALWAYS_OPEN
    with pytest.raises(UserError, match=r"data\.closures\[0\]\.start='Saturday noon'"):
        validate(
            compose_cfg(
                "data.calendar=weekly", "data.closures=[{start: 'Saturday noon', end: 'Mon 00:00'}]"
            )
        )
    with pytest.raises(UserError, match=r"data\.closed_rows='keep'"):
        validate(compose_cfg("data.closed_rows=keep"))


# --- gaps ---------------------------------------------------------------------------------------


def test_closed_hours_are_not_gaps_and_the_report_lists_only_unscheduled_ones():
    market = fx_table(weeks=4)
    index = pd.DatetimeIndex(market.index)
    assert segments(index, FX).max() == 0
    report = gap_report(index, FX)
    assert (report["n_gaps"], report["missing_hours"], report["n_segments"]) == (0, 0, 1)
    assert report["calendar"]["name"] == "fx"
    # the same table on 24/7: every weekend is a 48-hour gap (it ends on Sunday 23:00)
    plain = gap_report(index)
    assert (plain["n_gaps"], plain["longest_gap_hours"]) == (4, 48)
    # an outage on a Wednesday is a gap on both
    holed = index.delete([at(market, "2024-01-10 12:00"), at(market, "2024-01-10 13:00")])
    report = gap_report(holed, FX)
    assert (report["n_gaps"], report["missing_hours"]) == (1, 2)
    assert report["longest_gap_after"] == "2024-01-10T11:00:00+00:00"


def test_max_ffill_hours_counts_open_hours_and_never_fills_a_closure():
    market = fx_table(weeks=3)
    # Friday 21:00 and Sunday 22:00 are missing: two open hours on each side of the closure
    holed = market.drop(pd.DatetimeIndex(["2024-01-05 21:00", "2024-01-07 22:00"], tz="UTC"))
    filled = fill_short_gaps(holed, 2, FX)
    assert filled.index.equals(market.index)  # exactly the two missing open hours come back
    assert filled.loc["2024-01-07 22:00", "close"] == holed.loc["2024-01-05 20:00", "close"]
    assert filled.loc["2024-01-07 22:00", "volume"] == 0.0
    assert fill_short_gaps(holed, 1, FX).index.equals(holed.index)  # a 2-open-hour gap: too long
    # on 24/7 the same table's weekends are 49- and 50-hour gaps: not filled either
    assert fill_short_gaps(holed, 2).index.equals(holed.index)


def test_a_csv_row_stamped_in_a_closed_hour_is_refused_naming_it_or_dropped_on_request():
    market = fx_table(weeks=2)
    sunday = pd.Timestamp("2024-01-07 21:00", tz="UTC")  # New York summer time opens an hour early
    with_extra = pd.concat([market, market.iloc[[0]].set_axis([sunday])]).sort_index()
    raw = with_extra.rename_axis("timestamp").reset_index()
    raw["timestamp"] = raw["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    row = int(np.flatnonzero(with_extra.index == sunday)[0]) + 1
    with pytest.raises(UserError) as err:
        market_table(raw, "data file fx.csv", 2, FX)
    assert f"data file fx.csv, row {row}: 2024-01-07T21:00:00+00:00" in str(err.value)
    assert "data.calendar=fx: closed Fri 22:00 to Sun 22:00 UTC" in str(err.value)
    assert "data.closed_rows=drop" in str(err.value)
    table = market_table(raw, "data file fx.csv", 2, FX, closed_rows="drop")
    assert table.index.equals(market.index)
    assert table.attrs["calendar"] == FX
    # on 24/7 nothing is closed: the row is kept
    assert sunday in market_table(raw, "data file fx.csv", 2).index


# --- features and labels ----------------------------------------------------------------------


def test_windows_z_scores_and_labels_count_open_hours_across_a_weekend():
    market = fx_table(weeks=3)
    cfg = FeaturesConfig()
    feats = build_features(market, cfg, calendar=FX)
    labels = make_labels(market, (1, 4), FX)
    logc = np.log(market["close"].to_numpy())
    fri20, mon00 = at(market, "2024-01-12 20:00"), at(market, "2024-01-15 00:00")
    assert mon00 - fri20 == 4  # Fri 20, Fri 21, Sun 22, Sun 23, Mon 00
    assert labels["ret_4h"].iloc[fri20] == pytest.approx(logc[mon00] - logc[fri20])
    assert feats["close_ret_4h"].iloc[mon00] == pytest.approx(logc[mon00] - logc[fri20])
    z = feats["close_z_24h"].iloc[mon00]
    window = market["close"].to_numpy()[mon00 - 23 : mon00 + 1]
    assert z == pytest.approx((window[-1] - window.mean()) / window.std(ddof=1))
    # after the first week's warm-up no row is NaN: the weekends do not restart it
    warm = position_in_segment(pd.DatetimeIndex(market.index), FX) >= 168
    assert feats[warm].notna().all().all()
    # read as 24/7, no stretch between weekends is long enough for the 168h windows
    with pytest.raises(UserError, match="longest stretch without a gap has 120 hours"):
        build_features(market, cfg, calendar=ALWAYS_OPEN)


def _fx_synthetic() -> pd.DataFrame:
    """The synthetic market (every role) with the FX weekend closure left out."""
    market = generate_market("2023-01-01", "2023-02-28", seed=3, signal_strength=0.05)
    return market[FX.is_open(epoch_hours(market.index))]


FX_MARKET = _fx_synthetic()
# the last open hour before each weekend and the first two after it
_SUNDAYS = np.flatnonzero(np.diff(epoch_hours(FX_MARKET.index)) > 1) + 1
AROUND_CLOSURES = sorted({int(i) for s in _SUNDAYS for i in (s - 1, s, s + 1) if i >= 200})
fx_perturbations = st.one_of(
    st.builds(noise_after, st.integers(0, 10_000), st.floats(0.001, 0.5)),
    st.just(truncate_after),
    st.builds(drop_after, st.integers(1, 30)),
)


@pytest.mark.parametrize("family", list(FAMILIES))
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    t=st.one_of(st.sampled_from(AROUND_CLOSURES), st.integers(200, len(FX_MARKET) - 40)),
    perturb=fx_perturbations,
)
def test_changing_the_future_never_changes_a_past_feature_across_a_closure(family, t, perturb):
    assert len(_SUNDAYS) >= 6 and FAMILIES[family](FX_MARKET, FeaturesConfig())
    assert_causal(
        lambda m: build_features(m, FeaturesConfig(), [family], calendar=FX),
        FX_MARKET,
        t,
        perturb,
    )


@settings(max_examples=20, deadline=None)
@given(t=st.sampled_from(AROUND_CLOSURES), perturb=fx_perturbations)
def test_labels_shifted_to_when_they_are_known_are_causal_across_a_closure(t, perturb):
    # the label of row t is known 4 open hours later: shifted there, nothing sees the future
    assert_causal(lambda m: make_labels(m, (1, 4), FX).shift(4).to_numpy(), FX_MARKET, t, perturb)


def test_the_loaded_calendar_travels_with_the_table_when_none_is_passed():
    market = fx_table(weeks=3)
    market.attrs["calendar"] = FX
    explicit = build_features(market, FeaturesConfig(), calendar=FX)
    assert build_features(market, FeaturesConfig()).equals(explicit)
    assert make_labels(market).equals(make_labels(market, (1, 4), FX))


def test_a_24_7_table_missing_every_fx_weekend_suggests_the_fx_calendar():
    market = fx_table(weeks=6)
    with pytest.raises(UserError) as err:
        build_features(market, FeaturesConfig())
    msg = str(err.value)
    assert "the longest stretch without a gap has 120 hours" in msg
    assert "feature 'close_vol_168h' needs 169" in msg
    assert "The same 48-hour gap (Fri 22:00 to Sun 22:00 UTC) recurs in 6 of 6 weeks" in msg
    assert "set data.calendar=fx" in msg
    assert build_features(market, FeaturesConfig(), calendar=FX).shape[0] == len(market)


def test_another_weekly_gap_suggests_closures_and_random_gaps_suggest_nothing():
    index = pd.date_range("2024-01-01", periods=6 * 168, freq="h", tz="UTC", name="timestamp")
    equity = index[(index.day_of_week < 5)]  # closed Saturday and Sunday
    market = pd.DataFrame({"close": np.linspace(1, 2, len(equity))}, index=equity)
    with pytest.raises(UserError) as err:
        build_features(market, FeaturesConfig())
    assert 'data.calendar=weekly \'data.closures=[{start: "Sat 00:00", end: "Mon 00:00"}]\'' in str(
        err.value
    )
    # outages of 30, 31, ... hours every ~160 hours: no stretch is long enough, none recurs
    holes = [h + np.arange(30 + i) for i, h in enumerate(range(100, 1000, 160))]
    scattered = index.delete(np.concatenate(holes))
    market = pd.DataFrame({"close": np.linspace(1, 2, len(scattered))}, index=scattered)
    with pytest.raises(UserError) as err:
        build_features(market, FeaturesConfig())
    assert "recurs" not in str(err.value)


# --- decisions and splits ---------------------------------------------------------------------


def test_4h_decisions_on_fx_open_every_fourth_open_hour_and_their_labels_tile():
    market = fx_table(weeks=5)
    labels = make_labels(market, (4,), FX)
    stamps = pd.DatetimeIndex(market.index).tz_localize(None).to_numpy("datetime64[ns]")
    rows = np.flatnonzero(decision_rows(hours_of(stamps), 4))
    assert np.diff(rows).tolist() == [4] * (len(rows) - 1)
    logc = np.log(market["close"].to_numpy())
    held = labels["ret_4h"].to_numpy()[rows[:-1]]
    assert held.sum() == pytest.approx(logc[rows[-1]] - logc[rows[0]])


def test_the_embargo_counts_open_hours_so_no_friday_label_reaches_a_monday_valid_part():
    market = fx_table(weeks=8)
    stamps = pd.DatetimeIndex(market.index).tz_localize(None).to_numpy("datetime64[ns]")
    n = len(stamps)
    monday = at(market, "2024-02-05 01:00")
    fractions = (monday / n + 1e-9, 0.15, 1 - monday / n - 0.15 - 1e-9)
    fold = holdout(stamps, fractions, 4, FX)
    clock = open_clock(stamps, FX)
    assert fold.valid.start == monday
    assert clock[fold.train.stop - 1] + 4 < clock[fold.valid.start]
    assert clock[fold.valid.stop - 1] + 4 < clock[fold.test.start]
    assert fold.valid.start - fold.train.stop == 4  # 4 open hours: Fri 22:00 is not one
    # counted in clock hours the Friday 21:00 label (ending Monday 01:00) would train
    leaky = holdout(stamps, fractions, 4)
    assert clock[leaky.train.stop - 1] + 4 >= clock[leaky.valid.start]


def old_holdout_train_end(stamps: np.ndarray, cut: int, embargo: int) -> int:
    """The clock-hour arithmetic the 24/7 split has always used."""
    return int(np.searchsorted(stamps, stamps[cut] - np.timedelta64(embargo, "h"), side="left"))


def test_on_24_7_splits_are_the_clock_hour_arithmetic_they_always_were():
    index = pd.date_range("2022-01-01", "2024-12-31 23:00", freq="h", tz="UTC")
    rng = np.random.default_rng(5)
    index = index.delete(rng.choice(len(index), 300, replace=False))  # gaps of 1h and more
    stamps = pd.DatetimeIndex(index).tz_localize(None).to_numpy("datetime64[ns]")
    fold = holdout(stamps, (0.7, 0.15, 0.15), 4)
    assert fold.train.stop == old_holdout_train_end(stamps, fold.valid.start, 4)
    assert fold.valid.stop == old_holdout_train_end(stamps, fold.test.start, 4)
    for f in walk_forward(stamps, "2023-01-01", "2024-12-31", 3, (0.7, 0.15, 0.15), 4):
        t0 = stamps[f.test.start].astype("datetime64[D]")  # the fold's test part opens on day 1
        assert f.valid.stop == int(np.searchsorted(stamps, t0 - np.timedelta64(4, "h")))


def test_walk_forward_folds_on_an_fx_table_tile_the_test_period():
    index = pd.date_range("2022-01-01", "2023-12-31 23:00", freq="h", tz="UTC")
    index = index[FX.is_open(epoch_hours(index))]
    stamps = pd.DatetimeIndex(index).tz_localize(None).to_numpy("datetime64[ns]")
    folds = list(walk_forward(stamps, "2023-01-01", "2023-12-31", 3, (0.7, 0.15, 0.15), 4, FX))
    assert [f.name for f in folds] == ["2023Q1", "2023Q2", "2023Q3", "2023Q4"]
    assert all(a.test.stop == b.test.start for a, b in itertools.pairwise(folds))
    clock = open_clock(stamps, FX)
    for f in folds:
        assert clock[f.train.stop - 1] + 4 < clock[f.valid.start]
        assert clock[f.valid.stop - 1] + 4 < clock[f.test.start]


# --- end to end -------------------------------------------------------------------------------


def test_a_run_on_the_synthetic_market_with_the_fx_calendar_trains_and_records_it(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path
):
    import json

    from trainer.dataset import build_table
    from trainer.train import train

    cfg = compose_cfg("data.calendar=fx", "target.horizon=4h", "model.n_estimators=10")
    conf = validate(cfg)
    table = build_table(conf.data, conf.features)
    assert table.calendar == FX
    assert FX.is_open(table.timestamps.astype("datetime64[h]").astype(np.int64)).all()
    assert int(table.segment.max()) == 0  # no weekend splits the series
    train(cfg, tmp_path / "run")
    meta = json.loads((tmp_path / "run" / "metadata.json").read_text())
    assert meta["gaps"]["as_read"]["calendar"]["name"] == "fx"
    assert meta["gaps"]["as_read"]["n_gaps"] == 0
    assert meta["config"]["data"]["calendar"] == "fx"
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test"]["n_trades"] > 0


def test_a_24_7_csv_missing_every_weekend_stops_in_one_line_suggesting_the_calendar(
    tmp_path: Path,
):
    from tests.conftest import run_cli

    raw = fx_table(weeks=10).rename_axis("timestamp").reset_index()
    raw["timestamp"] = raw["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    raw.to_csv(tmp_path / "eurusd.csv", index=False)
    res = run_cli("trainer", "data=csv", "data.path=eurusd.csv", "progress=false", cwd=tmp_path)
    assert res.returncode == 2, res.stderr[-2000:]
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: market: the longest stretch")
    assert "recurs in 10 of 10 weeks" in lines[0] and "set data.calendar=fx" in lines[0]
    assert not list(tmp_path.rglob("metrics.json"))


# --- sources that carry the calendar ----------------------------------------------------------


def _csv(market: pd.DataFrame, path: Path) -> Path:
    raw = market.rename_axis("timestamp").reset_index()
    raw["timestamp"] = raw["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    raw.to_csv(path, index=False)
    return path


def test_a_joined_source_keeps_the_price_files_open_hours_and_refuses_closed_rows(tmp_path: Path):
    from trainer.data.config import JoinedDataConfig, RoleFileConfig
    from trainer.data.market import load_market

    market = fx_table(weeks=3)
    _csv(market, tmp_path / "spot.csv")
    files = {"spot": RoleFileConfig(path="spot.csv", role="price")}
    table = load_market(JoinedDataConfig(root=str(tmp_path), files=files, calendar="fx"))
    assert table.index.equals(market.index) and table.attrs["calendar"] == FX
    assert table.attrs["gaps_before_fill"]["n_gaps"] == 0
    with pytest.raises(UserError, match=r"spot\.csv, row 1: 2024-01-01T00:00:00\+00:00 is an hour"):
        load_market(
            JoinedDataConfig(
                root=str(tmp_path),
                files=files,
                calendar="weekly",
                closures=[ClosureConfig("Mon 00:00", "Tue 00:00")],
            )
        )


def test_prepared_splits_keep_their_calendar_and_refuse_another(tmp_path: Path):
    from trainer.data.config import NpzDataConfig, SyntheticDataConfig
    from trainer.data.npz import read_table, write_splits
    from trainer.dataset import build_table, segments_of

    data = SyntheticDataConfig(start="2023-01-01", end="2023-04-30", calendar="fx")
    table = build_table(data, FeaturesConfig())
    fold = holdout(table.timestamps, (0.7, 0.15, 0.15), 4, table.calendar)
    multi, _ = write_splits(tmp_path, table, fold, 4)
    back = read_table(NpzDataConfig(path=str(multi)))
    assert back.calendar == FX
    # the parts are consecutive open hours but for the two embargoes; on 24/7, every weekend
    assert int(back.segment.max()) == 2
    assert int(segments_of(back.timestamps).max()) > 10
    with pytest.raises(UserError, match="was written with calendar fx"):
        read_table(
            NpzDataConfig(
                path=str(multi),
                calendar="weekly",
                closures=[ClosureConfig("Sat 00:00", "Mon 00:00")],
            )
        )


def test_a_study_on_a_calendar_is_not_resumed_on_another_but_24_7_fingerprints_stay(
    compose_cfg: Callable[..., DictConfig],
):
    from trainer.tuning import study_fingerprint

    assert "calendar" not in study_fingerprint(compose_cfg())
    fx = study_fingerprint(compose_cfg("data.calendar=fx"))
    assert fx["calendar"]["name"] == "fx"


@pytest.mark.slow
def test_the_evaluation_walks_forward_over_the_open_hours_of_an_fx_run(tmp_path: Path):
    import json

    from tests.conftest import run_cli

    res = run_cli(
        "trainer",
        "data.calendar=fx",
        "target.horizon=4h",
        "model.n_estimators=30",
        "progress=false",
        "hydra.run.dir=run",
        cwd=tmp_path,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    res = run_cli(
        "evaluation",
        "run=run",
        "artifacts_dir=art",
        "walk_forward.start=2024-01-01",
        "walk_forward.end=2025-12-31",
        "progress=false",
        cwd=tmp_path,
        timeout=900,
    )
    assert res.returncode in (0, 3), res.stderr[-3000:]  # 3: evaluated, not promoted
    (out,) = (tmp_path / "art" / "reports").iterdir()
    report = json.loads((out / "evaluation.json").read_text())
    wf = report["walk_forward"]
    assert wf["n_folds"] == 8
    series = pd.read_parquet(out / "series.parquet")
    hours = series["timestamp"].to_numpy().astype("datetime64[h]").astype(np.int64)
    assert FX.is_open(hours).all()  # the out-of-sample hours are the market's open hours
    period = pd.date_range("2024-01-01", "2025-12-31 23:00", freq="h", tz="UTC")
    open_hours = int(FX.is_open(epoch_hours(period)).sum())
    assert open_hours - 24 <= wf["n_hours"] == len(series) <= open_hours
    assert np.diff(FX.clock(hours)).max() == 1  # test parts tile: no open hour left out
