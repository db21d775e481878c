"""`python -m trainer ... -m` as a user runs it: Optuna studies end to end, in subprocesses.

Budgets are tiny (a year of market, 20 boosting rounds, 2-4 trials); the study that several
tests inspect is run once per module. Crash and multi-process tests are marked slow.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from hydra_plugins.quantsweep_sweeper.link import open_storage
from tests.conftest import run_cli
from trainer.artifacts import load_run
from trainer.hardware import cpu_count

SMALL = [
    "data.start=2022-01-01",
    "data.end=2022-12-31",
    "model.n_estimators=20",
    "progress=false",
    "hardware.threads=1",
]
STUDY = "xgboost-1h-direction"


def study_dir(root: Path, name: str = STUDY) -> Path:
    return root / "artifacts" / "studies" / name


def load(root: Path, name: str = STUDY) -> optuna.Study:
    journal = study_dir(root, name) / "journal.log"
    return optuna.load_study(study_name=name, storage=open_storage(str(journal.resolve())))


def sweep(root: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return run_cli("trainer", *SMALL, *args, "-m", cwd=root, timeout=timeout)


@pytest.fixture(scope="module")
def study3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("study3")
    res = sweep(root, "hydra.sweeper.n_trials=3", "hydra.sweeper.reproduce_seeds=1")
    assert res.returncode == 0, res.stderr[-3000:]
    return root


def test_a_sweep_runs_the_model_familys_study_and_records_every_trial(study3: Path) -> None:
    study = load(study3)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    assert set(study.trials[0].params) == {
        "model.max_depth",
        "model.learning_rate",
        "model.subsample",
        "model.colsample_bytree",
        "model.min_child_weight",
    }
    data_hashes = set()
    for trial in study.trials:
        attrs = trial.user_attrs
        run_dir = Path(attrs["run_dir"])
        assert run_dir.name == str(trial.number)  # job numbers are trial numbers
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert attrs["metrics"] == metrics and attrs["seed"] == 0
        assert metrics["valid"]["objective"] == pytest.approx(trial.value)
        overrides = yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text())
        assert f"model.max_depth={trial.params['model.max_depth']}" in overrides
        assert f"trial.number={trial.number}" in overrides
        data_hashes.add(attrs["data_hash"])
    assert len(data_hashes) == 1
    meta = study.user_attrs
    assert meta["quantsweep.seeds"]["sampler"] == 0
    assert meta["quantsweep.versions"]["optuna"] == optuna.__version__
    assert "model.max_depth" in meta["quantsweep.fingerprint"]["search_space"]["params"]
    assert meta["quantsweep.pruner"]["kind"] == "median"


def test_a_study_leaves_its_best_run_summary_importances_and_thresholds(study3: Path) -> None:
    sdir = study_dir(study3)
    study = load(study3)
    best = study.best_trial
    run = load_run(sdir / "best")
    assert run.metrics == best.user_attrs["metrics"]
    summary = json.loads((sdir / "summary.json").read_text())
    assert summary["counts"]["complete"] == 3 and summary["best"]["trial"] == best.number
    assert summary["best"]["params"] == best.params
    rep = summary["reproducibility"]
    assert rep["seeds"] == [0, 1] and rep["n"] == 2 and rep["std"] is not None
    assert "## Best trial" in (sdir / "summary.md").read_text()
    importances = json.loads((sdir / "importances.json").read_text())
    assert set(importances["importances"]) == set(best.params)
    assert (sdir / "importances.png").read_bytes()[:4] == b"\x89PNG"
    thresholds = json.loads((sdir / "thresholds.json").read_text())
    assert thresholds["trial"] == best.number and thresholds["threshold"] == run.threshold


def test_rerunning_the_command_continues_the_study_without_overwriting(
    study3: Path, tmp_path: Path
) -> None:
    shutil.copytree(study3 / "artifacts", tmp_path / "artifacts", symlinks=True)
    res = sweep(tmp_path, "hydra.sweeper.n_trials=4", "hydra.sweeper.reproduce_seeds=0")
    assert res.returncode == 0, res.stderr[-3000:]
    study = load(tmp_path)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
    new_run = Path(study.trials[3].user_attrs["run_dir"])
    assert new_run.name == "3" and new_run.is_relative_to(tmp_path)  # a new job dir
    for trial in study.trials[:3]:  # the first session's runs are untouched
        assert Path(trial.user_attrs["run_dir"]).is_relative_to(study3)
    again = sweep(tmp_path, "hydra.sweeper.n_trials=4", "hydra.sweeper.reproduce_seeds=0")
    assert again.returncode == 0 and len(load(tmp_path).trials) == 4  # budget spent: no trial
    assert "is complete: 4 complete + 0 pruned trials" in again.stdout  # said, with what to do
    assert "hydra.sweeper.n_trials=14" in again.stdout and "study_name=" in again.stdout


def test_resuming_with_other_data_is_refused_naming_the_difference(study3: Path) -> None:
    before = (study_dir(study3) / "journal.log").read_bytes()
    res = sweep(study3, "hydra.sweeper.n_trials=4", "data.seed=1", timeout=120)
    assert res.returncode == 2
    assert "data_hash" in res.stderr and "hydra.sweeper.allow_changes=true" in res.stderr
    assert "Traceback" not in res.stderr
    assert (study_dir(study3) / "journal.log").read_bytes() == before


def test_resuming_with_another_strategy_is_refused_naming_it(study3: Path) -> None:
    before = (study_dir(study3) / "journal.log").read_bytes()
    res = sweep(study3, "hydra.sweeper.n_trials=4", "strategy=hysteresis", timeout=120)
    assert res.returncode == 2, res.stderr[-2000:]
    assert "strategy.name" in res.stderr and "Traceback" not in res.stderr
    assert (study_dir(study3) / "journal.log").read_bytes() == before


def test_a_strategy_key_is_searched_like_a_model_key(tmp_path: Path) -> None:
    res = sweep(
        tmp_path,
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.reproduce_seeds=0",
        "strategy=hysteresis",
        "strategy.min_hold_hours=choice(1,4,8,24)",
        "strategy.band=interval(0.0,0.3)",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    study = load(tmp_path)
    fingerprint = study.user_attrs["quantsweep.fingerprint"]
    assert {"strategy.min_hold_hours", "strategy.band"} <= set(
        fingerprint["search_space"]["params"]
    )
    assert fingerprint["strategy"]["name"] == "hysteresis"
    assert "min_hold_hours" not in fingerprint["strategy"]  # searched: left to the params
    for trial in study.trials:
        run = load_run(Path(trial.user_attrs["run_dir"]))
        assert run.config.strategy.min_hold_hours == trial.params["strategy.min_hold_hours"]
        rule = run.metadata["rule"]
        assert rule["name"] == "hysteresis" and rule["lower"] <= rule["upper"]
        assert rule["min_hold"] == trial.params["strategy.min_hold_hours"]  # 1h: periods = hours


def test_a_pruned_trial_stops_at_once_and_is_recorded_pruned(tmp_path: Path) -> None:
    # A threshold no objective reaches prunes every trial at its first report (round 10).
    res = sweep(
        tmp_path,
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.pruner=threshold",
        "hydra.sweeper.pruner_kwargs={lower:10.0}",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    study = load(tmp_path)
    assert [t.state for t in study.trials] == [TrialState.PRUNED] * 2
    assert all(list(t.intermediate_values) == [10] for t in study.trials)
    summary = json.loads((study_dir(tmp_path) / "summary.json").read_text())
    assert summary["counts"]["pruned"] == 2 and summary["counts"]["failed"] == 0
    assert summary["best"] is None and not (study_dir(tmp_path) / "best").exists()


def test_the_sweeper_sets_up_its_own_process_once_when_it_runs_the_trials(
    tmp_path: Path,
) -> None:
    # The warm-up (by default trainer.tuning.warm_up: imports, table, data kept between
    # trials) runs once in the process that runs the trials; print stands in to count it.
    res = sweep(
        tmp_path,
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.reproduce_seeds=0",
        "hydra.sweeper.warmup=builtins.print",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    printed = [line for line in res.stdout.splitlines() if line.startswith("{'model':")]
    assert len(printed) == 1
    assert "'n_estimators': 20" in printed[0]  # the trials' task config


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["model.subsample=1.5"], "model.subsample=1.5"),  # pinned: caught before any trial
        (["model.subsample=interval(0.5, 1.5)"], "model.subsample"),  # a sampled value
        (["hydra.sweeper.pruner=percentile"], "hydra.sweeper.pruner"),
    ],
)
def test_a_config_mistake_stops_the_sweep_with_one_clear_line(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    res = sweep(tmp_path, "hydra.sweeper.n_trials=3", *args, timeout=120)
    assert res.returncode == 2, res.stderr[-2000:]
    assert expected in res.stderr and "Traceback" not in res.stderr
    journal = study_dir(tmp_path) / "journal.log"
    if journal.exists():  # a sampled value out of range: one trial failed, then the sweep stopped
        assert [t.state for t in load(tmp_path).trials] == [TrialState.FAIL]


def test_model_picks_its_familys_space_and_grid_keeps_the_basic_sweeper(tmp_path: Path) -> None:
    def sweeper_cfg(*args: str) -> dict[str, object]:
        res = run_cli(
            "trainer",
            *args,
            "--cfg",
            "hydra",
            "--package",
            "hydra.sweeper",
            cwd=tmp_path,
            timeout=60,
        )
        assert res.returncode == 0, res.stderr
        data: dict[str, object] = yaml.safe_load(res.stdout.split("\n", 1)[1])
        return data

    lstm = sweeper_cfg("model=lstm")
    assert isinstance(lstm["params"], dict)
    assert set(lstm["params"]) == {
        "model.hidden_dim",
        "model.num_layers",
        "model.dropout",
        "model.sequence_len",
    }
    assert lstm["study_name"] == "${model.name}-${target.horizon}-${target.task}"
    assert sweeper_cfg("model=lstm", "search=grid")["mode"] == "grid"


def _wait_for(predicate: object, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def _running(root: Path) -> bool:
    journal = study_dir(root) / "journal.log"
    if not journal.exists():
        return False
    try:
        return any(t.state == TrialState.RUNNING for t in load(root).trials)
    except KeyError:
        return False


@pytest.mark.slow
def test_a_sweep_killed_mid_trial_resumes_and_reruns_the_lost_budget(tmp_path: Path) -> None:
    args = [
        *SMALL,
        "model.n_estimators=300",
        "model.early_stopping_rounds=0",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.reproduce_seeds=0",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainer", *args, "-m"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        assert _wait_for(lambda: _running(tmp_path), 120), "no trial started"
        time.sleep(1.0)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    killed = [t.number for t in load(tmp_path).trials if t.state == TrialState.RUNNING]
    assert len(killed) == 1  # the kill landed mid-trial (trial 0 may already have finished)
    res = run_cli("trainer", *args, "-m", cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    trials = load(tmp_path).trials
    assert [t.number for t in trials if t.state == TrialState.FAIL] == killed
    assert [t.state for t in trials].count(TrialState.COMPLETE) == 2
    assert load_run(study_dir(tmp_path) / "best").metrics


@pytest.mark.slow
def test_two_processes_share_one_study_without_losing_or_doubling_a_trial(
    tmp_path: Path,
) -> None:
    storage = tmp_path / "shared" / "journal.log"
    args = [
        *SMALL,
        # enough trials that the two processes overlap even when one starts a second late
        "hydra.sweeper.n_trials=12",
        "hydra.sweeper.reproduce_seeds=0",
        f"hydra.sweeper.storage={storage}",
    ]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "trainer", *args, "-m"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    study = optuna.load_study(study_name=STUDY, storage=open_storage(str(storage)))
    done = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(done) == 12
    assert len({t.number for t in study.trials}) == len(study.trials)
    run_dirs = [str(t.user_attrs["run_dir"]) for t in done if t.state == TrialState.COMPLETE]
    assert len(set(run_dirs)) == len(run_dirs)
    assert len({Path(r).parent for r in run_dirs}) == 2  # both processes ran trials


@pytest.mark.slow
def test_cpu_pool_runs_trials_in_parallel_processes(tmp_path: Path) -> None:
    res = sweep(
        tmp_path,
        "hardware=cpu_pool",
        "hardware.threads=0",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.reproduce_seeds=0",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    trials = load(tmp_path).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    overlapping = [
        (a.number, b.number)
        for a in trials
        for b in trials
        if a.number < b.number and b.datetime_start < a.datetime_complete  # type: ignore[operator]
    ]
    assert overlapping  # at least two trials ran at the same time
    metas = [
        json.loads((Path(t.user_attrs["run_dir"]) / "metadata.json").read_text()) for t in trials
    ]
    assert {m["threads"] for m in metas} == {max(1, cpu_count() // 2)}  # cores shared by 2


@pytest.mark.slow
def test_walk_forward_folds_are_intermediate_values_a_pruner_stops_on(tmp_path: Path) -> None:
    res = run_cli(
        "trainer",
        "split=walk_forward",
        "model.n_estimators=20",
        "progress=false",
        "hydra.sweeper.n_trials=1",
        "hydra.sweeper.pruner=threshold",
        "hydra.sweeper.pruner_kwargs={lower:10.0}",
        "-m",
        cwd=tmp_path,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    (trial,) = load(tmp_path).trials
    assert trial.state == TrialState.PRUNED
    assert list(trial.intermediate_values) == [1]  # stopped after the first quarter, not six
