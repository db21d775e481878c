"""The sweeper's in-process jobs and its journal: the same files and state as Hydra's own path.

In-process jobs re-use one composed config and set each trial's values on it instead of
composing and deep-copying per job; these tests hold that shortcut to what Hydra's
``load_sweep_config`` + ``run_job`` would have produced.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
import pytest
from hydra import compose, initialize_config_dir
from hydra._internal.callbacks import Callbacks
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.core.utils import JobRuntime, JobStatus
from hydra.types import HydraContext, RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ReadonlyConfigError, ValidationError

from hydra_plugins.quantsweep_sweeper import _internals
from hydra_plugins.quantsweep_sweeper._jobs import InProcessJobs, _Template, to_yaml
from hydra_plugins.quantsweep_sweeper.link import open_storage
from tests.conftest import CONF, run_cli
from tests.test_sweep import SMALL
from trainer.config import register


def _compose(overrides: list[str], hydra: bool = False) -> DictConfig:
    register()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=overrides, return_hydra_config=hydra)


@pytest.mark.parametrize(
    "how",
    [
        [],  # in this process, one composed config
        ["hardware=cpu_pool"],  # in pool workers, one composed config each
        ["hydra.sweeper.reuse_config=false"],  # every job composed by Hydra's launcher
    ],
    ids=["in-process", "cpu-pool", "launcher"],
)
def test_each_jobs_hydra_files_are_what_hydra_would_compose_for_its_overrides(
    tmp_path: Path, how: list[str]
) -> None:
    res = run_cli(
        "trainer",
        *SMALL,
        *how,
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.reproduce_seeds=1",  # and a job that also sets `seed`
        "-m",
        cwd=tmp_path,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    job_dirs = sorted(p.parent.parent for p in (tmp_path / "outputs").rglob("overrides.yaml"))
    assert len(job_dirs) == 4  # three trials and one reproduction
    assert len({d.parent for d in job_dirs if d.name.isdigit()}) == 1  # one sweep directory
    for job_dir in job_dirs:
        hydra_dir = job_dir / ".hydra"
        overrides = OmegaConf.to_container(OmegaConf.load(hydra_dir / "overrides.yaml"))
        assert isinstance(overrides, list)
        expected = _compose([str(o) for o in overrides])
        written = OmegaConf.load(hydra_dir / "config.yaml")
        assert OmegaConf.to_container(written) == OmegaConf.to_container(expected)
        hydra = OmegaConf.load(hydra_dir / "hydra.yaml").hydra
        assert Path(hydra.runtime.output_dir) == job_dir.resolve()
        # the sweep's subdir is ${hydra.job.num}; a reproduction names its trial and seed
        assert job_dir.name in (str(hydra.job.num), f"trial{hydra.job.num}-seed{expected.seed}")
        assert list(hydra.overrides.task) == overrides
        meta = json.loads((job_dir / "metadata.json").read_text())
        assert meta["config"]["seed"] == expected.seed  # what the job trained with


def test_a_value_one_job_set_is_back_to_its_composed_value_for_the_next() -> None:
    template = _Template.of(_compose(SMALL, hydra=True), OverridesParser.create())
    composed_seed = template.task.seed
    composed_depth = template.task.model.max_depth
    template.set_values({"seed": composed_seed + 7, "model.max_depth": 8})
    assert (template.task.seed, template.full.seed) == (composed_seed + 7,) * 2
    template.set_values({"model.max_depth": 4})
    assert (template.task.seed, template.full.seed) == (composed_seed, composed_seed)
    assert template.task.model.max_depth == template.full.model.max_depth == 4
    template.set_values({})
    assert template.task.model.max_depth == composed_depth
    with pytest.raises(ReadonlyConfigError):  # jobs share it: none may change it for the next
        template.task.seed = 1


@pytest.mark.parametrize("text", ["true", "1", "1.5", "1e3", "null-ish", "${seed}", "plain"])
def test_yaml_of_a_string_loads_back_as_the_same_string(text: str) -> None:
    loaded = OmegaConf.create(to_yaml({"key": text}))
    assert OmegaConf.to_container(loaded, resolve=False) == {"key": text}


def test_the_journal_syncs_when_a_trial_starts_or_ends_not_on_every_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    monkeypatch.setattr(_internals.os, "fsync", lambda fd: synced.append(fd))
    path = tmp_path / "journal.log"
    study = optuna.create_study(storage=open_storage(str(path)), study_name="s")
    trial = study.ask()
    after_ask = len(synced)
    trial.suggest_float("x", 0.0, 1.0)
    for step in range(5):
        trial.report(0.1 * step, step)
    trial.set_user_attr("seed", 3)
    assert len(synced) == after_ask  # params, reports and attributes wait for the next sync
    study.tell(trial, 0.5)
    assert len(synced) == after_ask + 1
    # Optuna's own journal reader sees every record, as optuna-dashboard would
    plain = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    (frozen,) = optuna.load_study(study_name="s", storage=plain).trials
    assert frozen.params.keys() == {"x"} and len(frozen.intermediate_values) == 5
    assert frozen.user_attrs == {"seed": 3} and frozen.value == 0.5


# -- in-process jobs, end to end without a subprocess -------------------------------------------


@contextmanager
def _jobs(
    tmp_path: Path,
    task_function: Callable[..., Any],
    *overrides: str,
    with_fallback: bool = False,
) -> Iterator[InProcessJobs]:
    """``InProcessJobs`` as the sweeper makes them, for a sweep writing under ``tmp_path``."""
    register()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration(
            "train",
            overrides=[*SMALL, f"hydra.sweep.dir={tmp_path}", *overrides],
            run_mode=RunMode.MULTIRUN,
        )
        HydraConfig.instance().set_config(master)
        JobRuntime.instance().set("name", "train")
        context = HydraContext(config_loader=loader, callbacks=Callbacks(master))
        fallback = (
            Plugins.instance().instantiate_launcher(
                hydra_context=context, task_function=task_function, config=master
            )
            if with_fallback
            else None
        )
        yield InProcessJobs(context, task_function, master, fallback=fallback)


def _varying(job: int) -> list[str]:
    return [
        f"model.max_depth={3 + job}",
        f"model.learning_rate={0.01 * (job + 1)}",
        f"trial.study_name=study-{job}",
        f"trial.storage=/tmp/studies/study-{job}/journal.log",
        f"trial.number={job}",
    ]


def test_each_jobs_files_are_its_values_rendered_whole(tmp_path: Path) -> None:
    seen: list[tuple[int, str, list[str]]] = []  # what HydraConfig.get() says in each job

    def task(cfg: DictConfig) -> float:
        logging.getLogger("task").info("job depth %s", cfg.model.max_depth)
        hydra = HydraConfig.get()
        seen.append((hydra.job.num, hydra.runtime.output_dir, list(hydra.overrides.task)))
        return float(cfg.model.max_depth)

    with _jobs(tmp_path, task) as jobs:
        fixed = ["model.n_estimators=20"]
        for job in range(3):
            ret = jobs.run(fixed, _varying(job), job)
            assert (ret.status, ret.return_value) == (JobStatus.COMPLETED, 3 + job)
            out = tmp_path / str(job)
            t = jobs.template(fixed)
            written = {p.name: p.read_text() for p in (out / ".hydra").iterdir()}
            assert written["config.yaml"] == to_yaml(
                OmegaConf.to_container(t.task, resolve=False, enum_to_str=True)
            )
            assert written["hydra.yaml"] == to_yaml(t.hydra_yaml)
            hydra = OmegaConf.create(written["hydra.yaml"]).hydra
            assert (hydra.job.num, hydra.runtime.output_dir) == (job, str(out))
            assert list(hydra.overrides.task) == [*fixed, *_varying(job)]
            assert seen[-1] == (job, str(out), [*fixed, *_varying(job)])
            assert OmegaConf.create(written["config.yaml"]).model.max_depth == 3 + job
            # the job's log file has its own messages, and no other job's
            assert (out / "train.log").read_text().count("job depth") == 1
            assert f"job depth {3 + job}" in (out / "train.log").read_text()


def test_jobs_composed_in_full_get_the_shared_trial_cache_too(tmp_path: Path) -> None:
    """A seed reproduction sets ``hydra.sweep.subdir``, so Hydra's launcher composes it: it
    must still get what the warm-up shared (else it rebuilt the trial cache's data)."""
    got: list[tuple[str, Any]] = []

    def task(cfg: DictConfig, cache: Any = None) -> float:
        got.append((HydraConfig.get().runtime.output_dir, cache))
        return 0.0

    shared = object()
    with _jobs(tmp_path, task, with_fallback=True) as jobs:
        jobs.share({"cache": shared})
        jobs.run([], _varying(0), 0)  # values only: this process's composed config
        jobs.run([], [*_varying(1), "seed=5", "hydra.sweep.subdir=reproduce/seed5"], 1)
    assert got == [(str(tmp_path / "0"), shared), (str(tmp_path / "reproduce/seed5"), shared)]


def test_a_value_of_the_wrong_type_fails_as_omegaconf_update_fails(tmp_path: Path) -> None:
    with _jobs(tmp_path, lambda cfg: 0.0) as jobs:
        t = jobs.template([])
        t.set_values({"model.max_depth": 5})
        with pytest.raises(ValidationError) as ours:
            t.set_values({"model.max_depth": "deep"})
        with pytest.raises(ValidationError) as update:
            OmegaConf.update(OmegaConf.structured(t.full), "model.max_depth", "deep")
        assert str(ours.value) == str(update.value)
        assert "model.max_depth" in str(ours.value)
        t.set_values({"model.max_depth": 6})  # and the next job sets its value as usual
        assert t.task.model.max_depth == t.full.model.max_depth == 6


def test_a_value_that_is_a_container_still_goes_through_omegaconf_update(tmp_path: Path) -> None:
    with _jobs(tmp_path, lambda cfg: 0.0) as jobs:
        t = jobs.template([])
        study_name = t.task.trial.study_name
        t.set_values({"model.max_depth": 4, "trial.number": 1})
        for number in (7, 8):  # merged, as Hydra applies ``trial={number: 7}``
            t.set_values({"model.max_depth": 4, "trial.number": 1, "trial": {"number": number}})
            assert t.task.trial.number == t.full.trial.number == number
            assert t.task.trial.study_name == study_name
