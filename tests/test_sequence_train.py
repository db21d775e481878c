"""`train` with model=lstm / model=transformer on the embedded market, and the sequence CLI's
user errors: same run directory as the tree learners, reproducible, reloadable."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from omegaconf import DictConfig, OmegaConf

from tests.conftest import ROOT, run_cli
from trainer.artifacts import load_run
from trainer.config import validate
from trainer.dataset import build_table, prepare
from trainer.fit import evaluate_scores, objective_spec
from trainer.train import folds_for, train

# 18 months of market, a tiny network and a few strided batches: seconds, not minutes.
SMALL = [
    "data.start=2022-01-01",
    "data.end=2023-06-30",
    "progress=false",
    "search=grid",  # a single run: no sweeper involved
    "hardware=cpu",
    "hardware.threads=2",
    "model.sequence_len=32",
    "model.max_epochs=2",
    "model.train_stride=8",
    "model.max_batches_per_epoch=4",
    "model.batch_size=128",
]
LSTM_SMALL = ["model=lstm", "model.hidden_dim=16", "model.num_layers=1"]
TRANSFORMER_SMALL = [
    "model=transformer",
    "model.d_model=16",
    "model.num_heads=2",
    "model.feedforward_dim=32",
]


def _train(cfg: DictConfig, run_dir: Path) -> dict[str, dict[str, float]]:
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    train(cfg, run_dir)
    metrics: dict[str, dict[str, float]] = json.loads((run_dir / "metrics.json").read_text())
    return metrics


@pytest.mark.parametrize(
    "overrides",
    [
        [*LSTM_SMALL, "target.horizon=1h", "target.task=direction"],
        [*TRANSFORMER_SMALL, "target.horizon=4h", "target.task=regression"],
    ],
    ids=["lstm-1h-direction", "transformer-4h-regression"],
)
def test_a_sequence_run_leaves_a_reloadable_run_directory(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path, overrides: list[str]
) -> None:
    cfg = compose_cfg(*SMALL, *overrides, tiny=False)
    metrics = _train(cfg, tmp_path)
    conf = validate(cfg)
    for part in ("valid", "test"):
        assert np.isfinite(metrics[part]["objective"]) and metrics[part]["n_rows"] > 0
    if conf.target.task == "regression":
        assert {"rmse", "ic"} <= set(metrics["test"])
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["family"] == "sequence" and meta["device"] == "cpu"
    assert (tmp_path / "model" / "weights.safetensors").is_file()

    run = load_run(tmp_path)
    table = build_table(conf.data, conf.features)
    prepared = prepare(table, folds_for(conf, table)[0], conf.target.hours, conf.target.task, 1e-12)
    again = run.learner.predict(prepared.test)
    spec = objective_spec(conf)
    assert evaluate_scores(again, run.rule, prepared.test, spec, conf.target.task) == (
        pytest.approx(metrics["test"])
    )


@pytest.mark.slow  # the learner-level test in test_sequence.py covers this in a second
def test_a_sequence_run_repeats_bit_for_bit_with_the_same_seed(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    cfg = compose_cfg(*SMALL, *LSTM_SMALL, "seed=7", tiny=False)
    _train(cfg, tmp_path / "a")
    _train(cfg, tmp_path / "b")
    a = (tmp_path / "a" / "metrics.json").read_bytes()
    assert a == (tmp_path / "b" / "metrics.json").read_bytes()


def _one_line_error(args: list[str], tmp_path: Path) -> str:
    res = run_cli("trainer", *args, cwd=tmp_path, timeout=120)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, res.stderr
    return lines[0]


def test_hardware_a10_without_cuda_exits_with_the_fix(tmp_path: Path) -> None:
    from trainer.hardware import cuda_available

    if cuda_available():
        pytest.skip("this machine has CUDA: hardware=a10 is expected to train here")
    line = _one_line_error(
        [f"--config-dir={ROOT / 'conf'}", "model=lstm", "hardware=a10"], tmp_path
    )
    assert "hardware=a10 needs a CUDA device" in line and "hardware=auto" in line


def test_a_head_count_not_dividing_d_model_exits_before_training(tmp_path: Path) -> None:
    line = _one_line_error(
        [f"--config-dir={ROOT / 'conf'}", "model=transformer", "model.num_heads=3"], tmp_path
    )
    assert "model.num_heads=3" in line and "d_model=128" in line
