"""Promotion publishes exactly what was evaluated: the recipe refit by the evaluation on the
walk-forward's next fold, bound to its report by a manifest. Each way the old gate leaked (a
study moving on, a run edited after training, other data) is reproduced here and now refused or
harmless; a promoted model re-evaluated on newer data is replaced, its predecessor kept."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from evaluation.cli import EXIT_NOT_PROMOTED, EXIT_PASSED, finish
from evaluation.config import (
    BacktestConfig,
    EvaluationConfig,
    GuardrailsConfig,
    PromotionConfig,
    StressConfig,
    WalkForwardConfig,
)
from evaluation.evaluate import evaluate
from evaluation.manifest import config_hash
from tests.conftest import train_run
from trainer.artifacts import file_digests, load_run, publish_dir
from trainer.predict import PredictConfig, predict
from trainer.run_config import compose_run_config

SMALL = [
    "data.start=2022-09-01",
    "data.end=2023-06-30",
    "model.n_estimators=20",
    "progress=false",
    "hardware.threads=1",
]
LENIENT = GuardrailsConfig(
    min_trades=0, min_hit_rate=0.0, max_drawdown_1h=-1.0, max_drawdown_4h=-1.0
)
STRICT = GuardrailsConfig(min_hit_rate=1.0)


@pytest.fixture(scope="module")
def make_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    cache: dict[tuple[str, ...], Path] = {}

    def _make(*overrides: str) -> Path:
        if overrides not in cache:
            cache[overrides] = train_run(tmp_path_factory.mktemp("run"), [*SMALL, *overrides])
        return cache[overrides]

    return _make


def _cfg(run: Path, artifacts: Path, **kw: Any) -> EvaluationConfig:
    base = EvaluationConfig(
        run=str(run),
        walk_forward=WalkForwardConfig(step_months=1, infer_steps=2),
        stress=StressConfig(enabled=False),
        backtest=BacktestConfig(strategies=["1h"]),
        guardrails=LENIENT,
        artifacts_dir=str(artifacts),
        progress=False,
    )
    return replace(base, **kw)


def _copy(run: Path, tmp_path: Path, name: str = "run") -> Path:
    dest = tmp_path / name
    shutil.copytree(run, dest)
    return dest


def _report(artifacts: Path) -> dict[str, Any]:
    (report,) = (artifacts / "reports").iterdir()
    data: dict[str, Any] = json.loads((report / "evaluation.json").read_text())
    return data


def test_the_promoted_model_is_the_evaluated_recipe_refit_on_the_newest_data(
    make_run: Callable[..., Path], tmp_path: Path
) -> None:
    run = make_run()
    cfg = _cfg(run, tmp_path)
    ev = evaluate(cfg)
    assert finish(ev, cfg) == EXIT_PASSED
    promoted = tmp_path / "promoted" / "1h_direction"
    manifest = json.loads((promoted / "manifest.json").read_text())
    meta = json.loads((promoted / "metadata.json").read_text())
    # The next fold: valid ends at the table's last complete hour; train before it.
    assert ev.refit is not None
    table_end = pd.Timestamp(ev.refit.prepared.table.timestamps[-1]).isoformat() + "Z"
    assert meta["split"]["fold"] == "next" and meta["split"]["bounds"]["valid"][1] == table_end
    assert meta["threshold"] == ev.refit.threshold == manifest["refit"]["threshold"]
    # The manifest binds the files, the evaluated config, the data and the run as it was read.
    files = {k: v for k, v in file_digests(promoted).items() if k != "manifest.json"}
    assert manifest["files"] == files
    evaluated = compose_run_config(promoted, [])
    assert manifest["config_sha256"] == config_hash(evaluated) == config_hash(ev.source.config)
    assert manifest["data_sha256"] == meta["data_hash"] == ev.refit.prepared.table.data_hash
    assert manifest["source"]["resolved"] == str(run.resolve())
    assert manifest["source"]["files"] == file_digests(run)
    assert manifest["git_revision"] and manifest["versions"]["numpy"]
    assert (Path(manifest["report"]) / "report.html").is_file()
    # predict on the promoted model scores the refit's valid part bit for bit.
    frame = predict(PredictConfig(run=str(promoted), progress=False)).frame.set_index("timestamp")
    hours = pd.DatetimeIndex(ev.refit.prepared.valid.timestamps).tz_localize("UTC")
    np.testing.assert_array_equal(frame.loc[hours, "score"].to_numpy(), ev.refit.valid_scores)
    assert (frame["model_id"] == manifest["model_id"]).all()


def test_a_run_edited_after_training_cannot_change_what_is_promoted(
    make_run: Callable[..., Path], tmp_path: Path
) -> None:
    """Before: the saved model was copied with the edited config and metadata, and the manifest
    claimed results that model never produced. Now the edited config is what is evaluated and
    what is refit; the saved model's files and the edited metadata reach nothing promoted."""
    run = _copy(make_run(), tmp_path)
    config = OmegaConf.load(run / ".hydra" / "config.yaml")
    config.model.max_depth = 2
    OmegaConf.save(config, run / ".hydra" / "config.yaml")
    meta = json.loads((run / "metadata.json").read_text())
    meta["threshold"] = 0.123
    (run / "metadata.json").write_text(json.dumps(meta))
    cfg = _cfg(run, tmp_path / "art")
    ev = evaluate(cfg)
    assert finish(ev, cfg) == EXIT_PASSED
    promoted = tmp_path / "art" / "promoted" / "1h_direction"
    manifest = json.loads((promoted / "manifest.json").read_text())
    loaded = load_run(promoted)
    assert loaded.config.model.max_depth == 2 and manifest["config"]["model"]["max_depth"] == 2
    assert ev.refit is not None and loaded.threshold == ev.refit.threshold != 0.123
    assert loaded.metadata["model_sha256"] != meta["model_sha256"]  # the refit, not the copy
    assert "run_metrics" not in manifest  # no claim about the saved model's own results


