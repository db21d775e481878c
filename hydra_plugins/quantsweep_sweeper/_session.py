"""What one sweep's worker threads share and pass around: tickets, outcomes, the session.

A worker asks a trial (a ``Ticket``: the trial and its job's overrides), runs its job, turns the
job's return into an ``Outcome`` and tells it; the ``Session`` holds the study and the state
the workers share under its lock.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

import optuna
from hydra.core.utils import JobReturn, JobStatus
from optuna.trial import FrozenTrial, TrialState
from rich.progress import Progress

from hydra_plugins.quantsweep_sweeper._internals import caught_exception
from hydra_plugins.quantsweep_sweeper._search_space import SearchSpace
from hydra_plugins.quantsweep_sweeper.link import NullTracker, Tracker


@dataclass(frozen=True)
class Outcome:
    state: TrialState
    value: float | None = None
    error: BaseException | None = None


def outcome_of(ret: JobReturn) -> Outcome:
    """A job's result as a trial state: a value -> COMPLETE, TrialPruned -> PRUNED, else FAIL."""
    if ret.status == JobStatus.COMPLETED:
        value = ret.return_value
        if isinstance(value, int | float) and math.isfinite(value):
            return Outcome(TrialState.COMPLETE, float(value))
        return Outcome(TrialState.FAIL, error=ValueError(f"job returned {value!r}, not a number"))
    error = caught_exception(ret)
    if isinstance(error, optuna.TrialPruned):
        return Outcome(TrialState.PRUNED)
    if not isinstance(error, BaseException):
        error = RuntimeError(f"job ended in state {ret.status.name}")
    return Outcome(TrialState.FAIL, error=error)


def rank_in_budget(trials: list[FrozenTrial], number: int) -> int:
    """How many budget-holding trials were asked up to and including trial ``number``."""
    return sum(1 for t in trials if t.number <= number)


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


@dataclass
class Ticket:
    trial: optuna.Trial
    trial_id: int
    varying: list[str]  # sampled params and the trial link


@dataclass
class Session:
    """State shared by the worker threads of one sweep (guarded by ``lock``)."""

    study: optuna.Study
    space: SearchSpace
    fixed: list[str]
    progress: Progress
    task: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[BaseException] = field(default_factory=list)
    results: list[tuple[int, str, float | None]] = field(default_factory=list)
    consecutive_failures: int = 0
    successes: int = 0
    tracker: Tracker = field(default_factory=NullTracker)  # tracking=mlflow: logs each trial
