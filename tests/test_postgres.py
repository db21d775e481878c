"""One study on a real PostgreSQL server, worked by two ``python -m trainer ... -m`` processes.

This is the several-machines set-up of the README on one machine: every worker runs the same
command against one database URL (tests/pg.py starts a throwaway server on loopback, or skips
naming what is missing). The budget is counted in the database, so together the workers finish
exactly ``n_trials`` trials, none lost, none run twice.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hydra_plugins.quantsweep_sweeper._report import SURPLUS_ATTR
from hydra_plugins.quantsweep_sweeper.link import open_storage
from tests.pg import postgres_server
from trainer.artifacts import load_run

BUDGET = 6
STUDY = "shared-on-postgres"
ARGS = (
    "data.start=2022-01-01",
    "data.end=2022-12-31",
    "model.n_estimators=20",
    "progress=false",
    "hardware.threads=1",
    f"hydra.sweeper.n_trials={BUDGET}",
    "hydra.sweeper.reproduce_seeds=0",
    f"hydra.sweeper.study_name={STUDY}",
)


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with postgres_server() as url:
        yield url


def _worker(url: str, cwd: Path) -> subprocess.Popen[str]:
    cwd.mkdir()
    return subprocess.Popen(
        [sys.executable, "-m", "trainer", *ARGS, f"hydra.sweeper.storage={url}", "-m"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def test_two_workers_share_one_postgres_study_without_losing_or_doubling_a_trial(
    database: str, tmp_path: Path
) -> None:
    # Each worker in its own directory, as on its own machine: only the database is shared.
    workers = [_worker(database, tmp_path / f"machine{i}") for i in range(2)]
    outs = [w.communicate(timeout=600) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], [err[-3000:] for _, err in outs]

    study = optuna.load_study(study_name=STUDY, storage=open_storage(database))
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(done) == BUDGET
    # a worker may ask one trial past the budget at the same moment as the other: it is
    # failed at once and marked surplus, never run; nothing else may be left unfinished
    others = [t for t in trials if t not in done]
    assert all(t.state == TrialState.FAIL and t.user_attrs.get(SURPLUS_ATTR) for t in others), [
        (t.number, t.state.name, t.user_attrs) for t in others
    ]
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    params = [tuple(sorted(t.params.items())) for t in done]
    assert len(set(params)) == len(params)  # no configuration was run twice
    run_dirs = [Path(t.user_attrs["run_dir"]) for t in done if t.state == TrialState.COMPLETE]
    assert len(set(run_dirs)) == len(run_dirs)
    machines = {d.relative_to(tmp_path).parts[0] for d in run_dirs}
    assert machines == {"machine0", "machine1"}  # both workers ran trials
    for machine in machines:  # neither fell back to a local journal
        assert not list((tmp_path / machine).rglob("journal.log"))
        best = tmp_path / machine / "artifacts" / "studies" / STUDY / "best"
        assert load_run(best).metrics["valid"]["objective"] <= study.best_value + 1e-12
