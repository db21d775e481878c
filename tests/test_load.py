"""A full 150-trial XGBoost study with ``hardware=cpu_pool`` runs to the end in flat memory.

The study runs on two years of the embedded market (2022-2023) with the family's default
boosting budget (300 rounds, early stopping after 50) and the default median pruner; only the
data range is shrunk. While it runs, a thread samples the resident memory (VmRSS, from /proc)
of the sweeper process and of every process below it (the joblib workers running the trials).
The peak over the first trials is compared with the peak over the last ones: a leak per trial
(studies held in memory, figures never closed, datasets cached per trial) would make the last
ones grow. Figures are printed (run with -s to see them).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from hydra_plugins.quantsweep_sweeper.link import open_storage

BUDGET = 150
STUDY = "xgboost-1h-direction"
ARGS = (
    "data.start=2022-01-01",
    "data.end=2023-12-31",
    "progress=false",
    "hardware=cpu_pool",
    f"hydra.sweeper.n_trials={BUDGET}",
    "hydra.sweeper.reproduce_seeds=0",
    "-m",
)
WINDOW = 10  # trials in the "first" and in the "last" window
MB = 1024 * 1024


def _ppids() -> dict[int, int]:
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # exited meanwhile
        # the command name is in parentheses and may hold spaces: the fields follow the last ')'
        out[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    return out


def _rss(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class RssSampler(threading.Thread):
    """(time, pid, rss bytes, is the root) of a process and its descendants, every interval."""

    def __init__(self, root: int, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.samples: list[tuple[float, int, int, bool]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.interval):
            parents = _ppids()
            tree, frontier = {self.root}, [self.root]
            while frontier:
                pid = frontier.pop()
                children = [c for c, p in parents.items() if p == pid]
                tree.update(children)
                frontier += children
            now = time.time()
            for pid in tree:
                rss = _rss(pid)
                if rss is not None:
                    self.samples.append((now, pid, rss, pid == self.root))

    def peak(self, start: float, end: float, root: bool) -> int:
        values = [r for t, _, r, is_root in self.samples if start <= t <= end and is_root == root]
        return max(values, default=0)


def _window(trials: list[FrozenTrial]) -> tuple[float, float]:
    starts = [t.datetime_start.timestamp() for t in trials if t.datetime_start]
    ends = [t.datetime_complete.timestamp() for t in trials if t.datetime_complete]
    return min(starts), max(ends)


@pytest.mark.slow
def test_a_150_trial_cpu_pool_study_finishes_with_flat_memory(tmp_path: Path) -> None:
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainer", *ARGS],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    sampler = RssSampler(proc.pid)
    sampler.start()
    try:
        _, err = proc.communicate(timeout=1800)
    finally:
        sampler.halt.set()
        sampler.join()
    wall = time.perf_counter() - started
    assert proc.returncode == 0, err[-3000:]

    journal = tmp_path / "artifacts" / "studies" / STUDY / "journal.log"
    study = optuna.load_study(study_name=STUDY, storage=open_storage(str(journal)))
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    states = [t.state for t in trials]
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) == BUDGET
    # the pool ran trials side by side: some trial started before its predecessor ended
    overlaps = sum(
        1
        for a, b in itertools.pairwise(trials)
        if a.datetime_complete and b.datetime_start and b.datetime_start < a.datetime_complete
    )
    assert overlaps > BUDGET // 4

    first, last = _window(trials[:WINDOW]), _window(trials[-WINDOW:])
    figures = {
        "wall_s": round(wall, 1),
        "complete": states.count(TrialState.COMPLETE),
        "pruned": states.count(TrialState.PRUNED),
        "failed": states.count(TrialState.FAIL),
        "overlapping_trials": overlaps,
        "worker_rss_first_mb": round(sampler.peak(*first, root=False) / MB, 1),
        "worker_rss_last_mb": round(sampler.peak(*last, root=False) / MB, 1),
        "sweeper_rss_first_mb": round(sampler.peak(*first, root=True) / MB, 1),
        "sweeper_rss_last_mb": round(sampler.peak(*last, root=True) / MB, 1),
        "samples": len(sampler.samples),
    }
    print("load figures:", figures)
    for who in ("worker", "sweeper"):
        first_mb, last_mb = figures[f"{who}_rss_first_mb"], figures[f"{who}_rss_last_mb"]
        assert first_mb > 0 and last_mb > 0, figures  # the sampler saw the processes
        assert last_mb <= max(first_mb * 1.5, first_mb + 200), figures
