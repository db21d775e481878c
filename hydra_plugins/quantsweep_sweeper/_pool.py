"""``hardware=cpu_pool``: trials in worker processes that compose their config once.

Hydra's joblib launcher sends every job the whole Hydra context (config repository, schemas,
plugins) and composes the job's config from scratch in the worker, a large share of a short
trial, and the first job of each worker also pays its imports and its copy of the data table
while the trial's clock runs. Here the workers of joblib's loky process pool
(``hydra.launcher.n_jobs`` of them) receive the Hydra context once, when they start, and run
each job as
``InProcessJobs`` does in the sweeper's process: the sweeper sends a job's overrides only, the
worker sets them on the config it composed once. Workers start, compose and warm up
(``hydra.sweeper.warmup``: imports and the data table) while the sweeper opens the study.
A job whose overrides change which config files are composed goes through the launcher.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from hydra.utils import get_method
from omegaconf import DictConfig

from hydra_plugins.quantsweep_sweeper._jobs import InProcessJobs

# Idle workers stay up this long (loky's default of 10 s would restart them, cold, after a
# pause such as the end-of-study reproduction runs).
IDLE_TIMEOUT_S = 600
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

_worker: InProcessJobs | None = None  # this worker process's jobs, set up once
_warmed: set[tuple[str, ...]] = set()  # the fixed override sets this worker has warmed up


def _init_worker(
    hydra_context: HydraContext,
    task_function: TaskFunction,
    master: DictConfig,
    singleton_state: dict[Any, Any],
) -> None:
    global _worker
    setup_globals()
    Singleton.set_state(singleton_state)
    _worker = InProcessJobs(hydra_context, task_function, master, fallback=None)


def _warm_up(fixed: Sequence[str], warmup: str | None) -> None:
    """Once per worker and fixed override set: loky does not promise each worker one of the
    warm-ups submitted at the start, and a worker it restarts gets none."""
    assert _worker is not None
    if tuple(fixed) in _warmed:
        return
    cfg = _worker.template(fixed).task
    if warmup:
        _worker.share(dict(get_method(warmup)(cfg) or {}))
    _warmed.add(tuple(fixed))


def _run_job(
    fixed: Sequence[str], varying: Sequence[str], job_num: int, warmup: str | None
) -> JobReturn:
    assert _worker is not None
    with contextlib.suppress(Exception):  # the job meets the same error, as its own
        _warm_up(fixed, warmup)
    ret = _worker.run(fixed, varying, job_num)
    ret.cfg = ret.hydra_cfg = None  # the sweeper reads the outcome; the configs stay here
    return ret


class PoolJobs:
    """Jobs in a pool of ``n_workers`` processes, one job per worker at a time."""

    def __init__(
        self,
        hydra_context: HydraContext,
        task_function: TaskFunction,
        master: DictConfig,
        launcher: Launcher,
        n_workers: int,
        threads: int,
    ) -> None:
        from joblib.externals.loky import ProcessPoolExecutor

        # The sweeper's own copy decides which jobs the workers can take, and runs the rest.
        self.local = InProcessJobs(hydra_context, task_function, master, fallback=launcher)
        # Our own pool, not loky's shared one: joblib (the launcher, for the other jobs) would
        # resize or restart a shared pool under the running trials.
        self.executor = ProcessPoolExecutor(
            max_workers=n_workers,
            timeout=IDLE_TIMEOUT_S,
            initializer=_init_worker,
            initargs=(hydra_context, task_function, master, Singleton.get_state()),
            env={name: str(threads) for name in THREAD_ENV},  # as joblib limits its workers
        )
        self.n_workers = n_workers
        self.warmup: str | None = None
        self.used = False  # a job went to the workers (else they only warmed up)

    def warm_up(self, fixed: Sequence[str], warmup: str | None) -> None:
        """Start every worker composing and warming up; the first jobs queue behind.

        Not waited for: a warm-up that fails (a config error) leaves the worker as it was, and
        the sweeper reports the error when it validates the config itself.
        """
        self.warmup = warmup  # every job makes sure its worker ran it
        for _ in range(self.n_workers):
            self.executor.submit(_warm_up, list(fixed), warmup)

    def close(self, kill: bool = False) -> None:
        """Stop the workers: after their jobs, or at once (``kill``) when the sweep failed.

        Workers that never got a job (a finished study) are stopped at once too: their
        warm-up is all they would finish, and it would hold the exit until it was done.
        """
        self.executor.shutdown(wait=True, kill_workers=kill or not self.used)

    def run(self, fixed: Sequence[str], varying: Sequence[str], job_num: int) -> JobReturn:
        if self.local.value_overrides(fixed, varying) is None:
            return self.local.run(fixed, varying, job_num)  # through the launcher
        self.used = True
        future = self.executor.submit(_run_job, list(fixed), list(varying), job_num, self.warmup)
        ret: JobReturn = future.result()
        return ret
