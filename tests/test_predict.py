"""``python -m trainer.predict``: a saved model scores new hours from any source, every family,
with its own features, scaler and decision rule; bad requests end in one clear line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.conftest import run_cli, train_run
from trainer.data.synthetic import generate_market
from trainer.errors import UserError
from trainer.predict import (
    STATUS_GAP,
    STATUS_OK,
    STATUS_WARMUP,
    PredictConfig,
    PredictOptions,
    decision_positions,
    predict,
)

START, END = "2022-09-01", "2023-06-30"
BASE = [f"data.start={START}", f"data.end={END}", "progress=false", "hardware.threads=1"]
SEQUENCE = [
    "model.sequence_len=16",
    "model.max_epochs=1",
    "model.train_stride=8",
    "model.max_batches_per_epoch=2",
    "model.batch_size=128",
]
FAMILIES = {
    "xgboost": ["model=xgboost", "model.n_estimators=20"],
    "lightgbm": ["model=lightgbm", "model.n_estimators=20"],
    "lstm": ["model=lstm", "model.hidden_dim=8", "model.num_layers=1", *SEQUENCE],
    "transformer": [
        "model=transformer",
        "model.d_model=8",
        "model.num_heads=2",
        "model.num_layers=1",
        "model.feedforward_dim=16",
        *SEQUENCE,
    ],
    "ensemble": [
        "model=ensemble",
        "model.use=''",
        "model.members=[{name:xgb,model:xgboost,overrides:{n_estimators:'10'}},"
        "{name:lgbm,model:lightgbm,overrides:{n_estimators:'10'}}]",
    ],
    "4h": ["model=xgboost", "model.n_estimators=20", "target.horizon=4h"],
}


@pytest.fixture(scope="module")
def make_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    cache: dict[str, Path] = {}

    def _make(family: str) -> Path:
        if family not in cache:
            if family in ("lstm", "transformer"):
                pytest.importorskip("torch")
            run_dir = tmp_path_factory.mktemp(f"run_{family}")
            cache[family] = train_run(run_dir, [*BASE, *FAMILIES[family]])
        return cache[family]

    return _make


@pytest.fixture(scope="module")
def market_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run's market as one csv (exact floats), the way a live system would get it."""
    market = generate_market(START, END, 42, 0.15)
    path = tmp_path_factory.mktemp("data") / "market.csv"
    market.reset_index().to_csv(path, index=False, float_format="%.17g")
    return path


def _predict(run: Path, *overrides: str, **opts: object) -> pd.DataFrame:
    cfg = PredictConfig(
        run=str(run), overrides=list(overrides), predict=PredictOptions(**opts), progress=False
    )  # type: ignore[arg-type]
    return predict(cfg).frame


@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_csv_of_the_last_window_plus_n_hours_predicts_like_the_whole_table(
    family: str, make_run: Callable[[str], Path], market_csv: Path, tmp_path: Path
) -> None:
    run = make_run(family)
    n = 30
    whole = _predict(run, "data=csv", f"data.path={market_csv}", last_hours=n)
    cfg = PredictConfig(run=str(run), overrides=["data=csv", f"data.path={market_csv}"])
    needed = predict(
        PredictConfig(run=cfg.run, overrides=cfg.overrides, predict=PredictOptions(last_hours=1))
    ).history_hours
    rows = pd.read_csv(market_csv)
    tail = tmp_path / "tail.csv"
    rows.tail(needed + n).to_csv(tail, index=False)  # the text rows as they are: same floats
    short = _predict(run, "data=csv", f"data.path={tail}", last_hours=n)
    every = _predict(run, "data=csv", f"data.path={market_csv}").tail(n).reset_index(drop=True)
    assert (whole["status"] == STATUS_OK).all()
    for column in ("timestamp", "score", "position", "threshold", "model_id", "data_hash"):
        pd.testing.assert_series_equal(whole[column], short[column], check_exact=True)
        if column != "data_hash":  # every hour's rows hash differently: more rows
            # held positions too: the decision before the first hour is scored, not flat
            pd.testing.assert_series_equal(whole[column], every[column], check_exact=True)
    # One hour less of history is refused before any work, saying what is needed.
    rows.tail(needed + n - 1).to_csv(tail, index=False)
    with pytest.raises(UserError, match=rf"needs {needed} hours of history .* has {needed - 1}"):
        _predict(run, "data=csv", f"data.path={tail}", last_hours=n)


