"""Before each ask of a sweep: which RUNNING trials still have a live worker.

Optuna's own heartbeat exists for RDB storages only; the journal file (our default) has none.
So every storage gets the same scheme, in trial system attrs: the sweeper writes the owner
(host, pid) when it asks a trial and a heartbeat timestamp every ``interval`` seconds while its
job runs. A RUNNING trial is stale when its owner is a dead process on this host, or when it
has been silent for longer than the grace period (an owner on another machine). Stale trials
are failed, so the budget they held is run again.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

OWNER_ATTR = "quantsweep:owner"
HEARTBEAT_ATTR = "quantsweep:heartbeat"


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int

    @classmethod
    def me(cls) -> Owner:
        return cls(socket.gethostname(), os.getpid())

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "pid": self.pid}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    return True


def last_sign_of_life(trial: FrozenTrial) -> float:
    """Unix time of the trial's last heartbeat, or of its start when it has none yet."""
    beat = trial.system_attrs.get(HEARTBEAT_ATTR)
    if isinstance(beat, int | float):
        return float(beat)
    start = trial.datetime_start
    return start.timestamp() if start is not None else 0.0


def is_stale(
    owner: dict[str, Any] | None,
    last_seen: float,
    now: float,
    grace: float,
    me: Owner,
    alive: bool | None,
) -> bool:
    """Whether a RUNNING trial has lost its worker.

    ``alive`` is whether the owner's pid runs (None when the owner is on another host or
    unknown). The owning process itself never calls its own trial stale.
    """
    if owner is not None and owner.get("host") == me.host:
        if owner.get("pid") == me.pid:
            return False
        if alive is False:
            return True
    return now - last_seen > grace


def fail_stale_trials(study: optuna.Study, grace: float, me: Owner | None = None) -> list[int]:
    """Fail every stale RUNNING trial of the study; returns their numbers."""
    me = me or Owner.me()
    now = time.time()
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.system_attrs.get(OWNER_ATTR)
        alive = None
        if isinstance(owner, dict) and owner.get("host") == me.host:
            alive = pid_alive(int(owner.get("pid", -1)))
        if is_stale(owner, last_sign_of_life(trial), now, grace, me, alive):
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
            failed.append(trial.number)
    return failed


@contextmanager
def heartbeat(storage: BaseStorage, trial_id: int, interval: float) -> Iterator[None]:
    """Write the trial's heartbeat every ``interval`` seconds until the block ends."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            try:
                storage.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())
            except Exception:  # a trial finished meanwhile, or the storage hiccuped: next beat
                continue

    thread = threading.Thread(target=beat, name=f"heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
