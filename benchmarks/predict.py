"""python benchmarks/predict.py [--repeats 7] [--data-root ../shared/data] [--run PATH]
                                [--lstm-run PATH] [--workdir DIR]

What a live system pays every hour: ``python -m trainer.predict run=<promoted xgboost>
predict.last_hours=1`` on the full real Binance table (``data=binance_btc``), as a whole
process, against a bare reference in a fresh process: ``import xgboost``, load the same
model file and score one row. Both are run alternately in this run (so load on a shared
machine hits both alike); wall time and CPU time (user + sys of the child) are reported, with
their medians and ratios. Prints JSON.

Without ``--run``, the promoted model is built first (in ``--workdir``, default a temporary
folder): a run of the default xgboost on the real table, then ``evaluation.evaluate`` with
one quarterly fold and the recipe refit and promoted. Its guardrails are switched off for this
fixture only: what is timed is scoring, not the model's quality. ``--lstm-run`` times the same
command on a saved LSTM run (goal: under 3 s).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# benchmarks/evaluation.py would shadow the package of the same name
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]

# The bare reference: the library, the model file, one row of the model's width.
BARE = r"""
import sys
import numpy as np
import xgboost as xgb
booster = xgb.Booster(model_file=sys.argv[1])
row = np.zeros((1, booster.num_features()), dtype=np.float32)
print(float(booster.predict(xgb.DMatrix(row))[0]))
"""


def timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """(wall, cpu) seconds of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env={**os.environ})
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def build_promoted(workdir: Path, data: list[str]) -> Path:
    """A promoted xgboost on the real table (see the module doc)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from evaluation.cli import finish
    from evaluation.config import (
        BacktestConfig,
        EvaluationConfig,
        GuardrailsConfig,
        StressConfig,
        WalkForwardConfig,
    )
    from evaluation.evaluate import evaluate
    from trainer.config import register
    from trainer.train import train

    register()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[*data, "progress=false"])
    run_dir = workdir / "run"
    train(cfg, run_dir)
    (run_dir / ".hydra").mkdir(exist_ok=True)
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    conf = EvaluationConfig(
        run=str(run_dir),
        walk_forward=WalkForwardConfig(start="2025-07-01", end="2025-09-30"),
        stress=StressConfig(enabled=False),
        backtest=BacktestConfig(strategies=["1h"]),
        guardrails=GuardrailsConfig(
            min_trades=0, min_hit_rate=0.0, max_drawdown_1h=-1.0, max_drawdown_4h=-1.0
        ),
        artifacts_dir=str(workdir / "artifacts"),
        progress=False,
    )
    ev = evaluate(conf)
    finish(replace(ev), conf)
    promoted = workdir / "artifacts" / "promoted" / "1h_direction"
    if not (promoted / "manifest.json").is_file():
        raise SystemExit("the fixture's evaluation did not promote; see its report")
    return promoted


def measure(
    run: Path, data: list[str], repeats: int, cwd: Path, bare_model: Path | None
) -> dict[str, object]:
    cmd = [
        sys.executable,
        "-m",
        "trainer.predict",
        f"run={run}",
        "predict.last_hours=1",
        f"predict.out={cwd / 'predictions'}",
        *data,
    ]
    ours: list[tuple[float, float]] = []
    bare: list[tuple[float, float]] = []
    timed(cmd, cwd)  # warm the page cache for both
    for _ in range(repeats):  # interleaved: drift and neighbours hit both alike
        ours.append(timed(cmd, cwd))
        if bare_model is not None:
            bare.append(timed([sys.executable, "-c", BARE, str(bare_model)], cwd))
    out: dict[str, object] = {
        "run": str(run),
        "predict_wall_s": round(statistics.median(w for w, _ in ours), 3),
        "predict_cpu_s": round(statistics.median(c for _, c in ours), 3),
    }
    if bare:
        wall, cpu = statistics.median(w for w, _ in bare), statistics.median(c for _, c in bare)
        out |= {
            "bare_wall_s": round(wall, 3),
            "bare_cpu_s": round(cpu, 3),
            "ratio_wall": round(float(out["predict_wall_s"]) / wall, 3),  # type: ignore[arg-type]
            "ratio_cpu": round(float(out["predict_cpu_s"]) / cpu, 3),  # type: ignore[arg-type]
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--run", help="a promoted xgboost (built when absent)")
    ap.add_argument("--lstm-run", help="a saved LSTM run to time the same way")
    ap.add_argument("--workdir", help="where the fixture is built (default: a temporary folder)")
    args = ap.parse_args()
    data = ["data=binance_btc", f"data.root={Path(args.data_root).resolve()}"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        promoted = Path(args.run) if args.run else build_promoted(work, data)
        result = {
            "benchmark": "predict",
            "command": "python -m trainer.predict run=<promoted xgboost> predict.last_hours=1",
            "data": data,
            "repeats": args.repeats,
            "cpus": os.cpu_count(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
            "xgboost": measure(
                promoted, data, args.repeats, work, promoted.resolve() / "model" / "model.ubj"
            ),
            "goal": {"predict_wall_s_max": 1.5, "ratio_max": 1.5, "lstm_wall_s_max": 3.0},
        }
        if args.lstm_run:
            result["lstm"] = measure(Path(args.lstm_run), data, args.repeats, work, None)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
