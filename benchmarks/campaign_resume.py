"""python benchmarks/campaign_resume.py [--repeats 3] [--keep DIR]

Resuming a finished campaign must do no training: its wall time on the embedded market should
stay under 5 s. This runs a tiny campaign (``python -m evaluation.campaign``: an XGBoost and an
LSTM study of two trials, their evaluations on two walk-forward quarters, a blending ensemble of
the two and its evaluation) in a temporary directory, then times re-running the same command
``--repeats`` times, each against the bare start of the same entrypoint measured in the same run
(``python -m evaluation.campaign --cfg job``: Python, Hydra and the composed config, no plan
resolved, nothing read), interleaved.

Prints JSON: seconds of the first run; of each re-run and each bare start, wall and CPU (user +
system of the child: on a shared machine wall time also counts other processes' slices); the
ratios re-run / bare start and re-run / first run; whether every re-run stayed under 5 s; and
whether a re-run started any step (it must not).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GOAL_S = 5.0
TINY = [
    "campaign.name=bench",
    "campaign.budget=2",
    "campaign.only=[xgboost_1h,lstm_1h,blending_1h]",
    'campaign.entries.xgboost_1h.overrides=["model.n_estimators=40"]',
    'campaign.entries.lstm_1h.overrides=["model.train_stride=32","model.max_epochs=1",'
    '"model.max_batches_per_epoch=10","model.hidden_dim=64","model.num_layers=1"]',
    'campaign.evaluation=["walk_forward.embargo_hours=4","promote=false",'
    '"walk_forward.start=2025-07-01","stress.enabled=false"]',
    "data.start=2023-06-01",
    "hardware.threads=1",
]
ROOT = Path(__file__).resolve().parents[1]


def timed(args: list[str], cwd: Path) -> dict[str, Any]:
    """Wall and CPU seconds of ``python -m evaluation.campaign args`` and its output."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "evaluation.campaign", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        raise SystemExit(f"campaign failed ({result.returncode}): {result.stderr[-2000:]}")
    return {"wall_s": wall, "cpu_s": cpu, "stdout": result.stdout}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", help="run in this directory and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="campaign-bench-") as tmp:
        cwd = Path(args.keep or tmp)
        cwd.mkdir(parents=True, exist_ok=True)
        first = timed([*TINY, "progress=false"], cwd)
        reruns, bare = [], []
        started = []
        for _ in range(args.repeats):
            bare.append(timed(["--cfg", "job", *TINY], cwd))
            run = timed(TINY, cwd)  # progress on: its lines say what each step did
            reruns.append(run)
            started += [ln for ln in run["stdout"].splitlines() if ": running (" in ln]
    ratio = [r["wall_s"] / b["wall_s"] for r, b in zip(reruns, bare, strict=True)]
    cpu_ratio = [r["cpu_s"] / b["cpu_s"] for r, b in zip(reruns, bare, strict=True)]
    print(
        json.dumps(
            {
                "first_run_s": round(first["wall_s"], 2),
                "rerun_wall_s": [round(r["wall_s"], 2) for r in reruns],
                "rerun_cpu_s": [round(r["cpu_s"], 2) for r in reruns],
                "bare_start_wall_s": [round(b["wall_s"], 2) for b in bare],
                "bare_start_cpu_s": [round(b["cpu_s"], 2) for b in bare],
                "rerun_over_bare_start_wall": [round(x, 2) for x in ratio],
                "rerun_over_bare_start_cpu": [round(x, 2) for x in cpu_ratio],
                "rerun_over_first_run": round(
                    min(r["wall_s"] for r in reruns) / first["wall_s"], 4
                ),
                "rerun_under_goal": all(r["wall_s"] < GOAL_S for r in reruns),
                "goal_s": GOAL_S,
                "steps_started_by_reruns": started,
                "load_average": os.getloadavg(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
