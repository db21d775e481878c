"""python benchmarks/internals.py [--trials 150] [-- trainer overrides...]

What each of the sweeper's re-implementations of a Hydra or Optuna internal saves on the
default study (``python -m trainer -m``: XGBoost, 150 trials, median pruning, the embedded
market). The study runs once, in this process; at every call of a re-implemented piece the
library's own version is timed right after ours on the same input, so both meet the same load:

- ``run_job``: ``InProcessJobs._execute`` (Hydra's ``run_job`` for a config composed once,
  without its deep copies and pure-Python YAML) against ``hydra.core.utils.run_job`` on the
  same config, each once more around a task that returns at once (the job's own run is not
  counted), writing the same ``.hydra/*.yaml`` files;
- ``journal``: ``TrialSyncedJournal.append_logs`` (fsync on the records that start or end a
  trial) against Optuna's ``JournalFileBackend.append_logs`` (fsync on every record) writing
  the same records to a copy of the journal.

Prints JSON: the study's wall seconds, and per piece the seconds ours and the library's took in
all, the saving and the saving as a share of the study's wall time (the bar: drop a
re-implementation that saves under 3%; ``_overrides.py``, a regex parser of a trial's
overrides, saved 0.2% and went, see docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def instrument(shadow: Path) -> dict[str, list[float]]:
    """Wrap both pieces; returns the running sums [ours_s, library_s, calls]."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.utils import run_job
    from optuna.storages.journal import JournalFileBackend

    import hydra_plugins.quantsweep_sweeper._jobs as jobs
    import hydra_plugins.quantsweep_sweeper._journal as journal

    sums = {name: [0.0, 0.0, 0.0] for name in ("run_job", "journal")}

    real_execute = jobs.InProcessJobs._execute

    def execute(self: Any, t: Any, output_dir: Path) -> Any:
        ret = real_execute(self, t, output_dir)
        task, self.task_function = self.task_function, lambda cfg, **kw: 0.0
        previous = HydraConfig.instance().cfg
        try:
            t0 = time.perf_counter()
            real_execute(self, t, output_dir)
            t1 = time.perf_counter()
            run_job(
                hydra_context=self.hydra_context,
                task_function=self.task_function,
                config=t.full,
                job_dir_key="hydra.sweep.dir",
                job_subdir_key="hydra.sweep.subdir",
            )
            t2 = time.perf_counter()
        finally:
            self.task_function = task
            HydraConfig.instance().cfg = previous
        _add(sums["run_job"], t1 - t0, t2 - t1)
        return ret

    jobs.InProcessJobs._execute = execute

    real_append = journal.TrialSyncedJournal.append_logs
    plain = JournalFileBackend(str(shadow))

    def append(self: Any, logs: list[dict[str, Any]]) -> None:
        ours_first = sums["journal"][2] % 2 == 0  # alternate, so neither always goes second
        t0 = time.perf_counter()
        (real_append if ours_first else plain_append)(self, logs)
        t1 = time.perf_counter()
        (plain_append if ours_first else real_append)(self, logs)
        t2 = time.perf_counter()
        if ours_first:
            _add(sums["journal"], t1 - t0, t2 - t1)
        else:
            _add(sums["journal"], t2 - t1, t1 - t0)

    def plain_append(_: Any, logs: list[dict[str, Any]]) -> None:
        plain.append_logs(logs)

    journal.TrialSyncedJournal.append_logs = append  # type: ignore[method-assign]
    return sums


def _add(into: list[float], ours: float, library: float) -> None:
    into[0] += ours
    into[1] += library
    into[2] += 1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=150)
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    out: dict[str, Any] = {"threads": os.cpu_count(), "load_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as d:
        sums = instrument(Path(d) / "shadow-journal.log")
        sys.argv = [
            "trainer",
            "-m",
            "progress=false",
            f"hydra.sweeper.n_trials={args.trials}",
            f"hydra.sweep.dir={d}/sweep",
            f"artifacts_dir={d}/artifacts",
            *args.overrides,
        ]
        t0 = time.perf_counter()
        try:
            runpy.run_module("trainer", run_name="__main__", alter_sys=True)
        except SystemExit as exc:
            if exc.code:
                raise
        wall = time.perf_counter() - t0
    # the library's versions ran on top of the study: its wall without them
    study_s = wall - sum(s[1] for s in sums.values())
    out["study_wall_s"] = round(study_s, 2)
    for name, (ours, library, calls) in sums.items():
        out[name] = {
            "calls": int(calls),
            "ours_s": round(ours, 3),
            "library_s": round(library, 3),
            "saving_s": round(library - ours, 3),
            "saving_share_of_study": round((library - ours) / study_s, 4),
        }
    out["load_after"] = os.getloadavg()[0]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
