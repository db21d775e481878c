"""``python -m evaluation forward=PATH``: the saved model as it is on the hours after its data,
with the evaluation's backtest and guardrails; the same positions ``trainer.predict`` writes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.cli import EXIT_NOT_PROMOTED, EXIT_PASSED, run
from evaluation.config import EvaluationConfig, GuardrailsConfig
from tests.conftest import run_cli, train_run
from trainer.data.synthetic import generate_market
from trainer.errors import UserError
from trainer.predict import PredictConfig, PredictOptions, predict

TRAINED = ["data.start=2022-09-01", "data.end=2023-03-31", "model.n_estimators=20"]
NEWER = ["data.end=2023-06-30"]
LENIENT = GuardrailsConfig(
    min_trades=0, min_hit_rate=0.0, max_drawdown_1h=-1.0, max_drawdown_4h=-1.0
)
STRICT = GuardrailsConfig(min_hit_rate=1.0)


def _train(tmp_path: Path, *overrides: str) -> Path:
    overrides = (*TRAINED, "progress=false", "hardware.threads=1", *overrides)
    return train_run(tmp_path / "run", overrides)


@pytest.mark.parametrize("horizon", ["1h", "4h"])
def test_forward_test_equals_metrics_computed_by_hand_from_predict_output(
    horizon: str, tmp_path: Path
) -> None:
    run_dir = _train(tmp_path, f"target.horizon={horizon}")
    cfg = EvaluationConfig(
        forward=str(run_dir),
        overrides=NEWER,
        guardrails=LENIENT,
        artifacts_dir=str(tmp_path / "art"),
        progress=False,
    )
    assert run(cfg) == EXIT_PASSED
    assert not (tmp_path / "art" / "promoted").exists()  # a forward test never promotes
    (report,) = (tmp_path / "art" / "reports").iterdir()
    summary = json.loads((report / "evaluation.json").read_text())["backtests"][horizon]
    series = pd.read_parquet(report / "series.parquet", columns=["timestamp"])
    hours = pd.DatetimeIndex(series["timestamp"]).tz_localize("UTC")
    valid_end = json.loads((run_dir / "metadata.json").read_text())["split"]["bounds"]["valid"][1]
    assert hours[0] == pd.Timestamp(valid_end) + pd.Timedelta(hours=int(horizon[0]))

    frame = predict(
        PredictConfig(
            run=str(run_dir),
            overrides=NEWER,
            predict=PredictOptions(start=str(hours[0]), end=str(hours[-1])),
        )
    ).frame
    assert len(frame) == len(hours) and (frame["status"] == "predicted").all()
    # By hand: each hour's position over its next 1h return, costs on every unit changed.
    market = generate_market("2022-09-01", "2023-06-30", 42, 0.15)
    close = market["close"].to_numpy()
    at = market.index.get_indexer(pd.DatetimeIndex(frame["timestamp"]))
    ret = np.expm1(np.log(close[at + 1]) - np.log(close[at]))
    pos = frame["position"].to_numpy()
    gross = pos * ret
    net = gross - np.abs(np.diff(pos, prepend=0.0)) * 7e-4  # fee 5 + slippage 2 bps
    equity = np.cumprod(1.0 + net)
    drawdown = equity / np.maximum.accumulate(np.maximum(equity, 1.0)) - 1.0
    assert summary["total_return"] == pytest.approx(equity[-1] - 1.0, rel=1e-9)
    assert summary["gross_return"] == pytest.approx(np.prod(1.0 + gross) - 1.0, rel=1e-9)
    assert summary["max_drawdown"] == pytest.approx(min(0.0, drawdown.min()), rel=1e-9)
    assert summary["exposure"] == pytest.approx(np.mean(pos != 0), rel=1e-12)


def test_forward_exit_codes_and_no_newer_hours_is_one_line(tmp_path: Path) -> None:
    run_dir = _train(tmp_path)
    common = {"forward": str(run_dir), "overrides": NEWER, "progress": False}
    failing = EvaluationConfig(**common, guardrails=STRICT, artifacts_dir=str(tmp_path / "a"))  # type: ignore[arg-type]
    assert run(failing) == EXIT_NOT_PROMOTED
    data = json.loads(
        next((tmp_path / "a" / "reports").iterdir()).joinpath("evaluation.json").read_text()
    )
    assert data["promotion"]["promoted"] is False
    # The model's own data ends before any newer hour: nothing to test, said on one line.
    with pytest.raises(UserError, match="no hour to test"):
        run(EvaluationConfig(forward=str(run_dir), overrides=["data.end=2023-02-01"]))
    proc = run_cli("evaluation", f"forward={tmp_path / 'nope'}", cwd=tmp_path)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and "nope" in lines[0], proc.stderr
    shutil.rmtree(tmp_path / "a")