def test_run_files_changed_during_the_evaluation_refuse_the_promotion(
    make_run: Callable[..., Path], tmp_path: Path
) -> None:
    run = _copy(make_run(), tmp_path)
    cfg = _cfg(run, tmp_path / "art")
    ev = evaluate(cfg)
    metrics = run / "metrics.json"
    metrics.write_text(metrics.read_text().replace('"valid"', '"valid" ', 1))
    assert finish(ev, cfg) == EXIT_NOT_PROMOTED
    assert not (tmp_path / "art" / "promoted").exists()
    blocked = _report(tmp_path / "art")["promotion"]["blocked_by"]
    assert "metrics.json" in blocked and "changed since the evaluation read them" in blocked


def test_other_data_refuses_promotion_unless_stated_on_purpose(
    make_run: Callable[..., Path], tmp_path: Path
) -> None:
    """Before: data.signal_strength=0.15 on a run trained elsewhere promoted it, recording
    data_matches_run false. Now it is refused unless promotion.allow_other_data=true."""
    run = make_run("data.signal_strength=0")
    cfg = _cfg(run, tmp_path / "a", overrides=["data.signal_strength=0.15"])
    assert finish(evaluate(cfg), cfg) == EXIT_NOT_PROMOTED
    assert not (tmp_path / "a" / "promoted").exists()
    assert "allow_other_data" in _report(tmp_path / "a")["promotion"]["blocked_by"]

    cfg = replace(cfg, artifacts_dir=str(tmp_path / "b"), promotion=PromotionConfig(True))
    assert finish(evaluate(cfg), cfg) == EXIT_PASSED
    manifest = json.loads(
        (tmp_path / "b" / "promoted" / "1h_direction" / "manifest.json").read_text()
    )
    assert manifest["allow_other_data"] is True and manifest["data_matches_run"] is False


def test_reevaluating_the_promoted_model_on_newer_data_replaces_it_and_keeps_history(
    make_run: Callable[..., Path], tmp_path: Path
) -> None:
    cfg = _cfg(make_run(), tmp_path)
    assert finish(evaluate(cfg), cfg) == EXIT_PASSED
    promoted = tmp_path / "promoted" / "1h_direction"
    first = json.loads((promoted / "manifest.json").read_text())
    first_files = file_digests(promoted)

    again = _cfg(promoted, tmp_path, overrides=["data.end=2023-07-31"], guardrails=STRICT)
    assert finish(evaluate(again), again) == EXIT_NOT_PROMOTED  # failed: nothing replaced
    assert json.loads((promoted / "manifest.json").read_text()) == first

    newer = replace(again, guardrails=LENIENT)
    assert finish(evaluate(newer), newer) == EXIT_PASSED
    second = json.loads((promoted / "manifest.json").read_text())
    assert second["data_sha256"] != first["data_sha256"]
    assert second["source"]["kind"] == "promoted"
    (kept,) = (promoted / "history").iterdir()
    assert file_digests(kept) == first_files  # the replaced champion, whole
    assert load_run(kept).threshold == first["refit"]["threshold"]
    assert load_run(promoted).metadata["split"]["bounds"]["valid"][1].startswith("2023-07-31")


