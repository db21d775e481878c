"""`train` end to end on the embedded market: artifacts, targets, reproducibility, reload."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from omegaconf import DictConfig

from trainer.artifacts import load_run
from trainer.config import validate
from trainer.dataset import build_table, prepare
from trainer.train import folds_for, train
from trainer.trial_cache import TrialCache

METRIC_KEYS = {
    "f1_up",
    "up_recall",
    "precision_up",
    "hit_rate",
    "auc",
    "n_trades",
    "cum_return",
    "max_drawdown",
    "sharpe",
    "objective",
    "baseline_f1_up",
}


def test_default_run_writes_metrics_model_and_metadata(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    objective = train(compose_cfg(), tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics["valid"]) >= METRIC_KEYS and set(metrics["test"]) >= METRIC_KEYS
    assert objective == pytest.approx(metrics["valid"]["objective"])
    assert (tmp_path / "model" / "model.ubj").is_file()
    meta = json.loads((tmp_path / "metadata.json").read_text())
    for key in ("feature_names", "scaler", "data_hash", "seed", "versions", "threshold"):
        assert key in meta
    assert len(meta["scaler"]["mean"]) == len(meta["feature_names"])
    assert meta["versions"]["numpy"]


@pytest.mark.parametrize("model", ["xgboost", "lightgbm"])
@pytest.mark.parametrize(("horizon", "task"), [("4h", "direction"), ("1h", "regression")])
def test_both_tree_learners_train_every_target(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path, model: str, horizon: str, task: str
) -> None:
    cfg = compose_cfg(f"model={model}", f"target.horizon={horizon}", f"target.task={task}")
    train(cfg, tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert np.isfinite(metrics["test"]["objective"])
    if task == "regression":
        assert {"rmse", "ic"} <= set(metrics["test"])


def test_same_seed_gives_identical_metrics(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    train(compose_cfg("seed=7"), tmp_path / "a")
    train(compose_cfg("seed=7"), tmp_path / "b")
    a = (tmp_path / "a" / "metrics.json").read_bytes()
    b = (tmp_path / "b" / "metrics.json").read_bytes()
    assert a == b


def test_a_saved_run_loads_back_and_predicts_identically(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    cfg = compose_cfg("model=lightgbm")
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text(_yaml(cfg))
    train(cfg, tmp_path)
    run = load_run(tmp_path)
    conf = validate(cfg)
    table = build_table(conf.data, conf.features)
    prepared = prepare(table, folds_for(conf, table)[0], 1, "direction", 1e-12)
    assert run.feature_names == prepared.feature_names
    np.testing.assert_allclose(run.scaler.mean, prepared.scaler.mean)
    again = run.learner.predict(prepared.test)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert np.mean(again > run.threshold) == pytest.approx(np.mean(again > metrics["threshold"]))
    from trainer.fit import evaluate_scores, objective_spec

    m = evaluate_scores(again, run.rule, prepared.test, objective_spec(conf), "direction")
    assert m == pytest.approx(metrics["test"])


def test_trials_sharing_a_trial_cache_share_one_read_only_preparation_of_their_fold(
    compose_cfg: Callable[..., DictConfig],
) -> None:
    conf = validate(compose_cfg())
    cache = TrialCache()
    table = cache.table(conf.data, conf.features)
    assert cache.table(conf.data, conf.features) is table
    fold = folds_for(conf, table)[0]
    first = cache.prepared(table, fold, 1, "direction", 1e-12)
    assert cache.prepared(table, fold, 1, "direction", 1e-12) is first
    # another target, or a table the cache does not hold (other data), is prepared anew
    assert cache.prepared(table, fold, 4, "direction", 1e-12) is not first
    rebuilt = dataclasses.replace(table)
    again = cache.prepared(rebuilt, fold, 1, "direction", 1e-12)
    assert again is not first and again.table is rebuilt and again.train.library is None
    # another data config replaces the table and drops its folds
    other = validate(compose_cfg("data.seed=1"))
    assert cache.table(other.data, other.features) is not table and len(cache) == 0
    np.testing.assert_array_equal(again.train.X, first.train.X)
    # no trial can change what the next one is given
    for part in (first.train, first.valid, first.test):
        for array in (part.X, part.y, part.returns, part.timestamps, part.segment):
            with pytest.raises(ValueError, match="read-only"):
                array[:1] = array[:1]


def _yaml(cfg: DictConfig) -> str:
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(cfg)


def test_the_git_revision_is_asked_again_after_git_timed_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Remembered per process (a trial's metadata would otherwise start git each time), but a
    # timeout under load is not remembered as "no revision".
    import subprocess

    import trainer.artifacts as artifacts

    answers: list[Any] = [subprocess.TimeoutExpired("git", 5), "abc123\n"]

    def fake_run(*args: Any, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return subprocess.CompletedProcess(args, 0, stdout=answer, stderr="")

    monkeypatch.setattr(artifacts.subprocess, "run", fake_run)
    monkeypatch.setattr(artifacts, "_REVISIONS", {})
    assert artifacts.git_revision(tmp_path) is None
    assert artifacts.git_revision(tmp_path) == "abc123"
    assert artifacts.git_revision(tmp_path) == "abc123"  # remembered: no third git call
