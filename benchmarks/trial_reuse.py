"""python benchmarks/trial_reuse.py [--trials 6] [--rounds 10,300]

What the trials of a sweep gain from sharing one process: the time of ``train()`` per trial
with the trial cache the sweeper's warm-up hands its jobs (prepared folds, XGBoost DMatrix and
its histogram index, LightGBM Dataset: ``trainer.trial_cache``) against the same trials with a
cache that shares the table only (each trial prepares its fold and builds its library data
again), measured in this run, in one process, the two modes interleaved trial by trial. Both
modes must give identical objectives (checked).

For XGBoost and LightGBM on the embedded market, holdout split, at a few boosting-round counts
(10 is a trial pruned at its first report; 300 with early stopping a complete one), and for a
walk-forward split (twelve quarterly folds per trial). Prints JSON: per case the median
seconds per trial in each mode and their ratio (memo / fresh; < 1 is a saving).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Params a trial might sample; cycled so consecutive trials differ.
PARAMS = {
    "xgboost": [
        {"max_depth": 3, "learning_rate": 0.1},
        {"max_depth": 6, "learning_rate": 0.05},
        {"max_depth": 9, "learning_rate": 0.02},
    ],
    "lightgbm": [
        {"num_leaves": 15, "min_child_samples": 40},
        {"num_leaves": 63, "min_child_samples": 5},
        {"num_leaves": 31, "min_child_samples": 20},
    ],
}


def compose_cfg(overrides: list[str]) -> Any:
    from hydra import compose, initialize_config_dir

    from trainer.config import register

    register()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("train", overrides=["progress=false", *overrides])


def one_trial(cfg: Any, params: dict[str, Any], cache: Any) -> tuple[float, float]:
    from omegaconf import open_dict

    from trainer.train import train

    with open_dict(cfg):
        for key, value in params.items():
            cfg.model[key] = value
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        objective = train(cfg, Path(d), cache=cache)
        return time.perf_counter() - t0, objective


def case(overrides: list[str], family: str, trials: int) -> dict[str, Any]:
    from trainer.trial_cache import TrialCache
    from trainer.tuning import warm_up

    cfg = compose_cfg([f"model={family}", *overrides])
    # what the sweeper's warm-up hands each job, and a cache that keeps the table only
    modes = {"memo": warm_up(cfg)["trial_cache"], "fresh": TrialCache(share_folds=False)}
    times: dict[str, list[float]] = {"memo": [], "fresh": []}
    for cache in modes.values():
        one_trial(cfg, PARAMS[family][0], cache)  # the table, imports and the cache's first build
    for i in range(trials):
        params = PARAMS[family][i % len(PARAMS[family])]
        objectives = {}
        for mode, cache in modes.items():
            seconds, objectives[mode] = one_trial(cfg, params, cache)
            times[mode].append(seconds)
        if objectives["memo"] != objectives["fresh"]:
            raise SystemExit(f"{family} {overrides}: objectives differ: {objectives}")
    memo, fresh = statistics.median(times["memo"]), statistics.median(times["fresh"])
    return {
        "memo_s_per_trial": round(memo, 4),
        "fresh_s_per_trial": round(fresh, 4),
        "memo_vs_fresh": round(memo / fresh, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=6)
    ap.add_argument("--rounds", default="10,300")
    args = ap.parse_args()
    out: dict[str, Any] = {"threads": os.cpu_count(), "load_before": os.getloadavg()[0]}
    for family in ("xgboost", "lightgbm"):
        for rounds in (int(r) for r in args.rounds.split(",")):
            out[f"{family}_holdout_{rounds}_rounds"] = case(
                [f"model.n_estimators={rounds}"], family, args.trials
            )
        out[f"{family}_walk_forward_100_rounds"] = case(
            ["split=walk_forward", "model.n_estimators=100"], family, max(2, args.trials // 2)
        )
    out["load_after"] = os.getloadavg()[0]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
