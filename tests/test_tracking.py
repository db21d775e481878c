"""``tracking=mlflow``: runs, studies, evaluations and champions read back with MlflowClient
from a local SQLite store; ``tracking=none`` never imports MLflow; an unreachable server is
one error before any work, and a failing one never costs a study its trials."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import optuna
import pytest
from hydra import compose, initialize_config_dir
from optuna.distributions import IntDistribution
from optuna.trial import TrialState

from tests.conftest import CONF, TINY, run_cli, train_run
from trainer.config import register
from trainer.tracking import TrackingConfig, open_tracker
from trainer.tracking_mlflow import flatten

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

SMALL = [
    "data.start=2022-01-01",
    "data.end=2022-12-31",
    "model.n_estimators=20",
    "progress=false",
    "hardware.threads=1",
]
STUDY = "xgboost-1h-direction"
RUN_FILES = ("metrics.json", "metadata.json", "model")


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new MLflow SQLite store, made once: its schema migrations take seconds."""
    db = tmp_path_factory.mktemp("store") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments(max_results=1)
    return db


@pytest.fixture
def store(empty_store: Path, tmp_path: Path) -> Path:
    """``tmp_path`` with a copy of the empty store where tracking=mlflow looks by default."""
    return with_store(empty_store, tmp_path)


def with_store(empty_store: Path, root: Path) -> Path:
    (root / "artifacts" / "mlflow").mkdir(parents=True, exist_ok=True)
    shutil.copy(empty_store, root / "artifacts" / "mlflow" / "mlflow.db")
    return root


def client_of(root: Path) -> MlflowClient:
    uri = f"sqlite:///{(root / 'artifacts' / 'mlflow' / 'mlflow.db').resolve()}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def runs_of(client: MlflowClient, experiment: str) -> list[Any]:
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment}"
    return list(client.search_runs([exp.experiment_id], max_results=1000))


def downloaded(client: MlflowClient, run_id: str, path: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    return Path(client.download_artifacts(run_id, path, str(dest)))


def same_tree(a: Path, b: Path) -> bool:
    """Every file under ``a`` has the same bytes under ``b``, and nothing else is there."""
    if a.is_file():
        return b.is_file() and a.read_bytes() == b.read_bytes()
    names_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    names_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    return names_a == names_b and all((a / n).read_bytes() == (b / n).read_bytes() for n in names_a)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- a single run -----------------------------------------------------------------------------
def test_a_run_logs_its_config_metrics_tags_and_files_to_mlflow(store: Path) -> None:
    tmp_path = store
    from trainer.train import train

    register()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            "train", overrides=[*TINY, "tracking=mlflow", f"artifacts_dir={tmp_path}/artifacts"]
        )
    run_dir = tmp_path / "run"
    train(cfg, run_dir)

    client = client_of(tmp_path)
    (run,) = runs_of(client, "runs")
    assert run.info.status == "FINISHED"
    metadata = json.loads((run_dir / "metadata.json").read_text())
    config = {k: v for k, v in flatten(metadata["config"]).items() if not k.startswith("trial.")}
    assert run.data.params == {
        k: json.dumps(v) if isinstance(v, list) else str(v) for k, v in config.items()
    }
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for part in ("valid", "test"):
        for key, value in metrics[part].items():
            assert run.data.metrics[f"{part}.{key}"] == pytest.approx(value), (part, key)
    tags = run.data.tags
    assert tags["quantsweep.data_hash"] == metadata["data_hash"]
    assert tags["quantsweep.seed"] == "0" and tags["quantsweep.device"] == metadata["device"]
    assert tags["quantsweep.run_dir"] == str(run_dir.resolve())
    if metadata["git_revision"]:
        assert tags["quantsweep.git_revision"] == metadata["git_revision"]
    for name in RUN_FILES:
        got = downloaded(client, run.info.run_id, name, tmp_path / "down")
        assert same_tree(run_dir / name, got), name
    # the artifacts lie beside the store, not in the working directory's mlruns/
    assert Path(run.info.artifact_uri.removeprefix("file://")).is_relative_to(tmp_path)


