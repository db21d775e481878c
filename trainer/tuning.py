"""The job's side of an Optuna study: report to the trial, record what the run produced.

``trainer.train`` calls ``make_reporter(cfg.trial)`` before fitting and ``record_trial`` after
writing metrics. Outside a study (no ``trial.*`` overrides, as in ``python -m trainer``) both do
nothing. The sweeper (hydra_plugins/quantsweep_sweeper) calls ``warm_up`` once in each process
that runs trials (its own or each cpu_pool worker) and hands what it returns to every job, and
``study_fingerprint`` once per session to refuse resuming a study whose data or objective
changed. The job reaches its trial through ``trial.link``, a function of the sweeper named in
config, so the trainer never imports the sweeper.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from trainer.config import TrainConfig, TrialConfig, to_dict, validate
from trainer.errors import StudyStop
from trainer.learners.base import NullReporter, Reporter

if TYPE_CHECKING:
    import optuna

    from trainer.trial_cache import TrialCache


class TrialReporter:
    """Forwards intermediate values to an Optuna trial; raises TrialPruned when told to."""

    active = True

    def __init__(self, trial: optuna.trial.Trial) -> None:
        self.trial = trial

    def report(self, value: float, step: int) -> None:
        import optuna

        if not math.isfinite(value):
            return  # Optuna refuses NaN; a pruner would learn nothing from it anyway
        self.trial.report(value, step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"trial {self.trial.number} pruned at step {step}")


def in_study(trial: TrialConfig) -> bool:
    return trial.study_name is not None and trial.storage is not None and trial.number is not None


def make_reporter(trial: TrialConfig) -> Reporter:
    """The reporter of a run: a trial's, inside a live study; a NullReporter otherwise."""
    if not in_study(trial):
        return NullReporter()
    live = load_trial(trial)
    return NullReporter() if live is None else TrialReporter(live)


def load_trial(trial: TrialConfig) -> optuna.trial.Trial | None:
    """The live trial of a job, through the sweeper's ``trial.link`` function."""
    from hydra.utils import get_method

    assert trial.study_name and trial.storage and trial.number is not None
    found: optuna.trial.Trial | None = get_method(trial.link)(
        trial.study_name, trial.storage, trial.number
    )
    return found


def check_study_data(reporter: Reporter, data_hash: str) -> None:
    """Refuse a trial whose data differs from what its study started on.

    A file that a feed appends to (or that is replaced) during a study would otherwise give
    trials on different tables in one study, whose objective values are not comparable. The
    trial records the hash it read; the sweep stops at once (``StudyStop``).
    """
    if not isinstance(reporter, TrialReporter):
        return
    started_on = _study_data_hash(reporter.trial)
    if started_on is None or started_on == data_hash:
        return
    reporter.trial.set_user_attr("data_hash", data_hash)
    raise StudyStop(
        f"study {reporter.trial.study.study_name!r}: the data changed during the study (trial"
        f" {reporter.trial.number} read data {data_hash[:12]}, the study started on"
        f" {started_on[:12]}; a file appended to or replaced meanwhile?). Trials on other data"
        " are not comparable: point data.path at a copy that stays put and start a new study"
        " with another hydra.sweeper.study_name"
    )


def record_trial(
    trial: TrialConfig,
    metrics: dict[str, Any],
    run_dir: Path,
    data_hash: str,
    seed: int,
    reporter: Reporter | None = None,
    *,
    git_revision: str | None = None,
) -> None:
    """Put the run's seed, metrics, run directory, data hash and git revision on its trial.

    Uses the trial the run reported to when ``reporter`` holds it (no second lookup), and the
    revision the run's metadata recorded.
    """
    if not in_study(trial):
        return
    if isinstance(reporter, TrialReporter) and reporter.trial.number == trial.number:
        live: optuna.trial.Trial | None = reporter.trial
    else:
        live = load_trial(trial)
    if live is None:
        return  # a re-run of a finished trial's config: the study keeps what it recorded
    attrs = {
        "seed": seed,
        "metrics": metrics,
        "run_dir": str(run_dir.resolve()),
        "data_hash": data_hash,
        "git_revision": git_revision,
    }
    import optuna

    try:
        for key, value in attrs.items():
            live.set_user_attr(key, value)
    except optuna.exceptions.UpdateFinishedTrialError:
        return  # failed meanwhile as a dead worker's (no heartbeat): it keeps its record


def warm_up(cfg: DictConfig | TrainConfig) -> dict[str, Any]:
    """Set up a process that runs trials, before its first one; returns what its jobs get.

    The sweeper runs it in its own process when it runs the trials itself, and in each
    ``hardware=cpu_pool`` worker while it opens the study: it loads the training code and the
    learner's module, builds the market table into a new ``TrialCache`` and returns it as the
    keyword argument the sweeper passes to every job of this process
    (``trainer.__main__.main(cfg, trial_cache=...)``).
    """
    import trainer.artifacts
    import trainer.fit  # noqa: F401
    from trainer.learners import learner_class
    from trainer.trial_cache import TrialCache

    conf = validate(cfg)
    learner_class(conf.model.name)
    cache = TrialCache()
    cache.table(conf.data, conf.features)
    return {"trial_cache": cache}


def study_fingerprint(
    cfg: DictConfig | TrainConfig, trial_cache: TrialCache | None = None
) -> dict[str, Any]:
    """What a study's objective values depend on besides the searched params.

    A resumed study whose fingerprint differs would mix incomparable trials; the sweeper
    refuses it naming the key that changed. Hashes the data of the table (the one in
    ``trial_cache``, which the warm-up of this process built, when given).
    """
    from trainer.dataset import build_table
    from trainer.hardware import resolve

    conf = validate(cfg)
    # what every trial would fail on is found before the study is created
    resolve(conf.hardware, needs_device=conf.model.family != "tree")
    if trial_cache is not None:
        table = trial_cache.table(conf.data, conf.features)
    else:
        table = build_table(conf.data, conf.features)
    out = {
        "data_hash": table.data_hash,
        "target": to_dict(conf.target),
        "objective": to_dict(conf.objective),
        "costs": to_dict(conf.costs),
        "strategy": to_dict(conf.strategy),  # the sweeper drops the keys it searches
        "split": to_dict(conf.split),
        "model": to_dict(conf.model),  # the sweeper drops the keys it searches
    }
    calendar = conf.data.trading_calendar()
    if not calendar.always_open:  # 24/7 studies keep the fingerprint they were created with
        out["calendar"] = calendar.to_json()
    if conf.model.name == "lightgbm":
        from trainer.learners.library_data import LGB_DATASET_PARAMS

        out["lightgbm_dataset"] = dict(LGB_DATASET_PARAMS)
    return out


# The study user attr the sweeper records its fingerprint in (the sweeper's
# link.FINGERPRINT_ATTR; tests/test_tuning.py holds them equal): read here by name, so the
# trainer never imports the sweeper.
FINGERPRINT_ATTR = "quantsweep.fingerprint"


def _study_data_hash(trial: optuna.trial.Trial) -> str | None:
    """The data hash a study was started on (None: not recorded, or searched by design)."""
    fingerprint = trial.study.user_attrs.get(FINGERPRINT_ATTR)
    value = fingerprint.get("data_hash") if isinstance(fingerprint, dict) else None
    return value if isinstance(value, str) else None
