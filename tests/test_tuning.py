"""The job's side of a study: reporting to the trial, pruning, and what a run records on it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from omegaconf import DictConfig

from hydra_plugins.quantsweep_sweeper.link import (
    PRUNER_ATTR,
    build_pruner,
    open_storage,
    pruner_spec,
)
from trainer.config import TrialConfig, validate
from trainer.errors import UserError
from trainer.learners.base import NullReporter
from trainer.tuning import TrialReporter, make_reporter, record_trial, study_fingerprint


def _study(tmp_path: Path, pruner: dict[str, object]) -> tuple[optuna.Study, str]:
    storage = str(tmp_path / "journal.log")
    study = optuna.create_study(study_name="s", storage=open_storage(storage), direction="maximize")
    study.set_user_attr(PRUNER_ATTR, pruner)
    return study, storage


def test_outside_a_study_the_reporter_listens_to_nothing() -> None:
    reporter = make_reporter(TrialConfig())
    assert isinstance(reporter, NullReporter) and not reporter.active
    record_trial(TrialConfig(), {"valid": {}}, Path("."), "hash", 0)  # a no-op, no storage


def test_a_job_reports_to_the_trial_the_sweeper_asked(tmp_path: Path) -> None:
    study, storage = _study(tmp_path, pruner_spec("none"))
    trial = study.ask()
    reporter = make_reporter(TrialConfig("s", storage, trial.number))
    assert isinstance(reporter, TrialReporter)
    for step, value in ((10, 0.1), (20, 0.2), (30, float("nan"))):
        reporter.report(value, step)
    assert study.trials[trial.number].intermediate_values == {10: 0.1, 20: 0.2}


def test_the_job_rebuilds_the_studys_pruner_and_raises_trial_pruned(tmp_path: Path) -> None:
    # The pruner is not in Optuna's storage: the job must find it in the study's user attrs.
    study, storage = _study(tmp_path, pruner_spec("threshold", {"lower": 0.5}))
    trial = study.ask()
    reporter = make_reporter(TrialConfig("s", storage, trial.number))
    reporter.report(0.9, 1)
    with pytest.raises(optuna.TrialPruned):
        reporter.report(0.1, 2)


@pytest.mark.parametrize("through_reporter", [False, True])
def test_a_run_records_seed_metrics_run_dir_data_hash_and_revision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, through_reporter: bool
) -> None:
    study, storage = _study(tmp_path, pruner_spec("none"))
    trial = study.ask()
    metrics = {"valid": {"objective": 0.25, "f1_up": 0.6}, "test": {"objective": 0.1}}
    link = TrialConfig("s", storage, trial.number)
    reporter = make_reporter(link) if through_reporter else None
    if through_reporter:  # the trial the run reported to is recorded on, not looked up again

        def no_lookup(*args: object) -> None:
            raise AssertionError("trial looked up again")

        monkeypatch.setattr("hydra_plugins.quantsweep_sweeper.link.load_trial", no_lookup)
    record_trial(link, metrics, tmp_path, "d4t4", 7, reporter, git_revision="abc123")
    attrs = study.trials[trial.number].user_attrs
    assert attrs["seed"] == 7
    assert attrs["metrics"] == metrics
    assert attrs["run_dir"] == str(tmp_path.resolve())
    assert attrs["data_hash"] == "d4t4"
    assert attrs["git_revision"] == "abc123"


def test_rerunning_a_finished_trials_config_neither_reports_nor_records(tmp_path: Path) -> None:
    # evaluation retrains a study's best run from its saved config, trial.* included
    study, storage = _study(tmp_path, pruner_spec("threshold", {"lower": 0.5}))
    trial = study.ask()
    study.tell(trial, 0.3)
    link = TrialConfig("s", storage, trial.number)
    reporter = make_reporter(link)
    assert not reporter.active
    reporter.report(0.0, 1)
    record_trial(link, {"valid": {}}, tmp_path, "h", 0)
    assert "metrics" not in study.trials[0].user_attrs


def test_a_missing_study_or_trial_is_a_user_error(tmp_path: Path) -> None:
    _, storage = _study(tmp_path, pruner_spec("none"))
    with pytest.raises(UserError, match=r"trial\.study_name"):
        make_reporter(TrialConfig("nope", storage, 0))
    with pytest.raises(UserError, match=r"trial\.number"):
        make_reporter(TrialConfig("s", storage, 5))


@pytest.mark.parametrize(
    ("kind", "kwargs", "cls"),
    [
        ("median", None, optuna.pruners.MedianPruner),
        ("hyperband", {"reduction_factor": 2}, optuna.pruners.HyperbandPruner),
        ("wilcoxon", None, optuna.pruners.WilcoxonPruner),
        ("threshold", {"lower": 0.0}, optuna.pruners.ThresholdPruner),
        ("none", None, optuna.pruners.NopPruner),
    ],
)
def test_every_pruner_kind_builds_from_its_spec(
    kind: str, kwargs: dict[str, object] | None, cls: type
) -> None:
    assert isinstance(build_pruner(pruner_spec(kind, kwargs)), cls)


@pytest.mark.parametrize(
    ("kind", "keyword"),
    [("median", "n_warmup_steps"), ("wilcoxon", "n_startup_steps"), ("hyperband", "min_resource")],
)
def test_warmup_steps_reach_each_pruners_own_keyword(kind: str, keyword: str) -> None:
    assert pruner_spec(kind, None, warmup_steps=30)["kwargs"][keyword] == 30
    assert pruner_spec(kind, {keyword: 5}, warmup_steps=30)["kwargs"][keyword] == 5  # explicit wins


@pytest.mark.parametrize(
    ("kind", "kwargs", "match"),
    [
        ("percentile", None, "must be one of"),
        ("median", {"n_startup_trial": 5}, "pruner_kwargs"),
        ("median", [1, 2], "mapping"),
    ],
)
def test_a_bad_pruner_is_a_user_error(kind: str, kwargs: object, match: str) -> None:
    with pytest.raises(UserError, match=match):
        pruner_spec(kind, kwargs)


def test_unreachable_database_storage_is_one_clear_error() -> None:
    with pytest.raises(UserError, match=r"hydra.sweeper.storage=postgresql://qs:\*\*\*@"):
        open_storage("postgresql://qs:secret@127.0.0.1:1/none?connect_timeout=2")


def test_fingerprint_follows_data_and_objective(compose_cfg: Callable[..., DictConfig]) -> None:
    base = study_fingerprint(compose_cfg())
    assert base == study_fingerprint(compose_cfg("progress=false", "hardware.threads=1"))
    depth = study_fingerprint(compose_cfg("model.max_depth=3"))  # the sweeper drops searched keys
    assert depth["model"]["max_depth"] == 3 and depth["data_hash"] == base["data_hash"]
    assert base["data_hash"] != study_fingerprint(compose_cfg("data.seed=1"))["data_hash"]
    penalty = study_fingerprint(compose_cfg("objective.drawdown_penalty=2.0"))
    assert penalty["objective"]["drawdown_penalty"] == 2.0
    assert base["strategy"]["name"] == "threshold"
    held = study_fingerprint(compose_cfg("strategy=hysteresis", "strategy.min_hold_hours=8"))
    assert held["strategy"]["name"] == "hysteresis" and held["strategy"]["min_hold_hours"] == 8


def test_the_warm_up_hands_its_jobs_a_trial_cache_holding_the_table(
    compose_cfg: Callable[..., DictConfig],
) -> None:
    from trainer.trial_cache import TrialCache
    from trainer.tuning import warm_up

    cfg = compose_cfg()
    shared = warm_up(cfg)
    assert set(shared) == {"trial_cache"}  # the keyword of trainer.__main__.main
    cache = shared["trial_cache"]
    assert isinstance(cache, TrialCache)
    conf = validate(cfg)
    table = cache.table(conf.data, conf.features)  # built by the warm-up, not again
    fingerprint = study_fingerprint(cfg, trial_cache=cache)
    assert cache.table(conf.data, conf.features) is table
    assert fingerprint["data_hash"] == table.data_hash


def test_a_run_whose_trial_was_failed_meanwhile_records_nothing_and_ends_quietly(
    tmp_path: Path,
) -> None:
    # A worker that lost its heartbeat has its trial failed by another process; its run then
    # finishes, and recording on the finished trial must not raise into the sweep.
    study, storage = _study(tmp_path, pruner_spec("none"))
    trial = study.ask()
    link = TrialConfig("s", storage, trial.number)
    reporter = make_reporter(link)
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    record_trial(link, {"valid": {}}, tmp_path, "h", 0, reporter)
    assert "metrics" not in study.trials[trial.number].user_attrs


def test_a_lightgbm_study_records_the_dataset_params_its_models_depend_on(
    compose_cfg: Callable[..., DictConfig],
) -> None:
    # LightGBM Datasets are built without the feature pre-filter (so trials can share them),
    # which can change models: a study begun with the filter is not resumed unnoticed.
    fingerprint = study_fingerprint(compose_cfg("model=lightgbm"))
    assert fingerprint["lightgbm_dataset"] == {"feature_pre_filter": False}
    assert "lightgbm_dataset" not in study_fingerprint(compose_cfg())


def test_the_trainer_reads_the_fingerprint_attr_the_sweeper_writes() -> None:
    from hydra_plugins.quantsweep_sweeper import link
    from trainer import tuning

    assert tuning.FINGERPRINT_ATTR == link.FINGERPRINT_ATTR
