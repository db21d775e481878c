"""python benchmarks/contention.py [--trials 40] [--repeats 2] [--model xgboost]
                                 [--spins 10000,...] [--situations alone,pair,busy_core]
                                 [-- trainer overrides, e.g. data.start=2022-01-01]

How a study runs when it does not have the machine to itself, with the OpenMP spin count the
entrypoints set (``GOMP_SPINCOUNT=1000``, trainer/cli.py) against GNU OpenMP's own default
(300,000 spins before an idle thread sleeps). Three situations, each a default Optuna study of
``--trials`` trials on the embedded market (``python -m trainer model=<model> -m``):

- alone: the study on an idle machine (what the spin count may cost);
- pair: two such studies side by side, as when two sweeps share a machine or several workers
  of one study run on one host (each process uses all cores);
- busy core: the study beside one process that keeps a core busy.

Prints JSON: the wall times of each command per situation and spin count, the ratio of the
medians libgomp default / quantsweep default (above 1: the default is faster) and of every
other spin count in ``--spins`` against the default, and whether every run's trial values were
the same (the spin count changes waiting, never results).
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
from typing import Any

SPINS = {"libgomp_default": "300000", "quantsweep_default": None}
SITUATIONS = ("alone", "pair", "busy_core")


def command(model: str, trials: int, overrides: list[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "trainer",
        f"model={model}",
        "progress=false",
        f"hydra.sweeper.n_trials={trials}",
        "hydra.sweeper.reproduce_seeds=0",
        *overrides,
        "-m",
    ]


def environment(spin: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    if spin is not None:
        env["GOMP_SPINCOUNT"] = spin
    return env


def run_together(cwds: list[Path], cmd: list[str], env: dict[str, str]) -> list[float]:
    """Start one command per directory at once; each one's wall seconds."""
    starts, procs = [], []
    for cwd in cwds:
        cwd.mkdir(parents=True)
        starts.append(time.perf_counter())
        procs.append(
            subprocess.Popen(
                cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
        )
    walls = []
    for start, proc in zip(starts, procs, strict=True):
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{err[-3000:]}")
        walls.append(time.perf_counter() - start)
    return walls


def trial_values(cwd: Path) -> list[float | None]:
    import optuna

    from hydra_plugins.quantsweep_sweeper.link import open_storage

    (study_dir,) = (cwd / "artifacts" / "studies").iterdir()
    journal = str((study_dir / "journal.log").resolve())
    study = optuna.load_study(study_name=study_dir.name, storage=open_storage(journal))
    return [t.value for t in study.trials]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--model", default="xgboost", choices=("xgboost", "lightgbm"))
    ap.add_argument("--spins", default="", help="other GOMP_SPINCOUNT values to compare")
    ap.add_argument("--situations", default=",".join(SITUATIONS))
    ap.add_argument("overrides", nargs="*", help="trainer overrides after --")
    args = ap.parse_args()
    spins: dict[str, str | None] = dict(SPINS)
    spins.update({f"spin_{n}": n for n in args.spins.split(",") if n})
    situations = args.situations.split(",")
    if unknown := set(situations) - set(SITUATIONS):
        ap.error(f"--situations: unknown {sorted(unknown)}; choose from {SITUATIONS}")
    cmd = command(args.model, args.trials, args.overrides)
    walls: dict[str, dict[str, list[float]]] = {s: {name: [] for name in spins} for s in situations}
    values: list[list[float | None]] = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for rep in range(args.repeats):  # interleaved, so drifting load hits all alike
            for name, spin in spins.items():
                env = environment(spin)
                cwd = root / f"{name}-{rep}"
                if "alone" in situations:
                    walls["alone"][name] += run_together([cwd / "alone"], cmd, env)
                    values.append(trial_values(cwd / "alone"))
                if "pair" in situations:
                    walls["pair"][name] += run_together([cwd / "pair0", cwd / "pair1"], cmd, env)
                    values.append(trial_values(cwd / "pair1"))
                if "busy_core" in situations:
                    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
                    try:
                        walls["busy_core"][name] += run_together([cwd / "busy"], cmd, env)
                    finally:
                        busy.kill()
                        busy.wait()
                    values.append(trial_values(cwd / "busy"))
    result: dict[str, Any] = {
        "benchmark": "contention",
        "model": args.model,
        "trials": args.trials,
        "overrides": args.overrides,
        "repeats": args.repeats,
        "cpus": len(os.sched_getaffinity(0)),
        "load_average_before": load_before,
    }
    for situation, by_spin in walls.items():
        med = {name: statistics.median(w) for name, w in by_spin.items()}
        result[situation] = {
            **{f"{name}_s": [round(w, 2) for w in by_spin[name]] for name in spins},
            **{
                f"{name}_over_quantsweep_default": round(m / med["quantsweep_default"], 3)
                for name, m in med.items()
                if name != "quantsweep_default"
            },
        }
    result["same_trial_values_every_run"] = all(v == values[0] for v in values)
    result["load_average_after"] = os.getloadavg()[0]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
