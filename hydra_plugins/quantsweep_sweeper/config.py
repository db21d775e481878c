"""``hydra.sweeper.*`` of ``python -m trainer ... -m``: the schema of ``quantsweep_optuna``.

Imported by Hydra's plugin scan, so it holds dataclasses only. The grammar is
hydra-optuna-sweeper's (``sampler``, ``direction``, ``study_name``, ``storage``, ``n_trials``,
``n_jobs``, ``params``, ``custom_search_space``); the rest is ours. Defaults that name
quantsweep's own keys (``seed``, ``model.name``, ``artifacts_dir``) are interpolations, so the
yaml files of ``conf/search/`` only list their search spaces.
"""

# No `from __future__ import annotations`: Hydra's plugin scan executes this module without
# registering it in sys.modules, and dataclasses then cannot resolve string annotations.

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class TPESamplerConf:
    _target_: str = "optuna.samplers.TPESampler"
    seed: Any = "${seed}"  # the run's seed; each trial's draw is seeded from it and its number
    n_startup_trials: int = 10  # random trials before TPE models the history
    n_ei_candidates: int = 24
    multivariate: bool = False
    constant_liar: bool = True  # parallel workers see running trials, so they spread out


@dataclass
class RandomSamplerConf:
    _target_: str = "optuna.samplers.RandomSampler"
    seed: Any = "${seed}"


@dataclass
class QuantsweepOptunaConf:
    _target_: str = "hydra_plugins.quantsweep_sweeper.quantsweep_sweeper.QuantsweepSweeper"
    # Keep `sampler` a config: the sweeper builds one sampler per trial, seeded from this seed
    # and the trial number, so any worker drawing trial n draws the same point.
    _recursive_: bool = False
    defaults: list[Any] = field(default_factory=lambda: [{"sampler": "tpe"}])

    # optuna | grid: hand -m to Hydra's BasicSweeper (search=grid: grids and seed lists); the
    # Optuna fields are then ignored
    mode: str = "optuna"
    sampler: Any = MISSING
    direction: str = "maximize"  # maximize | minimize the job's return value
    study_name: str = "${model.name}-${target.horizon}-${target.task}"
    # An SQLAlchemy URL (sqlite:///..., postgresql://...) or a journal file path;
    # null: a journal file in study_dir
    storage: str | None = None
    study_dir: str = "${artifacts_dir}/studies/${hydra.sweeper.study_name}"  # reports, best/
    n_trials: int = 150  # complete + pruned trials the study ends with
    n_jobs: int | None = None  # trials in flight at once; null: the launcher's n_jobs, else 1
    params: dict[str, str] | None = None  # key: override grammar (interval, choice, range, tag)
    custom_search_space: str | None = None  # dotted path of fn(cfg, trial) adding params
    # param -> param it must divide; sampled only among the values of its range that divide
    # the other's value (model.num_heads -> model.d_model)
    divides: dict[str, str] = field(default_factory=dict)
    pruner: str = "median"  # median | hyperband | wilcoxon | threshold | none
    # passed to the Optuna pruner on top of our defaults: pruner_kwargs={n_startup_trials:10}
    pruner_kwargs: Any = None
    # Reported steps before any trial may be pruned (boosting rounds, epochs or walk-forward
    # folds, whichever the run reports); null: the pruner's default. Mapped to median's and
    # threshold's n_warmup_steps, wilcoxon's n_startup_steps, hyperband's min_resource.
    warmup_steps: int | None = None
    reproduce_seeds: int = 3  # the best params re-run with this many other seeds at the end
    # Resume refuses a study whose search space, objective or data changed; true continues
    allow_changes: bool = False
    # fn(task cfg, **shared) -> dict of what the objective depends on (data hash, objective
    # weights); shared: what the warm-up returned in this process, if it ran here
    fingerprint: str | None = "trainer.tuning.study_fingerprint"
    # Compose the job config once and set each trial's values on it (in this process, or in
    # each cpu_pool worker); false: every job through the launcher, composed from scratch
    reuse_config: bool = True
    # fn(task cfg) -> dict, run once in each process that runs trials (this one with the
    # basic launcher, each cpu_pool worker), before its first: imports, data, and the keyword
    # arguments every job of that process passes to the task function (the trial cache)
    warmup: str | None = "trainer.tuning.warm_up"
    max_consecutive_failures: int = 3  # failed trials in a row that stop the sweep
    heartbeat_interval: float = 10.0  # seconds between heartbeats of a running trial
    grace_period: float = 60.0  # a running trial silent this long belongs to a dead worker
    progress: Any = "${progress}"  # progress bar and closing table


def register() -> None:
    cs = ConfigStore.instance()
    cs.store(
        group="hydra/sweeper",
        name="quantsweep_optuna",
        node=QuantsweepOptunaConf,
        provider="quantsweep",
    )
    cs.store(group="hydra/sweeper/sampler", name="tpe", node=TPESamplerConf, provider="quantsweep")
    cs.store(
        group="hydra/sweeper/sampler", name="random", node=RandomSamplerConf, provider="quantsweep"
    )


register()