# -- a study ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def study4(tmp_path_factory: pytest.TempPathFactory, empty_store: Path) -> Path:
    """A 4-trial study logged to MLflow; the median pruner (one startup trial) prunes some."""
    root = with_store(empty_store, tmp_path_factory.mktemp("study"))
    res = run_cli(
        "trainer",
        *SMALL,
        "tracking=mlflow",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.reproduce_seeds=0",
        "hydra.sweeper.pruner_kwargs={n_startup_trials:1}",
        "-m",
        cwd=root,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return root


def test_a_study_is_a_parent_run_with_one_child_per_trial(study4: Path) -> None:
    client = client_of(study4)
    runs = runs_of(client, STUDY)
    (parent,) = [r for r in runs if r.data.tags.get("quantsweep.role") == "study"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(runs) == 5 and len(children) == 4
    study = optuna.load_study(
        study_name=STUDY,
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(
                str(study4 / "artifacts" / "studies" / STUDY / "journal.log")
            )
        ),
    )
    by_trial = {int(r.data.tags["quantsweep.trial"]): r for r in children}
    assert sorted(by_trial) == [t.number for t in study.trials]
    states = {t.state for t in study.trials}
    assert states == {TrialState.COMPLETE, TrialState.PRUNED}, states
    for trial in study.trials:
        run = by_trial[trial.number]
        assert run.data.tags["quantsweep.state"] == trial.state.name
        for name, value in trial.params.items():
            assert run.data.params[name] == str(value)
        assert run.data.params["data.start"] == "2022-01-01"
        history = client.get_metric_history(run.info.run_id, "intermediate")
        assert {m.step: m.value for m in history} == pytest.approx(trial.intermediate_values)
        # as in Optuna: a pruned trial's value is its last intermediate one
        assert run.data.metrics["objective"] == pytest.approx(trial.value)
        if trial.state == TrialState.PRUNED:
            assert run.info.status == "KILLED" and "valid.f1_up" not in run.data.metrics
            continue
        assert run.info.status == "FINISHED"
        for key, value in trial.user_attrs["metrics"]["valid"].items():
            assert run.data.metrics[f"valid.{key}"] == pytest.approx(value)
        run_dir = Path(trial.user_attrs["run_dir"])
        assert run.data.tags["quantsweep.run_dir"] == str(run_dir)
        for name in RUN_FILES:
            got = downloaded(client, run.info.run_id, name, study4 / "down" / str(trial.number))
            assert same_tree(run_dir / name, got), (trial.number, name)
    assert parent.info.status == "FINISHED"
    study_dir = study4 / "artifacts" / "studies" / STUDY
    for name in ("summary.json", "summary.md", "importances.json", "thresholds.json"):
        got = downloaded(client, parent.info.run_id, name, study4 / "down" / "parent")
        assert got.read_bytes() == (study_dir / name).read_bytes(), name
    summary = json.loads((study_dir / "summary.json").read_text())
    assert summary["tracking"]["run_id"] == parent.info.run_id
    assert summary["tracking"]["not_logged"] == []


def test_resuming_a_study_continues_its_parent_run(study4: Path) -> None:
    res = run_cli(
        "trainer",
        *SMALL,
        "tracking=mlflow",
        "hydra.sweeper.n_trials=5",
        "hydra.sweeper.reproduce_seeds=0",
        "hydra.sweeper.pruner_kwargs={n_startup_trials:1}",
        "-m",
        cwd=study4,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    runs = runs_of(client_of(study4), STUDY)
    parents = [r for r in runs if r.data.tags.get("quantsweep.role") == "study"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    assert sorted(int(r.data.tags["quantsweep.trial"]) for r in children) == [0, 1, 2, 3, 4]


def _memory_study() -> optuna.Study:
    study = optuna.create_study(study_name="s", direction="maximize")
    dist = {"model.max_depth": IntDistribution(3, 9)}
    for n, state in enumerate((TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)):
        study.add_trial(
            optuna.trial.create_trial(
                params={"model.max_depth": 3 + n},
                distributions=dist,
                value=0.1 if state == TrialState.COMPLETE else None,
                intermediate_values={10: 0.05, 20: 0.07},
                state=state,
                user_attrs={"seed": n, "error": "boom"} if state == TrialState.FAIL else {},
            )
        )
    return study


def test_each_trial_state_is_its_childs_tag_and_status(store: Path) -> None:
    tmp_path = store
    study = _memory_study()
    tracker = open_tracker(TrackingConfig(name="mlflow"), tmp_path / "artifacts")
    tracker.start_study(study, tmp_path, lambda: {"seed": 0, "model": {"max_depth": 6}})
    for trial in study.trials:
        tracker.log_trial(trial)
    report = tracker.flush(study)
    assert report is not None and report["not_logged"] == []
    runs = runs_of(client_of(tmp_path), "runs")
    children = {
        r.data.tags["quantsweep.trial"]: r for r in runs if "quantsweep.trial" in r.data.tags
    }
    got = {n: (r.data.tags["quantsweep.state"], r.info.status) for n, r in children.items()}
    assert got == {
        "0": ("COMPLETE", "FINISHED"),
        "1": ("PRUNED", "KILLED"),
        "2": ("FAILED", "FAILED"),
    }
    assert children["2"].data.tags["quantsweep.error"] == "boom"
    assert children["1"].data.params["model.max_depth"] == "4"  # the trial's, over the study's
    assert children["1"].data.params["seed"] == "0"


def test_a_tracking_failure_is_retried_then_reported_and_the_rest_is_logged(
    store: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tmp_path = store
    study = _memory_study()
    config = TrackingConfig(name="mlflow", retries=2, retry_wait_s=0.0)
    tracker = open_tracker(config, tmp_path / "artifacts")
    tracker.start_study(study, tmp_path, lambda: {"seed": 0})
    client = tracker.client  # type: ignore[attr-defined]
    real, calls = client.log_batch, []

    def flaky(run_id: str, **kw: Any) -> None:
        calls.append(run_id)
        if len(calls) <= 3:  # trial 0: its first attempt and both retries fail
            raise ConnectionError("server gone")
        real(run_id, **kw)

    client.log_batch = flaky
    for trial in study.trials:
        tracker.log_trial(trial)
    report = tracker.flush(study)
    assert report is not None
    assert report["not_logged"] == [{"what": "trial 0", "error": "ConnectionError: server gone"}]
    assert "trial 0 not logged" in caplog.text
    assert report["trials_logged_this_session"] == 2
    # the retries reused the run they had made: no second run for trial 0
    logged = [r.data.tags.get("quantsweep.trial") for r in runs_of(client_of(tmp_path), "runs")]
    assert sorted(t for t in logged if t) == ["0", "1", "2"]
    # and the study keeps the list, so a later summary (or another process) says it too
    assert study.user_attrs["quantsweep.mlflow"][tracker.uri]["not_logged"] == report["not_logged"]  # type: ignore[attr-defined]


# -- evaluations and champions ----------------------------------------------------------------
def test_an_evaluation_is_linked_to_its_run_and_a_promotion_becomes_the_champion(
    store: Path,
) -> None:
    tmp_path = store
    from evaluation.cli import EXIT_PASSED, finish
    from evaluation.config import (
        BacktestConfig,
        EvaluationConfig,
        GuardrailsConfig,
        OverfittingConfig,
        StressConfig,
    )
    from evaluation.config import WalkForwardConfig as WF
    from evaluation.evaluate import evaluate, judge

    artifacts = tmp_path / "artifacts"
    run_dir = train_run(
        tmp_path / "run",
        [
            "data.start=2022-09-01",
            "data.end=2023-06-30",
            *SMALL[2:],
            "tracking=mlflow",
            f"artifacts_dir={artifacts}",
        ],
    )
    tracking = TrackingConfig(name="mlflow")
    conf = EvaluationConfig(
        run=str(run_dir),
        walk_forward=WF(step_months=1, infer_steps=3),
        stress=StressConfig(enabled=False),
        backtest=BacktestConfig(strategies=["1h"]),
        overfitting=OverfittingConfig(enabled=False),
        artifacts_dir=str(artifacts),
        progress=False,
        tracking=tracking,
    )
    ev = evaluate(conf)
    lenient = GuardrailsConfig(
        min_trades=0, min_hit_rate=0.0, max_drawdown_1h=-1.0, max_drawdown_4h=-1.0
    )
    tracker = open_tracker(tracking, artifacts, experiment="evaluations")
    assert finish(judge(ev, lenient), conf, tracker) == EXIT_PASSED
    second = replace(ev, report_dir=artifacts / "reports" / "again")
    assert finish(judge(second, lenient), conf, tracker) == EXIT_PASSED

    client = client_of(tmp_path)
    runs = runs_of(client, "runs")  # beside the evaluated run, in its experiment
    (trained,) = [r for r in runs if "quantsweep.role" not in r.data.tags]
    evals = [r for r in runs if r.data.tags.get("quantsweep.role") == "evaluation"]
    assert len(evals) == 2
    first = next(r for r in evals if r.data.tags["quantsweep.report_dir"] == str(ev.report_dir))
    assert first.data.tags["quantsweep.evaluated_run_id"] == trained.info.run_id
    for name in ("evaluation.json", "report.md", "report.html"):
        got = downloaded(client, first.info.run_id, name, tmp_path / "down")
        assert got.read_bytes() == (ev.report_dir / name).read_bytes(), name
    pngs = sorted(p.name for p in ev.report_dir.glob("*.png"))
    assert pngs and set(pngs) <= {a.path for a in client.list_artifacts(first.info.run_id)}

    versions = client.search_model_versions("name='1h_direction'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    champion = client.get_model_version_by_alias("1h_direction", "champion")
    assert str(champion.version) == "2"
    replaced = client.get_model_version("1h_direction", "1")  # keeps its version
    assert replaced.tags["quantsweep.replaced_by"] == "2"
    manifest = downloaded(client, champion.run_id, "champion/manifest.json", tmp_path / "m")
    promoted = artifacts / "promoted" / "1h_direction"
    assert manifest.read_bytes() == (promoted / "manifest.json").read_bytes()


def test_a_leaderboard_is_logged_with_its_files_and_numbers(store: Path) -> None:
    tmp_path = store
    from trainer.tracking import log_leaderboard

    board = tmp_path / "board"
    board.mkdir()
    (board / "leaderboard.json").write_text('{"rows": 2}\n')
    rows = [{"name": "xgboost-1h", "sharpe": 1.5, "note": "x"}, {"name": "lstm-1h", "sharpe": 0.5}]
    log_leaderboard(TrackingConfig(name="mlflow"), tmp_path / "artifacts", "phase2", board, rows)
    (run,) = runs_of(client_of(tmp_path), "campaigns")
    assert run.data.metrics == {"xgboost-1h.sharpe": 1.5, "lstm-1h.sharpe": 0.5}
    assert [a.path for a in client_of(tmp_path).list_artifacts(run.info.run_id)] == [
        "leaderboard.json"
    ]


def test_a_campaign_comparison_logs_its_finished_leaderboard_once(store: Path) -> None:
    from evaluation.campaign.compare import compare
    from evaluation.campaign.config import CampaignRunConfig
    from tests.test_campaign_parts import evaluation_json, write_report

    reports = store / "reports"
    a = write_report(reports, "a", evaluation_json(name="a", objectives=(0.0,)))
    b = write_report(reports, "b", evaluation_json(name="b", objectives=(0.2,)))
    conf = CampaignRunConfig(
        compare=[str(a), str(b)],
        artifacts_dir=str(store / "artifacts"),
        progress=False,
        tracking=TrackingConfig(name="mlflow"),
    )
    assert compare(conf) == 0
    (run,) = runs_of(client_of(store), "campaigns")
    board = json.loads(
        (store / "artifacts" / "campaigns" / "compare" / "leaderboard.json").read_text()
    )
    names = {r["name"] for r in board["rows"]}
    assert {key.split(".", 1)[0] for key in run.data.metrics} <= names
    assert "a.objective" in run.data.metrics and "b.objective" in run.data.metrics


# -- nothing lost silently, nothing imported needlessly ---------------------------------------
@pytest.mark.parametrize("multirun", [False, True])
def test_an_unreachable_tracking_server_is_one_error_before_any_work(
    tmp_path: Path, multirun: bool
) -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    args = [*SMALL, "tracking=mlflow", f"tracking.uri={uri}", *(["-m"] if multirun else [])]
    res = run_cli("trainer", *args, cwd=tmp_path, timeout=120)
    assert res.returncode == 2, res.stderr[-2000:]
    lines = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and f"tracking.uri={uri}" in lines[0], res.stderr[-2000:]
    assert "cannot reach" in lines[0]
    assert not (tmp_path / "artifacts" / "studies").exists()  # no study opened, no trial run
    assert not list(tmp_path.glob("outputs/*/*/metrics.json"))


NO_MLFLOW = r"""
import runpy, sys
sys.argv = ["trainer", *sys.argv[1:]]
try:
    runpy.run_module("trainer", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    assert not exc.code, exc.code
print("MLFLOW-IMPORTED" if any(m.split(".")[0] == "mlflow" for m in sys.modules) else "CLEAN")
"""


def test_a_tree_study_with_tracking_none_never_imports_mlflow(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-c", NO_MLFLOW, *SMALL, "hydra.sweeper.n_trials=2", "-m"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip().splitlines()[-1] == "CLEAN", res.stdout[-2000:]


# -- a real tracking server (slow) ------------------------------------------------------------
@pytest.fixture
def server(tmp_path: Path) -> Any:
    """``mlflow server`` on 127.0.0.1 (its own store and artifacts), stopped afterwards."""
    import time
    import urllib.request

    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination",
            str(tmp_path / "server-artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "server.log", "w"),  # noqa: SIM115
        start_new_session=True,  # its uvicorn worker dies with it
    )
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240  # a loaded 2-core machine takes a minute
    while True:
        try:
            with urllib.request.urlopen(uri + "/health", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp_path / "server.log").read_text()[-2000:]) from None
            time.sleep(1)
    yield uri, proc
    _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def _study_runs(uri: str) -> tuple[list[Any], list[Any]]:
    client = MlflowClient(tracking_uri=uri)
    runs = runs_of(client, STUDY)
    parents = [r for r in runs if r.data.tags.get("quantsweep.role") == "study"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    return parents, children


@pytest.mark.slow
def test_two_processes_log_every_trial_of_one_study_once_to_a_server(
    tmp_path: Path, server: Any
) -> None:
    uri, _ = server
    storage = tmp_path / "shared" / "journal.log"
    args = [
        *SMALL,
        "hydra.sweeper.n_trials=12",
        "hydra.sweeper.reproduce_seeds=0",
        f"hydra.sweeper.storage={storage}",
        "tracking=mlflow",
        f"tracking.uri={uri}",
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
    outs = [p.communicate(timeout=900) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    from hydra_plugins.quantsweep_sweeper.link import open_storage

    study = optuna.load_study(study_name=STUDY, storage=open_storage(str(storage)))
    parents, children = _study_runs(uri)
    assert len(parents) == 1
    assert all(r.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for r in children)
    logged = sorted(int(r.data.tags["quantsweep.trial"]) for r in children)
    assert logged == sorted(t.number for t in study.trials if t.state.is_finished())
    run_dirs = {r.data.tags.get("quantsweep.run_dir") for r in children} - {None}
    assert len({Path(d).parent for d in run_dirs}) == 2  # both processes logged trials


@pytest.mark.slow
def test_a_server_killed_mid_study_loses_no_trial_and_the_summary_says_what_was_not_logged(
    tmp_path: Path, server: Any
) -> None:
    import time

    uri, proc = server
    study = tmp_path / "artifacts" / "studies" / STUDY
    log_file = tmp_path / "sweep.log"
    sweep = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trainer",
            *SMALL,
            "hydra.sweeper.n_trials=10",
            "hydra.sweeper.reproduce_seeds=0",
            "tracking=mlflow",
            f"tracking.uri={uri}",
            "tracking.retry_wait_s=0.2",
            "-m",
        ],
        cwd=tmp_path,
        stdout=open(log_file, "w"),  # noqa: SIM115  (a pipe nobody reads could fill up)
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 600
    while len(_study_runs_or_none(uri)) < 3:  # the parent and two trials are in
        assert sweep.poll() is None and time.monotonic() < deadline, log_file.read_text()[-2000:]
        time.sleep(0.5)
    _stop(proc)
    sweep.wait(timeout=900)
    console = log_file.read_text()
    assert sweep.returncode == 0, console[-3000:]

    summary = json.loads((study / "summary.json").read_text())
    assert summary["counts"]["complete"] + summary["counts"]["pruned"] == 10
    not_logged = [n["what"] for n in summary["tracking"]["not_logged"]]
    assert "trial 9" in not_logged and "the study's reports" in not_logged
    assert "tracking: trial 9 not logged" in console  # said on the console too
    assert "trial 9" in (study / "summary.md").read_text()
    journal = optuna.load_study(
        study_name=STUDY,
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(study / "journal.log"))
        ),
    )
    for t in journal.trials:  # every trial kept its run directory
        if t.state == TrialState.COMPLETE:
            assert (Path(t.user_attrs["run_dir"]) / "model").is_dir()
    assert (study / "best" / "metrics.json").is_file()


def _study_runs_or_none(uri: str) -> list[Any]:
    try:
        parents, children = _study_runs(uri)
    except Exception:  # the experiment does not exist yet
        return []
    return parents + children