def test_predict_on_the_training_data_scores_the_valid_part_as_training_did(
    make_run: Callable[[str], Path],
) -> None:
    from trainer.artifacts import load_run
    from trainer.dataset import build_table, prepare
    from trainer.run_config import compose_run_config
    from trainer.train import folds_for

    run_dir = make_run("lstm")
    conf = compose_run_config(run_dir, [])
    table = build_table(conf.data, conf.features)
    prepared = prepare(table, folds_for(conf, table)[0], 1, "direction", 1e-12)
    expected = load_run(run_dir).learner.predict(prepared.valid)
    frame = _predict(run_dir).set_index("timestamp")
    hours = pd.DatetimeIndex(prepared.valid.timestamps).tz_localize("UTC")
    scores = frame.loc[hours, "score"].to_numpy()
    # The valid part alone starts its windows afresh; predict gives them the hours before.
    known = np.isfinite(expected)
    assert (~known).sum() == 15 and np.isfinite(scores).all()  # sequence_len 16
    np.testing.assert_array_equal(scores[known], expected[known])


def test_positions_follow_the_models_decision_rule() -> None:
    from trainer.config import CostsConfig, ObjectiveConfig, StrategyConfig, TargetConfig
    from trainer.fit import spec_of
    from trainer.trading import Rule

    def held(horizon: str, allow_short: bool) -> np.ndarray:
        spec = spec_of(TargetConfig(horizon), ObjectiveConfig(), CostsConfig(), StrategyConfig())
        rule = Rule(upper=0.5, lower=0.5, allow_short=allow_short)
        return decision_positions(scores, rule, np.zeros(8), np.arange(8) % 24, spec)

    scores = np.array([0.9, 0.1, np.nan, 0.9, 0.1, 0.9, 0.9, 0.1])
    np.testing.assert_array_equal(held("1h", False), [1, 0, 0, 1, 0, 1, 1, 0])
    np.testing.assert_array_equal(held("1h", True), [1, -1, 0, 1, -1, 1, 1, -1])
    # 4h: decided at hours 0 and 4 of the day, held in between
    np.testing.assert_array_equal(held("4h", False), [1, 1, 1, 1, 0, 0, 0, 0])


def test_hours_in_a_gap_are_listed_not_predicted_and_never_filled(
    make_run: Callable[[str], Path], market_csv: Path, tmp_path: Path
) -> None:
    rows = pd.read_csv(market_csv)
    cut = len(rows) - 40
    holed = pd.concat([rows.iloc[:cut], rows.iloc[cut + 5 :]])  # 5 hours missing > max_ffill 2
    path = tmp_path / "holed.csv"
    holed.to_csv(path, index=False)
    frame = _predict(make_run("xgboost"), "data=csv", f"data.path={path}", last_hours=60)
    status = frame["status"].to_numpy()
    gap = status == STATUS_GAP
    assert gap.sum() == 5 and frame["score"][gap].isna().all()
    assert frame["position"][gap].isna().all()
    assert frame["timestamp"][gap].iloc[0] == pd.Timestamp(rows["timestamp"][cut], tz="UTC")
    # After the gap the windows start again: those hours wait for their history, never filled.
    after = np.flatnonzero(gap)[-1] + 1
    assert (status[after:] == STATUS_WARMUP).all()
    assert (status[: np.flatnonzero(gap)[0]] == STATUS_OK).all()


