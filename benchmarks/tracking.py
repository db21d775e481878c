"""python benchmarks/tracking.py [--trials 150] [--repeats 1] [hydra overrides ...]

What ``tracking=mlflow`` costs a study: wall time of the default XGBoost study
(``python -m trainer -m``, 150 trials, the embedded market) with ``tracking=mlflow`` (a local
SQLite store, the default URI) against the same study with ``tracking=none``, each a fresh
process in its own temporary directory, the pairs interleaved (none, mlflow, none, ...) in
this run. The store is a new one each time, so its schema creation counts. Goal: <= 1.15x.
Also checks that every trial of the tracked study was logged, once. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDY = "xgboost-1h-direction"


def run_study(tracking: str, trials: int, extra: list[str]) -> tuple[float, dict[str, object]]:
    """Wall time of one study in a fresh directory, and its summary's counts and tracking."""
    with tempfile.TemporaryDirectory(prefix=f"bench-tracking-{tracking}-") as tmp:
        args = [
            sys.executable,
            "-m",
            "trainer",
            f"tracking={tracking}",
            f"hydra.sweeper.n_trials={trials}",
            "progress=false",
            *extra,
            "-m",
        ]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        start = time.perf_counter()
        res = subprocess.run(args, cwd=tmp, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - start
        if res.returncode != 0:
            raise SystemExit(f"study with tracking={tracking} failed:\n{res.stderr[-3000:]}")
        summary = json.loads((Path(tmp) / "artifacts/studies" / STUDY / "summary.json").read_text())
        info: dict[str, object] = {"counts": summary["counts"]}
        if tracking == "mlflow":
            info["logged"] = logged_trials(Path(tmp))
            info["not_logged"] = summary["tracking"]["not_logged"]
        return wall, info


def logged_trials(root: Path) -> list[int]:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{(root / 'artifacts/mlflow/mlflow.db').resolve()}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(STUDY)
    assert exp is not None
    runs = client.search_runs([exp.experiment_id], max_results=5000)
    return sorted(
        int(r.data.tags["quantsweep.trial"]) for r in runs if "quantsweep.trial" in r.data.tags
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("overrides", nargs="*", help="hydra overrides for both studies")
    a = ap.parse_args()
    walls: dict[str, list[float]] = {"none": [], "mlflow": []}
    checks = []
    for _ in range(a.repeats):
        for tracking in ("none", "mlflow"):
            wall, info = run_study(tracking, a.trials, a.overrides)
            walls[tracking].append(wall)
            if tracking == "mlflow":
                counts = info["counts"]
                assert isinstance(counts, dict)
                logged = info["logged"]
                assert isinstance(logged, list)
                n = sum(counts[k] for k in ("complete", "pruned", "failed"))
                checks.append({"trials": n, "logged": len(logged), "distinct": len(set(logged))})
    none, tracked = statistics.median(walls["none"]), statistics.median(walls["mlflow"])
    print(
        json.dumps(
            {
                "trials": a.trials,
                "overrides": a.overrides,
                "wall_s": walls,
                "ratio_mlflow_over_none": tracked / none,
                "goal": "<= 1.15",
                "every_trial_logged_once": all(
                    c["trials"] == c["logged"] == c["distinct"] for c in checks
                ),
                "checks": checks,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
