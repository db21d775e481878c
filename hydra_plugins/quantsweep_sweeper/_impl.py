"""``python -m trainer ... -m``: ask a trial, launch its job, tell the outcome, keep best/ current.

Parallel trials (``n_jobs`` > 1) run as that many worker threads in this process, each a
sequential ask -> launch one job -> tell loop against the shared storage; the jobs themselves
run in the launcher's processes (Hydra's joblib launcher with ``hardware=cpu_pool``). A worker
starts its next trial as soon as its last one ends, so no trial waits for the slowest of a batch
(Hydra's usual sweeper -> launcher contract hands over whole batches and waits for all). Other
processes, on this machine or others, run the same loop on the same storage: the budget is
checked against the storage, so they share one study. When the workers stop, ``_finish`` syncs
best/, re-runs the best params with other seeds and writes the study's reports.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra.utils import get_class, get_method
from omegaconf import DictConfig, OmegaConf, open_dict
from optuna.trial import FrozenTrial, TrialState

from hydra_plugins.quantsweep_sweeper import _report
from hydra_plugins.quantsweep_sweeper._best import best_trial, sync_best
from hydra_plugins.quantsweep_sweeper._finish import FinishSettings, finish
from hydra_plugins.quantsweep_sweeper._internals import BASIC_LAUNCHER
from hydra_plugins.quantsweep_sweeper._jobs import InProcessJobs, Jobs, LauncherJobs
from hydra_plugins.quantsweep_sweeper._liveness import (
    OWNER_ATTR,
    Owner,
    fail_stale_trials,
    heartbeat,
)
from hydra_plugins.quantsweep_sweeper._pool import PoolJobs
from hydra_plugins.quantsweep_sweeper._sampler import TrialSeededSampler
from hydra_plugins.quantsweep_sweeper._search_space import (
    SearchSpace,
    override_key,
    param_overrides,
    parse_space,
    quote,
    sample,
)
from hydra_plugins.quantsweep_sweeper._session import (
    Outcome,
    Session,
    Ticket,
    first_line,
    outcome_of,
    rank_in_budget,
)
from hydra_plugins.quantsweep_sweeper._study import check_and_record, drop_keys, open_study
from hydra_plugins.quantsweep_sweeper.config import QuantsweepOptunaConf
from hydra_plugins.quantsweep_sweeper.link import (
    MAX_PROCESSES,
    StudyStop,
    UserError,
    at_most,
    check_finite,
    check_seed,
    config_tracker,
    finite,
    open_storage,
    path_text,
    plain_name,
    progress_bar,
    pruner_spec,
    resolve_storage,
    writable_dir,
)

log = logging.getLogger(__name__)

JOBLIB_LAUNCHER = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"

# Trials that hold budget: finished ones that count, and ones a live worker runs.
COUNTING = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)


class QuantsweepSweeperImpl(Sweeper):
    def __init__(self, settings: QuantsweepOptunaConf) -> None:
        """``settings``: the ``hydra.sweeper`` node as composed (``config.py`` says each key)."""
        self.settings = settings
        sampler, direction, study_name = settings.sampler, settings.direction, settings.study_name
        storage, study_dir, n_trials = settings.storage, settings.study_dir, settings.n_trials
        n_jobs, params, divides = settings.n_jobs, settings.params, settings.divides
        custom_search_space, pruner = settings.custom_search_space, settings.pruner
        pruner_kwargs, warmup_steps = settings.pruner_kwargs, settings.warmup_steps
        reproduce_seeds, allow_changes = settings.reproduce_seeds, settings.allow_changes
        fingerprint, reuse_config = settings.fingerprint, settings.reuse_config
        warmup, max_consecutive_failures = settings.warmup, settings.max_consecutive_failures
        heartbeat_interval, grace_period = settings.heartbeat_interval, settings.grace_period
        progress = settings.progress
        _check_settings(
            direction,
            n_trials,
            n_jobs,
            reproduce_seeds,
            max_consecutive_failures,
            heartbeat_interval,
            grace_period,
        )
        check_finite(
            {"sampler": _plain(sampler), "pruner_kwargs": _plain(pruner_kwargs)}, "hydra.sweeper"
        )
        self.sampler = sampler
        try:
            self.sampler_class = get_class(str(sampler.get("_target_")))
        except Exception as exc:  # hydra's ImportError wrapper
            raise UserError(f"hydra.sweeper.sampler._target_: {first_line(exc)}") from None
        self.direction = direction
        self.study_name = study_name
        self.storage = storage
        self.study_dir_text = study_dir  # as given: Path("") would be "."
        self.study_dir = Path(study_dir)
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.params = _plain(params)
        self.custom_search_space = custom_search_space
        self.divides = _plain(divides)
        self.pruner = pruner_spec(pruner, _plain(pruner_kwargs), warmup_steps)
        self.reproduce_seeds = reproduce_seeds
        self.allow_changes = allow_changes
        self.fingerprint = fingerprint
        self.reuse_config = reuse_config
        self.warmup = warmup
        self.max_consecutive_failures = max_consecutive_failures
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period
        self.show_progress = bool(progress)
        self.owner = Owner.me()

    # -- Hydra's Sweeper interface ------------------------------------------------------------
    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.hydra_context = hydra_context
        self.config = config
        self.seed, self.sampler_cfg = _split_seed(self.sampler, config)
        self.context: HydraContext = hydra_context  # typed non-optional copies of the above
        self.master: DictConfig = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )
        cls = type(self.launcher)
        self.launcher_name = f"{cls.__module__}.{cls.__qualname__}"
        self.in_process = self.launcher_name == BASIC_LAUNCHER
        self.task_function = task_function
        self.jobs: Jobs = (
            InProcessJobs(hydra_context, task_function, config, self.launcher)
            if self.in_process and self.reuse_config
            else LauncherJobs(self.launcher)
        )

    def sweep(self, arguments: list[str]) -> list[tuple[int, str, float | None]]:
        started = time.perf_counter()
        plain_name("hydra.sweeper.study_name", self.study_name)
        writable_dir("hydra.sweeper.study_dir", self.study_dir_text)
        if self.storage is not None and "://" not in self.storage:
            path_text("hydra.sweeper.storage", self.storage)
        space = parse_space(self.params, arguments, self.divides)
        fixed = list(space.fixed.values())
        n_workers = self._n_workers()
        # Resolved here first: ${now:...} is cached in the config, and workers get that cache
        sweep_dir = Path(str(self.master.hydra.sweep.dir))
        if self.reuse_config and self.launcher_name == JOBLIB_LAUNCHER:
            self.jobs = self._start_pool(fixed, n_workers)
        try:
            results = self._sweep(space, fixed, n_workers, sweep_dir, started)
        except BaseException as exc:
            if isinstance(self.jobs, PoolJobs):
                # A config error: the workers' warm-ups stop on the same error, so wait for
                # them (killed workers can leave loky's resource tracker warning about their
                # semaphores). Anything else (Ctrl-C, a crash): no waiting for trials.
                self.jobs.close(kill=not isinstance(exc, UserError))
            raise
        if isinstance(self.jobs, PoolJobs):
            self.jobs.close()
        return results

    def _sweep(
        self,
        space: SearchSpace,
        fixed: list[str],
        n_workers: int,
        sweep_dir: Path,
        started: float,
    ) -> list[tuple[int, str, float | None]]:
        # tracking=mlflow: an unreachable store is one error here, before any work
        artifacts_dir = str(self.master.get("artifacts_dir", "artifacts"))
        tracker = config_tracker(self.master.get("tracking"), artifacts_dir, self.study_name)
        # Both validate the composed config (a UserError stops before anything is written).
        shared: dict[str, Any] = {}
        if self.in_process and self.warmup:  # this process runs the trials itself
            shared = dict(get_method(self.warmup)(self._task_config(fixed)) or {})
            if isinstance(self.jobs, InProcessJobs):
                self.jobs.share(shared)
        fingerprint = self._fingerprint(space, fixed, shared)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.master, sweep_dir / "multirun.yaml")
        study, done = self._open(fingerprint, n_workers)
        if done["complete"] + done["pruned"] >= self.n_trials:
            log.info(
                "study %s is complete: %d complete + %d pruned trials fill its budget of %d, so"
                " nothing runs. To run more: hydra.sweeper.n_trials=%d; for another study:"
                " hydra.sweeper.study_name=%s-2",
                self.study_name,
                done["complete"],
                done["pruned"],
                self.n_trials,
                self.n_trials + max(10, self.n_trials // 2),
                self.study_name,
            )
        session = self._new_session(study, space, fixed, done)
        session.tracker = tracker
        tracker.start_study(study, self.study_dir, lambda: self._plain_task_config(fixed))
        with session.progress:
            self._run_workers(session, n_workers)
        if session.errors:
            tracker.flush(study)  # the trials told so far are logged before the error ends it
            raise session.errors[0]
        wall_s = time.perf_counter() - started
        finish(session, self.jobs, self._finish_settings(), n_workers, wall_s)
        return session.results

    def _new_session(
        self, study: optuna.Study, space: SearchSpace, fixed: list[str], done: dict[str, int]
    ) -> Session:
        """The workers' shared state, its progress bar counting the trials already done."""
        progress = progress_bar(self.show_progress, transient=False, extra_field="best")
        task = progress.add_task(
            self.study_name,
            total=self.n_trials,
            completed=done["complete"] + done["pruned"],
            best="",
        )
        return Session(study, space, fixed, progress, task)

    def _start_pool(self, fixed: list[str], n_workers: int) -> PoolJobs:
        """cpu_pool's workers, started and warming up while this process opens the study."""
        from hydra_plugins.quantsweep_sweeper.link import cpu_count

        assert self.launcher is not None
        pool = PoolJobs(
            self.context,
            self.task_function,
            self.master,
            self.launcher,
            n_workers,
            threads=max(1, cpu_count() // n_workers),
        )
        pool.warm_up(fixed, self.warmup)
        return pool

    # -- the study's opening ------------------------------------------------------------------
    def _fingerprint(
        self, space: SearchSpace, fixed: list[str], shared: dict[str, Any]
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "search_space": {**space.to_json(), "custom": self.custom_search_space},
            "direction": self.direction,
        }
        if self.fingerprint:
            fn: Callable[..., dict[str, Any]] = get_method(self.fingerprint)
            searched = {override_key(k) for k in space.distributions}
            if any(k.startswith("data.") for k in searched):
                searched.add("data_hash")  # the data varies by design: no hash to hold trials to
            data.update(drop_keys(fn(self._task_config(fixed), **shared), searched))
        return data

    def _task_config(self, fixed: list[str]) -> DictConfig:
        if isinstance(self.jobs, InProcessJobs | PoolJobs):
            local = self.jobs if isinstance(self.jobs, InProcessJobs) else self.jobs.local
            return copy.deepcopy(local.template(fixed).task)
        cfg = self.context.config_loader.load_sweep_config(self.master, list(fixed))
        with open_dict(cfg):
            del cfg["hydra"]
        return cfg

    def _plain_task_config(self, fixed: list[str]) -> dict[str, Any]:
        data = OmegaConf.to_container(self._task_config(fixed), resolve=True)
        assert isinstance(data, dict)
        return {str(k): v for k, v in data.items()}

    def _open(
        self, fingerprint: dict[str, Any], n_workers: int
    ) -> tuple[optuna.Study, dict[str, int]]:
        """The study, new or resumed (refused if it changed), with its stale trials failed."""
        sampler = TrialSeededSampler(self._make_sampler, self.seed)
        storage_spec = resolve_storage(self.storage, self.study_dir)
        storage = open_storage(storage_spec)
        self.storage_spec, self.store = storage_spec, storage
        study = open_study(self.study_name, storage, self.direction, sampler, self.pruner)
        self.study_id = storage.get_study_id_from_name(self.study_name)
        resumed = check_and_record(
            study,
            fingerprint,
            self.pruner,
            self.seed,
            self.allow_changes,
            storage_spec,
        )
        stale = fail_stale_trials(study, self.grace_period, self.owner)
        done = _report.counts(study.get_trials(deepcopy=False))
        log.info(
            "study %s (%s, %s): %d complete, %d pruned, %d failed%s; budget %d, %d worker(s)",
            self.study_name,
            "resumed" if resumed else "new",
            storage_spec,
            done["complete"],
            done["pruned"],
            done["failed"],
            f", {len(stale)} stale trial(s) failed: {stale}" if stale else "",
            self.n_trials,
            n_workers,
        )
        return study, done

    def _make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        # hydra.utils.instantiate deep-copies and resolves per trial; the sampler config is flat
        kwargs = {k: v for k, v in self.sampler_cfg.items() if k != "_target_"}
        try:
            sampler: optuna.samplers.BaseSampler = self.sampler_class(**kwargs, seed=seed)
        except TypeError as exc:
            raise UserError(f"hydra.sweeper.sampler: {exc}") from None
        return sampler

    # -- workers ------------------------------------------------------------------------------
    def _n_workers(self) -> int:
        n = self.n_jobs
        if n is None:
            launcher_n = OmegaConf.select(self.master, "hydra.launcher.n_jobs", default=None)
            n = 1 if self.in_process or launcher_n is None else int(launcher_n)
            if n == -1:
                from hydra_plugins.quantsweep_sweeper.link import cpu_count

                n = cpu_count()
        if n > 1 and self.in_process:
            raise UserError(
                f"hydra.sweeper.n_jobs={n}: Hydra's basic launcher runs one job at a time in"
                " this process; use hardware=cpu_pool (the joblib launcher) for parallel trials"
            )
        return max(1, n)

    def _run_workers(self, session: Session, n_workers: int) -> None:
        if n_workers == 1:
            self._guarded(session)
            return
        threads = [
            threading.Thread(target=self._guarded, args=(session,), name=f"worker-{i}", daemon=True)
            for i in range(n_workers)
        ]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(timeout=0.5)  # short joins keep Ctrl-C responsive

    def _guarded(self, session: Session) -> None:
        try:
            self._work(session)
        except BaseException as exc:
            session.errors.append(exc)
            session.stop.set()
            if threading.current_thread() is threading.main_thread():
                raise

    def _work(self, session: Session) -> None:
        while not session.stop.is_set():
            ticket = self._next(session)
            if ticket is None:
                return
            try:
                with heartbeat(self.store, ticket.trial_id, self.heartbeat_interval):
                    ret = self.jobs.run(session.fixed, ticket.varying, ticket.trial.number)
                outcome = outcome_of(ret)
            except BaseException as exc:  # composition error, Ctrl-C: the trial did not run
                with session.lock:
                    session.study.tell(ticket.trial, state=TrialState.FAIL, skip_if_finished=True)
                raise exc
            self._record(session, ticket, outcome)

    def _next(self, session: Session) -> Ticket | None:
        """Ask the next trial if the budget allows (under the lock: one ask at a time)."""
        study = session.study
        with session.lock:
            if session.stop.is_set():
                return None
            fail_stale_trials(study, self.grace_period, self.owner)
            if len(study.get_trials(deepcopy=False, states=COUNTING)) >= self.n_trials:
                return None
            trial = study.ask()
            trial_id = self.store.get_trial_id_from_study_id_trial_number(
                self.study_id, trial.number
            )
            self.store.set_trial_system_attr(trial_id, OWNER_ATTR, self.owner.to_json())
            counting = study.get_trials(deepcopy=False, states=COUNTING)
            if rank_in_budget(counting, trial.number) > self.n_trials:
                # another process asked the last trial of the budget at the same moment
                trial.set_user_attr(_report.SURPLUS_ATTR, True)
                study.tell(trial, state=TrialState.FAIL)
                return None
            try:
                params = sample(trial, session.space)
                if self.custom_search_space:
                    get_method(self.custom_search_space)(self.master, trial)
                    params = dict(trial.params)
            except BaseException:
                study.tell(trial, state=TrialState.FAIL)
                raise
        link = [
            f"trial.study_name={quote(self.study_name)}",
            f"trial.storage={quote(self.storage_spec)}",
            f"trial.number={trial.number}",
        ]
        return Ticket(trial, trial_id, [*param_overrides(session.space, params), *link])

    def _record(self, session: Session, ticket: Ticket, outcome: Outcome) -> None:
        study, trial = session.study, ticket.trial
        with session.lock:
            if outcome.state == TrialState.COMPLETE:
                study.tell(trial, outcome.value, skip_if_finished=True)
            else:
                if outcome.error is not None:
                    trial.set_user_attr("error", first_line(outcome.error))
                study.tell(trial, state=outcome.state, skip_if_finished=True)
            best = (
                sync_best(study, self.study_dir) if outcome.state == TrialState.COMPLETE else None
            )
            session.results.append((trial.number, outcome.state.name, outcome.value))
            self._log_outcome(session, trial.number, outcome, best)
            session.tracker.log_trial(self.store.get_trial(ticket.trial_id))  # queued
            self._check_failures(session, outcome)

    def _log_outcome(
        self, session: Session, number: int, outcome: Outcome, best: int | None
    ) -> None:
        study = session.study
        trials = study.get_trials(deepcopy=False)
        c = _report.counts(trials)
        top: FrozenTrial | None = best_trial(study)
        best_text = f"best {top.value:.4f} (trial {top.number})" if top else ""
        session.progress.update(session.task, completed=c["complete"] + c["pruned"], best=best_text)
        if outcome.state == TrialState.FAIL and outcome.error is not None:
            err = outcome.error
            if isinstance(err, UserError):
                log.error("trial %d failed: %s", number, err)
            else:
                log.error("trial %d failed: %s", number, first_line(err), exc_info=err)
        else:
            value = "" if outcome.value is None else f" {outcome.value:.4f}"
            log.info("trial %d %s%s · %s", number, outcome.state.name.lower(), value, best_text)

    def _check_failures(self, session: Session, outcome: Outcome) -> None:
        if outcome.state != TrialState.FAIL:
            session.consecutive_failures = 0
            session.successes += 1
            return
        session.consecutive_failures += 1
        err = outcome.error
        if isinstance(err, UserError) and (session.successes == 0 or isinstance(err, StudyStop)):
            raise err  # wrong for every trial: say so once, before the budget burns
        if session.consecutive_failures >= self.max_consecutive_failures:
            raise UserError(
                f"study {self.study_name!r}: {session.consecutive_failures} trials failed in a"
                f" row, the last with {first_line(err) if err else 'no value'}"
                " (hydra.sweeper.max_consecutive_failures)"
            )

    # -- the study's end ----------------------------------------------------------------------
    def _finish_settings(self) -> FinishSettings:
        return FinishSettings(
            study_name=self.study_name,
            storage_spec=self.storage_spec,
            study_dir=self.study_dir,
            n_trials=self.n_trials,
            seed=self.seed,
            reproduce_seeds=self.reproduce_seeds,
            show_progress=self.show_progress,
        )


def _plain(node: Any) -> Any:
    """A DictConfig (or None) as plain Python data."""
    if node is None:
        return None
    if isinstance(node, DictConfig):
        return OmegaConf.to_container(node, resolve=True)
    return node


def _check_settings(
    direction: str,
    n_trials: int,
    n_jobs: int | None,
    reproduce_seeds: int,
    max_consecutive_failures: int,
    heartbeat_interval: float,
    grace_period: float,
) -> None:
    """Raise a UserError naming the first ``hydra.sweeper.*`` value out of its range."""
    if direction not in ("maximize", "minimize"):
        raise UserError(f"hydra.sweeper.direction={direction!r}: must be maximize or minimize")
    for key, value, low in (
        ("n_trials", n_trials, 1),
        ("reproduce_seeds", reproduce_seeds, 0),
        ("max_consecutive_failures", max_consecutive_failures, 1),
    ):
        if value < low:
            raise UserError(f"hydra.sweeper.{key}={value}: must be >= {low}")
    if n_jobs is not None and n_jobs < 1:
        raise UserError(f"hydra.sweeper.n_jobs={n_jobs}: must be >= 1 (or null)")
    at_most(
        "hydra.sweeper.n_trials",
        n_trials,
        100_000,
        "every session replays the study's whole history, which grows with each trial",
    )
    at_most("hydra.sweeper.reproduce_seeds", reproduce_seeds, 100, "each is a full run")
    if n_jobs is not None:
        at_most("hydra.sweeper.n_jobs", n_jobs, MAX_PROCESSES, "each trial in flight is a process")
    at_most(
        "hydra.sweeper.grace_period",
        grace_period,
        86_400,
        "a dead worker's trial holds its budget this long",
    )
    finite("hydra.sweeper.heartbeat_interval", heartbeat_interval)
    finite("hydra.sweeper.grace_period", grace_period)
    if not 0 < heartbeat_interval < grace_period:
        raise UserError(
            f"hydra.sweeper.heartbeat_interval={heartbeat_interval}, grace_period="
            f"{grace_period}: need 0 < heartbeat_interval < grace_period"
        )


def _split_seed(sampler: DictConfig, config: DictConfig) -> tuple[int, dict[str, Any]]:
    """The sampler config's seed, and the rest of it as plain data."""
    sampler_cfg = OmegaConf.to_container(sampler, resolve=True)
    assert isinstance(sampler_cfg, dict)
    seed = sampler_cfg.pop("seed", None)
    if seed is not None:
        # by default `${seed}`, the run's own key: name the key the user set
        own = seed == OmegaConf.select(config, "seed", default=None)
        check_seed("seed" if own else "hydra.sweeper.sampler.seed", seed)
    # no seed: draw one, recorded with the study like any other
    drawn = int(seed) if seed is not None else int(np.random.SeedSequence().generate_state(1)[0])
    return drawn, {str(k): v for k, v in sampler_cfg.items()}
