"""The sweeper's parts without Hydra: outcomes, budget, liveness, seeding, reports, workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
import pytest
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf
from optuna.trial import TrialState
from rich.progress import Progress

from hydra_plugins.quantsweep_sweeper import _report
from hydra_plugins.quantsweep_sweeper._best import BEST_DIR, sync_best
from hydra_plugins.quantsweep_sweeper._impl import QuantsweepSweeperImpl
from hydra_plugins.quantsweep_sweeper._liveness import (
    OWNER_ATTR,
    Owner,
    fail_stale_trials,
    is_stale,
)
from hydra_plugins.quantsweep_sweeper._sampler import TrialSeededSampler, derive_seed
from hydra_plugins.quantsweep_sweeper._search_space import parse_space, sample
from hydra_plugins.quantsweep_sweeper._session import Session, outcome_of, rank_in_budget
from hydra_plugins.quantsweep_sweeper._study import describe_changes, drop_keys
from hydra_plugins.quantsweep_sweeper.config import QuantsweepOptunaConf
from hydra_plugins.quantsweep_sweeper.link import open_storage
from trainer.errors import UserError


def _job(status: JobStatus, value: Any) -> JobReturn:
    ret = JobReturn()
    ret.status = status
    ret._return_value = value
    return ret


@pytest.mark.parametrize(
    ("ret", "state", "value"),
    [
        (_job(JobStatus.COMPLETED, 0.25), TrialState.COMPLETE, 0.25),
        (_job(JobStatus.COMPLETED, 3), TrialState.COMPLETE, 3.0),
        (_job(JobStatus.COMPLETED, float("nan")), TrialState.FAIL, None),
        (_job(JobStatus.COMPLETED, None), TrialState.FAIL, None),
        (_job(JobStatus.FAILED, optuna.TrialPruned("step 10")), TrialState.PRUNED, None),
        (_job(JobStatus.FAILED, UserError("model.x: bad")), TrialState.FAIL, None),
        (_job(JobStatus.FAILED, RuntimeError("boom")), TrialState.FAIL, None),
    ],
)
def test_job_results_become_trial_states(ret: JobReturn, state: TrialState, value: Any) -> None:
    outcome = outcome_of(ret)
    assert outcome.state == state and outcome.value == value
    assert (outcome.error is None) == (state != TrialState.FAIL)


def test_a_trial_asked_beyond_the_budget_is_surplus() -> None:
    study = optuna.create_study()
    trials = [study.ask() for _ in range(4)]
    frozen = study.get_trials(deepcopy=False)
    assert [rank_in_budget(frozen, t.number) for t in trials] == [1, 2, 3, 4]


ME = Owner("host-a", 100)


@pytest.mark.parametrize(
    ("owner", "age", "alive", "stale"),
    [
        ({"host": "host-a", "pid": 100}, 1e6, True, False),  # my own trial, however quiet
        ({"host": "host-a", "pid": 200}, 1.0, False, True),  # dead process here: at once
        ({"host": "host-a", "pid": 200}, 1.0, True, False),  # live process here
        ({"host": "host-a", "pid": 200}, 120.0, True, True),  # alive but silent: pid reused
        ({"host": "host-b", "pid": 100}, 30.0, None, False),  # another machine, recent beat
        ({"host": "host-b", "pid": 100}, 120.0, None, True),  # another machine, silent
        (None, 120.0, None, True),  # killed between ask and the owner attr
        (None, 5.0, None, False),
    ],
)
def test_running_trials_are_stale_when_their_worker_is_gone(
    owner: dict[str, Any] | None, age: float, alive: bool | None, stale: bool
) -> None:
    now = 1_000_000.0
    assert is_stale(owner, now - age, now, 60.0, ME, alive) is stale


def test_a_dead_workers_running_trial_is_failed_and_frees_its_budget(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path / "j.log"))
    study = optuna.create_study(study_name="s", storage=storage)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    trial = study.ask()
    tid = storage.get_trial_id_from_study_id_trial_number(
        storage.get_study_id_from_name("s"), trial.number
    )
    storage.set_trial_system_attr(
        tid, OWNER_ATTR, {"host": Owner.me().host, "pid": int(dead.stdout)}
    )
    mine = study.ask()
    mine_id = storage.get_trial_id_from_study_id_trial_number(
        storage.get_study_id_from_name("s"), mine.number
    )
    storage.set_trial_system_attr(mine_id, OWNER_ATTR, Owner.me().to_json())
    assert fail_stale_trials(study, grace=60.0) == [trial.number]
    assert study.trials[trial.number].state == TrialState.FAIL
    assert study.trials[mine.number].state == TrialState.RUNNING


def test_searched_params_are_left_out_of_the_fingerprint() -> None:
    fingerprint = {"model": {"max_depth": 5, "n_estimators": 300}, "data_hash": "aa"}
    kept = drop_keys(fingerprint, {"model.max_depth", "model.subsample"})
    assert kept == {"model": {"n_estimators": 300}, "data_hash": "aa"}


def test_resume_names_every_change_of_the_fingerprint() -> None:
    stored = {"data_hash": "aa", "objective": {"drawdown_penalty": 1.0}, "search_space": {"x": 1}}
    now = {"data_hash": "bb", "objective": {"drawdown_penalty": 1.0}, "search_space": {"x": 2}}
    changes = describe_changes(stored, now)
    assert changes == ["data_hash: was aa, now bb", "search_space.x: was 1, now 2"]
    assert describe_changes(stored, stored) == []


def _draws(seed: int, n: int, storage: Any = None, name: str | None = None) -> list[dict[str, Any]]:
    space = parse_space({"x": "interval(0.0, 1.0)", "k": "int(interval(1, 50))"}, [])
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        load_if_exists=True,
        sampler=TrialSeededSampler(lambda s: optuna.samplers.RandomSampler(seed=s), seed),
    )
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append(sample(trial, space))
        study.tell(trial, 0.0)
    return out


def test_the_same_seed_draws_the_same_study_and_each_trial_its_own_point() -> None:
    a, b = _draws(0, 6), _draws(0, 6)
    assert a == b
    assert len({d["x"] for d in a}) == 6
    assert _draws(1, 6) != a
    assert derive_seed(0, 1) != derive_seed(0, 2) != derive_seed(1, 1)


def test_a_resumed_study_does_not_repeat_its_first_draws(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path / "j.log"))
    first = _draws(0, 3, storage, "s")
    resumed = _draws(0, 3, storage, "s")  # a second session with the same seed
    assert not {d["x"] for d in first} & {d["x"] for d in resumed}
    assert first + resumed == _draws(0, 6)  # and equals an uninterrupted study


def _frozen(number: int, state: TrialState, value: float | None, **attrs: Any) -> Any:
    return optuna.trial.create_trial(
        state=state,
        value=value,
        params={"model.max_depth": 3 + number, "model.num_heads|model.d_model=96": 6},
        distributions={
            "model.max_depth": optuna.distributions.IntDistribution(3, 9),
            "model.num_heads|model.d_model=96": optuna.distributions.CategoricalDistribution(
                [2, 3, 4, 6, 8]
            ),
        },
        user_attrs=attrs,
    )


def test_the_summary_counts_states_and_reports_the_reproduction_spread(tmp_path: Path) -> None:
    trials = [
        _frozen(0, TrialState.COMPLETE, 0.2, seed=0, metrics={"valid": {"objective": 0.2}}),
        _frozen(1, TrialState.PRUNED, None),
        _frozen(2, TrialState.FAIL, None),
        _frozen(3, TrialState.FAIL, None, surplus=True),
    ]
    reproduce = {"trial": 0, "seeds": [1, 2], "objectives": [0.1, 0.3]}
    summary = _report.build_summary(
        "s", "j.log", trials, trials[0], 3, 1.0, reproduce, tmp_path / BEST_DIR
    )
    assert summary["counts"] == {
        "complete": 1,
        "pruned": 1,
        "failed": 1,
        "running": 0,
        "surplus": 1,
    }
    assert summary["best"]["params"] == {"model.max_depth": 3, "model.num_heads": 6}
    rep = summary["reproducibility"]
    assert rep["seeds"] == [0, 1, 2] and rep["mean"] == pytest.approx(0.2)
    assert rep["std"] == pytest.approx(0.1)
    text = _report.summary_markdown(summary)
    assert "complete 1, pruned 1, failed 1" in text and "model.num_heads | 6" in text


def test_best_dir_follows_the_best_trial_and_is_swapped_whole(tmp_path: Path) -> None:
    study = optuna.create_study(direction="maximize")
    runs = []
    for i, value in enumerate((0.1, 0.3, 0.2)):
        run = tmp_path / f"run{i}"
        run.mkdir()
        (run / "metrics.json").write_text(json.dumps({"value": value}))
        runs.append(run)
        trial = study.ask()
        trial.set_user_attr("run_dir", str(run))
        study.tell(trial, value)
        sync_best(study, tmp_path / "study")
        best = json.loads((tmp_path / "study" / BEST_DIR / "metrics.json").read_text())
        assert best["value"] == max(v for v in (0.1, 0.3, 0.2)[: i + 1])
    assert (tmp_path / "study" / BEST_DIR).is_symlink()
    leftovers = [p for p in (tmp_path / "study").iterdir() if p.name.startswith(".best-")]
    assert len(leftovers) == 1  # the superseded copy was removed


def test_copies_a_killed_process_left_half_made_are_removed_not_best(tmp_path: Path) -> None:
    study_dir = tmp_path / "study"
    study = optuna.create_study(direction="maximize")
    run = tmp_path / "run0"
    run.mkdir()
    (run / "metrics.json").write_text("{}")
    trial = study.ask()
    trial.set_user_attr("run_dir", str(run))
    study.tell(trial, 0.1)
    sync_best(study, study_dir)
    current = os.readlink(study_dir / BEST_DIR)
    (study_dir / ".best-deadbeef0000").mkdir()  # a copy killed half-way
    os.symlink(current, study_dir / ".best.link-0bad")  # a link killed before its swap
    sync_best(study, study_dir)  # the next complete trial, same best
    names = {p.name for p in study_dir.iterdir()}
    assert ".best-deadbeef0000" not in names and ".best.link-0bad" not in names
    assert os.readlink(study_dir / BEST_DIR) == current
    assert (study_dir / BEST_DIR / "metrics.json").is_file()


class SleepyJobs:
    """Trial 0 is slow; every other trial is quick. Records when each job ran."""

    def __init__(self) -> None:
        self.spans: dict[int, tuple[float, float]] = {}
        self.lock = threading.Lock()

    def run(self, fixed: Sequence[str], varying: Sequence[str], job_num: int) -> JobReturn:
        start = time.monotonic()
        time.sleep(1.0 if job_num == 0 else 0.05)
        with self.lock:
            self.spans[job_num] = (start, time.monotonic())
        return _job(JobStatus.COMPLETED, float(job_num))


def test_parallel_workers_never_wait_for_the_slowest_trial_of_a_batch(tmp_path: Path) -> None:
    settings = QuantsweepOptunaConf(
        sampler=OmegaConf.create({"_target_": "optuna.samplers.RandomSampler", "seed": 0}),
        study_name="s",
        study_dir=str(tmp_path),
        n_trials=8,
        n_jobs=2,
        pruner="none",
        reproduce_seeds=0,
        fingerprint=None,
        warmup=None,
        progress=False,
    )
    sweeper = QuantsweepSweeperImpl(settings)
    jobs = SleepyJobs()
    storage = open_storage(str(tmp_path / "j.log"))
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    sweeper.jobs, sweeper.store, sweeper.storage_spec = jobs, storage, str(tmp_path / "j.log")
    sweeper.study_id = storage.get_study_id_from_name("s")
    sweeper.master = OmegaConf.create({})
    space = parse_space({"x": "interval(0.0, 1.0)"}, [])
    progress = Progress(disable=True)
    session = Session(study, space, [], progress, progress.add_task("s", total=8))
    sweeper._run_workers(session, 2)
    assert not session.errors
    assert sorted(jobs.spans) == list(range(8))
    slow_end = jobs.spans[0][1]
    # every quick trial started while trial 0 still ran: no worker waited for it
    assert all(jobs.spans[n][0] < slow_end for n in range(1, 8))
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 8
    assert os.path.isdir(tmp_path / BEST_DIR) is False  # no run dirs recorded: nothing copied
