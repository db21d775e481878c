"""A study through hydra-submitit-launcher's local executor (the Slurm code path minus Slurm).

``hydra/launcher=submitit_local`` runs every trial as a submitit job in its own process, two at
a time (``hydra.sweeper.n_jobs=2``), on a journal file and on a PostgreSQL server (tests/pg.py
starts one, or the case is skipped naming what is missing). The trial's identity travels in the
job's overrides, so a job reports to its own trial and can be pruned. The space is chosen so
that pruning is certain for some trials and impossible for the others: ``n_estimators`` is 10
or 20, the threshold pruner acts only from step 20 on, and its bound is one no objective
reaches, so exactly the 20-round trials are pruned, at step 20.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hydra_plugins.quantsweep_sweeper.link import open_storage

pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="pip install '.[slurm]'")

BUDGET = 6
STUDY = "submitit-local"
ARGS = (
    "hydra/launcher=submitit_local",
    "hydra.launcher.timeout_min=20",
    "hydra.sweeper.n_jobs=2",
    f"hydra.sweeper.n_trials={BUDGET}",
    f"hydra.sweeper.study_name={STUDY}",
    "hydra.sweeper.reproduce_seeds=0",
    "hydra.sweeper.pruner=threshold",
    "hydra.sweeper.pruner_kwargs={lower:10.0,n_warmup_steps:20}",
    "model.n_estimators=10,20",
    "data.start=2022-01-01",
    "data.end=2022-12-31",
    "progress=false",
    "hardware.threads=1",
)


@pytest.fixture(params=["journal", "postgres"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "journal":
        yield str(tmp_path / "artifacts" / "studies" / STUDY / "journal.log")
        return
    from tests.pg import postgres_server

    with postgres_server() as url:
        yield url


@pytest.mark.slow
def test_a_study_runs_through_submitit_two_jobs_at_a_time_with_pruning(
    storage: str, tmp_path: Path
) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "trainer", *ARGS, f"hydra.sweeper.storage={storage}", "-m"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert res.returncode == 0, res.stderr[-3000:]

    study = optuna.load_study(study_name=STUDY, storage=open_storage(storage))
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(done) == len(trials) == BUDGET, [(t.number, t.state.name) for t in trials]
    assert sorted(t.number for t in trials) == list(range(BUDGET))
    params = [tuple(sorted(t.params.items())) for t in done]
    assert len(set(params)) == len(params)  # no configuration was run twice

    # pruning reached the jobs: exactly the 20-round trials stopped, at step 20
    for t in done:
        rounds = int(t.params["model.n_estimators"])
        assert t.state == (TrialState.PRUNED if rounds == 20 else TrialState.COMPLETE), t.number
        assert list(t.intermediate_values) == ([10, 20] if rounds == 20 else [10])
    complete = [t for t in done if t.state == TrialState.COMPLETE]
    assert complete and len(complete) < BUDGET

    # every trial ran as its own submitit job, two of them at the same time
    sweep_dirs = list((tmp_path / "outputs").glob("*/*"))
    assert len(sweep_dirs) == 1
    assert len(list((sweep_dirs[0] / ".submitit").glob("*/*_0_result.pkl"))) == BUDGET
    assert any(
        a.datetime_start < b.datetime_complete and b.datetime_start < a.datetime_complete  # type: ignore[operator]
        for a in done
        for b in done
        if a.number < b.number
    )
    run_dirs = [Path(t.user_attrs["run_dir"]) for t in complete]
    assert len(set(run_dirs)) == len(run_dirs) and all(d.is_dir() for d in run_dirs)

    # the best trial's run is kept
    best = json.loads((tmp_path / "artifacts" / "studies" / STUDY / "best.json").read_text())
    assert best["trial"] == study.best_trial.number
    assert (tmp_path / "artifacts" / "studies" / STUDY / "best" / "metrics.json").is_file()