def test_a_study_moving_on_during_the_evaluation_cannot_change_what_is_promoted(
    make_run: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: best/ was copied at promotion time, after the study had replaced it. Now the
    evaluation pins the run it read; a study replacing best/ meanwhile refuses the promotion."""
    import evaluation.evaluate as module

    study = tmp_path / "study"
    study.mkdir()
    (study / "best.json").write_text("{}")
    publish_dir(make_run(), study / "best")
    pinned = (study / "best").resolve()
    real = module.run_walk_forward

    def study_moves_on(*args: Any, **kwargs: Any) -> Any:
        publish_dir(make_run("model.max_depth=2"), study / "best")  # as the sweeper does
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "run_walk_forward", study_moves_on)
    cfg = _cfg(
        study / "best",
        tmp_path / "art",
        overfitting=replace(EvaluationConfig().overfitting, enabled=False),
    )
    ev = evaluate(cfg)
    assert ev.source.path == pinned and ev.source.config.model.max_depth != 2  # type: ignore[attr-defined]
    assert finish(ev, cfg) == EXIT_NOT_PROMOTED
    assert (
        "changed since the evaluation read them"
        in _report(tmp_path / "art")["promotion"]["blocked_by"]
    )
    assert not (tmp_path / "art" / "promoted").exists()


def test_best_swapped_while_the_evaluation_reads_it_is_read_again_whole(
    make_run: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A study replaced best/ (and deleted the copy being read) between the read of its files
    and the load of its model: the evaluation reads the new copy, whole, instead of failing."""
    import evaluation.source as source

    study = tmp_path / "study"
    study.mkdir()
    (study / "best.json").write_text("{}")
    publish_dir(make_run(), study / "best")
    real = source.load_run
    swaps: list[Path] = []

    def swapped_before_the_model_is_read(root: Path) -> Any:
        if not swaps:
            swaps.append(root)
            publish_dir(make_run("model.max_depth=2"), study / "best")  # deletes `root`
        return real(root)

    monkeypatch.setattr(source, "load_run", swapped_before_the_model_is_read)
    read = source.open_source(str(study / "best"), [])
    assert not swaps[0].exists() and read.path == (study / "best").resolve() != swaps[0]
    assert read.config.model.max_depth == 2  # type: ignore[attr-defined]
    assert read.snapshot is not None and read.snapshot.files == file_digests(read.path)


@pytest.mark.slow
def test_a_real_study_running_beside_the_evaluation_never_mixes_two_trials(
    tmp_path: Path,
) -> None:
    """A sweep keeps replacing best/ while its best/ is evaluated: what is promoted (if
    anything) is the refit of the config the evaluation read, never another trial's files."""
    import os
    import subprocess
    import sys
    import time

    from trainer.artifacts import CONFIG_FILE

    args = [*SMALL, "hydra.sweeper.n_trials=40", "-m"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    sweep = subprocess.Popen(
        [sys.executable, "-m", "trainer", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        best = tmp_path / "artifacts" / "studies" / "xgboost-1h-direction" / "best"
        deadline = time.monotonic() + 300
        while not best.exists():
            assert sweep.poll() is None and time.monotonic() < deadline, "no best/ appeared"
            time.sleep(0.5)
        cfg = _cfg(
            best,
            tmp_path / "art",
            overfitting=replace(EvaluationConfig().overfitting, enabled=False),
        )
        ev = evaluate(cfg)
        moved = best.resolve() != ev.source.path
        code = finish(ev, cfg)
    finally:
        sweep.terminate()
        sweep.wait(timeout=60)
    read = ev.source.snapshot
    assert read is not None
    promoted = tmp_path / "art" / "promoted" / "1h_direction"
    if code == EXIT_PASSED:
        manifest = json.loads((promoted / "manifest.json").read_text())
        assert manifest["source"]["files"] == read.files
        assert manifest["config_sha256"] == config_hash(compose_run_config(promoted, []))
        assert manifest["config_sha256"] == config_hash(ev.source.config)
    else:
        assert moved and not promoted.exists()
        blocked = _report(tmp_path / "art")["promotion"]["blocked_by"]
        assert "changed since the evaluation read them" in blocked
    if not moved:
        pytest.skip("the study found no better trial during the evaluation (nothing moved)")
    assert code == EXIT_NOT_PROMOTED  # it moved: the run read is gone, so it is refused
    assert (ev.source.path / CONFIG_FILE).exists() is False
