"""python benchmarks/train_overhead.py [--repeats 3] [hydra overrides ...]

What the framework adds to a training run: wall time of `python -m trainer` against a bare
script doing the same data preparation and the same `xgboost.train` (same parameters, early
stopping, threads), each in a fresh process, measured in this run. Prints JSON.
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

# The bare path: the same table, split and scaler, then xgboost.train with the run's
# parameters; no Hydra, no callbacks, no artifacts.
BARE = r"""
import os
import sys
from hydra import compose, initialize_config_dir
import xgboost as xgb
from trainer.config import register, validate
from trainer.dataset import build_table, prepare
from trainer.splits import holdout

register()
with initialize_config_dir(config_dir=sys.argv[1], version_base="1.3"):
    conf = validate(compose("train", overrides=sys.argv[2:]))
table = build_table(conf.data, conf.features)
fold = holdout(table.timestamps, (0.7, 0.15, 0.15), conf.target.hours)
p = prepare(table, fold, conf.target.hours, conf.target.task, 1e-12)
m = conf.model
params = {"objective": "binary:logistic", "eval_metric": "logloss", "tree_method": "hist",
          "max_depth": m.max_depth, "eta": m.learning_rate, "subsample": m.subsample,
          "colsample_bytree": m.colsample_bytree, "min_child_weight": m.min_child_weight,
          "lambda": m.reg_lambda, "nthread": os.cpu_count(), "seed": conf.seed, "verbosity": 0}
dtrain = xgb.DMatrix(p.train.X, label=p.train.y, nthread=params["nthread"])
dvalid = xgb.DMatrix(p.valid.X, label=p.valid.y, nthread=params["nthread"])
booster = xgb.train(params, dtrain, num_boost_round=conf.model.n_estimators,
                    evals=[(dvalid, "valid")], verbose_eval=False,
                    callbacks=[xgb.callback.EarlyStopping(conf.model.early_stopping_rounds,
                                                          save_best=True)])
booster.predict(dvalid); booster.predict(xgb.DMatrix(p.test.X))
"""


def timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, env={**os.environ})
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args, overrides = ap.parse_known_args()
    overrides = ["model=xgboost", *overrides]
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        framework, bare = [], []
        for _ in range(args.repeats):  # interleaved, so drift hits both alike
            framework.append(
                timed([sys.executable, "-m", "trainer", "progress=false", *overrides], cwd)
            )
            bare.append(timed([sys.executable, "-c", BARE, str(ROOT / "conf"), *overrides], cwd))
    f, b = statistics.median(framework), statistics.median(bare)
    print(
        json.dumps(
            {
                "benchmark": "train_overhead",
                "overrides": overrides,
                "repeats": args.repeats,
                "framework_s": round(f, 3),
                "bare_s": round(b, 3),
                "ratio": round(f / b, 3),
                "goal_ratio_max": 1.10,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