def test_requests_the_data_cannot_answer_are_user_errors(
    make_run: Callable[[str], Path], market_csv: Path, tmp_path: Path
) -> None:
    run = make_run("xgboost")
    csv = ["data=csv", f"data.path={market_csv}"]
    with pytest.raises(UserError, match=r"predict.end=2023-07-02: after the data's last hour"):
        _predict(run, *csv, start="2023-06-01", end="2023-07-02")
    with pytest.raises(UserError, match=r"predict.start=2022-08-01: outside the data"):
        _predict(run, *csv, start="2022-08-01")
    with pytest.raises(UserError, match=r"needs 168 hours of history .* the data has 10"):
        _predict(run, *csv, start="2022-09-01 10:00", end="2022-09-05")
    rows = pd.read_csv(market_csv)[["timestamp", "close"]]
    only_close = tmp_path / "close.csv"
    rows.to_csv(only_close, index=False)
    with pytest.raises(UserError, match=r"needs feature\(s\) .*(volume|basis).* which the data"):
        _predict(run, "data=csv", f"data.path={only_close}", last_hours=2)


def test_the_command_writes_parquet_and_csv_and_bad_input_is_one_line(
    make_run: Callable[[str], Path], market_csv: Path, tmp_path: Path
) -> None:
    run = make_run("xgboost")
    rows = pd.read_csv(market_csv)
    short, close = tmp_path / "short.csv", tmp_path / "close.csv"
    rows.tail(100).to_csv(short, index=False)
    rows[["timestamp", "close"]].to_csv(close, index=False)
    out = tmp_path / "out"
    proc = run_cli(
        "trainer.predict", f"run={run}", "predict.last_hours=3", f"predict.out={out}", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    frame = pd.read_parquet(out / "predictions.parquet")
    text = pd.read_csv(out / "predictions.csv")
    assert list(frame.columns) == [
        "timestamp",
        "score",
        "position",
        "threshold",
        "model_id",
        "data_hash",
        "status",
    ]
    assert len(frame) == 3 and (frame["status"] == STATUS_OK).all()
    np.testing.assert_array_equal(frame["score"].to_numpy(), text["score"].to_numpy())
    assert "3 hours predicted" in proc.stdout
    for args, culprit in (
        ([f"run={tmp_path / 'nope'}"], "no such directory"),
        ([f"run={run}", "predict.last_hour=3"], "last_hour"),
        ([f"run={run}", "predict.last_hours=3", "predict.start=2023-01-01"], "one or the other"),
        ([f"run={run}", "predict.start=soon"], "not a time"),
        ([f"run={run}", "data.nope=1"], "data.nope"),
        ([f"run={run}", "predict.last_hours=100000"], "predict.last_hours=100000"),
        ([f"run={run}", "data=csv", f"data.path={tmp_path / 'x.csv'}"], "file not found"),
        ([f"run={run}", "predict.end=2030-01-01"], "after the data's last hour"),
        ([f"run={run}", "data=csv", f"data.path={short}"], "no hour has the 168 hours"),
        ([f"run={run}", "data=csv", f"data.path={short}", "predict.last_hours=2"], "has 98"),
        ([f"run={run}", "data=csv", f"data.path={close}"], "which the data lacks"),
    ):
        proc = run_cli("trainer.predict", *args, cwd=tmp_path)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert proc.returncode == 2 and len(lines) == 1, (args, proc.stderr)
        assert culprit in lines[0] and "Traceback" not in proc.stderr, (args, lines)


def test_a_promotion_swapping_the_model_mid_read_is_read_again_whole(
    make_run: Callable[[str], Path],
    market_csv: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A promotion replaced the promoted model (and deleted the copy being read) between the
    read of its config and the load of its model: predict reads the new copy, whole."""
    import trainer.artifacts as artifacts

    link = tmp_path / "promoted" / "1h_direction"
    artifacts.publish_dir(make_run("xgboost"), link)
    real = artifacts.load_run
    swapped: list[Path] = []

    def promoted_meanwhile(root: Path) -> Any:
        if not swapped:
            swapped.append(root)
            artifacts.publish_dir(make_run("xgboost"), link)  # deletes `root`
        return real(root)

    monkeypatch.setattr(artifacts, "load_run", promoted_meanwhile)
    pred = predict(
        PredictConfig(
            run=str(link),
            overrides=["data=csv", f"data.path={market_csv}"],
            predict=PredictOptions(last_hours=2),
            progress=False,
        )
    )
    assert not swapped[0].exists() and pred.run == link.resolve() != swapped[0]
    assert pred.frame["status"].tolist() == ["predicted", "predicted"]
