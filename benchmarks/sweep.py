"""python benchmarks/sweep.py [--trials 40] [--seeds 0,1,2] [--overhead-trials 20]
                           [--parallel-trials 8]
                           [--only overhead|pruning|parallel|bare|scoring|study]
                           [--study-trials 150] [--reference REV]

The Optuna sweeper on the XGBoost family and the embedded market, three figures, each measured
against its reference in this run (fresh processes, a temporary directory). Prints JSON.

1. Per-trial overhead of the sweeper and Hydra: wall time between the end of one job's
   ``train()`` and the start of the next (ask, sample, tell, best/, composing the job's
   config, Hydra's run_job bookkeeping), plus the time jobs spend talking to their trial
   (opening it, reporting every 10 rounds, recording the run). Reference: the same jobs
   through Hydra's basic sweeper (``search=grid`` over as many values). Goal: <= 0.10 s and
   <= 5% of a median pruned trial.
2. Compute of a median-pruned study / an unpruned study (boosting rounds summed: the last
   reported round of each trial), same sampler seed and budget, with both best objectives and
   the seed spread of the unpruned best (its params re-run with 3 other seeds); also the
   median pruner with a warm-up of 50 rounds, the pair with the random sampler (same point
   per trial number in both studies: what pruning alone saves), and the rounds each study
   spent until a trial first reached the unpruned best. Each pair runs for every sampler seed
   of ``--seeds`` (default 0,1,2; a study's compute varies ~2x between seeds), and each pair's
   rounds are also summed over the seeds. Goal: <= 0.5 at a best objective within one seed
   spread.
3. ``hardware=cpu_pool`` (2 processes x 1 thread, no batch barrier) throughput / sequential
   (one process, all cores), the same trials (random sampler seeded per trial, no pruning),
   runs interleaved and repeated: over the trials (first asked to last told) and over the
   whole command; also cpu_pool with every job through Hydra's joblib launcher
   (``hydra.sweeper.reuse_config=false``). Goal: >= 1.4 on 2 cores.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

DATA = ["data.start=2022-01-01", "data.end=2023-12-31", "progress=false"]
STUDY = "xgboost-1h-direction"

# --probe: run `python -m trainer` in this process with timers around the job's pieces.
PROBE = r"""
import json, runpy, sys, time
import trainer.train as train_module
import trainer.tuning as tuning
spans, talk = [], [0.0]
def timer(fn, sink):
    def wrapped(*a, **k):
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            sink(t, time.perf_counter())
    return wrapped
train_module.train = timer(train_module.train, lambda a, b: spans.append((a, b)))
def add_talk(a, b):
    talk[0] += b - a
tuning.make_reporter = timer(tuning.make_reporter, add_talk)
tuning.record_trial = timer(tuning.record_trial, add_talk)
tuning.TrialReporter.report = timer(tuning.TrialReporter.report, add_talk)
# Optuna's own share: ask, sampling the params, tell
import optuna
import hydra_plugins.quantsweep_sweeper._impl as impl
optuna_s = [0.0]
def add_optuna(a, b):
    optuna_s[0] += b - a
optuna.Study.ask = timer(optuna.Study.ask, add_optuna)
optuna.Study.tell = timer(optuna.Study.tell, add_optuna)
impl.sample = timer(impl.sample, add_optuna)
# Hydra's basic sweeper composes every job of a batch once up front to validate it
from hydra.plugins.sweeper import Sweeper
validate = [0.0]
def add_validate(a, b):
    validate[0] += b - a
Sweeper.validate_batch_is_legal = timer(Sweeper.validate_batch_is_legal, add_validate)
sys.argv = ["trainer", *sys.argv[1:]]
try:
    runpy.run_module("trainer", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    if exc.code:
        raise
gaps = [spans[i + 1][0] - spans[i][1] for i in range(len(spans) - 1)]
print("PROBE " + json.dumps({"gaps": gaps, "talk_s": talk[0], "n": len(spans),
                             "optuna_s": optuna_s[0],
                             "validate_s": validate[0], "train_s": [b - a for a, b in spans]}))
"""


def trainer(cwd: Path, *args: str, probe: bool = False) -> dict[str, Any]:
    cmd = [sys.executable, "-c", PROBE] if probe else [sys.executable, "-m", "trainer"]
    env = {**os.environ, "HYDRA_FULL_ERROR": "1"}
    res = subprocess.run([*cmd, *args], cwd=cwd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise SystemExit(f"trainer {' '.join(args)} failed:\n{res.stderr[-4000:]}")
    if not probe:
        return {}
    line = next(x for x in res.stdout.splitlines() if x.startswith("PROBE "))
    out: dict[str, Any] = json.loads(line[len("PROBE ") :])
    return out


def load_study(cwd: Path, name: str = STUDY) -> Any:
    import optuna

    from hydra_plugins.quantsweep_sweeper.link import open_storage

    journal = (cwd / "artifacts" / "studies" / name / "journal.log").resolve()
    return optuna.load_study(study_name=name, storage=open_storage(str(journal)))


def overhead(root: Path, n: int) -> dict[str, Any]:
    base = ["progress=false", "model.n_estimators=300"]  # the whole embedded market
    ours = trainer(
        root / "optuna",
        *base,
        f"hydra.sweeper.n_trials={n}",
        "hydra.sweeper.reproduce_seeds=0",
        "-m",
        probe=True,
    )
    depths = ",".join(str(3 + i % 7) for i in range(n))  # n jobs of the same kind of work
    grid = trainer(
        root / "grid", *base, "search=grid", f"model.max_depth={depths}", "-m", probe=True
    )
    study = load_study(root / "optuna")
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    pruned_s = [(t.datetime_complete - t.datetime_start).total_seconds() for t in pruned]
    between = statistics.median(ours["gaps"])
    per_trial = between + ours["talk_s"] / ours["n"]
    basic = statistics.median(grid["gaps"]) + grid["validate_s"] / grid["n"]
    return {
        "trials": n,
        "optuna_between_jobs_s": round(between, 4),
        "optuna_trial_talk_s": round(ours["talk_s"] / ours["n"], 4),
        "optuna_overhead_per_trial_s": round(per_trial, 4),
        # of which Optuna's ask, sampling and tell (TPE's cost grows with the trials)
        "optuna_ask_sample_tell_per_trial_s": round(ours["optuna_s"] / ours["n"], 4),
        "basic_sweeper_between_jobs_s": round(statistics.median(grid["gaps"]), 4),
        "basic_sweeper_validation_per_job_s": round(grid["validate_s"] / grid["n"], 4),
        "basic_sweeper_overhead_per_job_s": round(basic, 4),
        "overhead_vs_basic": round(per_trial / basic, 3),
        "median_train_s": round(statistics.median(ours["train_s"]), 3),
        "median_pruned_trial_s": round(statistics.median(pruned_s), 3) if pruned_s else None,
        "overhead_share_of_median_pruned_trial": (
            round(per_trial / statistics.median(pruned_s), 4) if pruned_s else None
        ),
    }


def rounds(trial: Any) -> int:
    steps = list(trial.intermediate_values)
    return max(steps) if steps else 0


def rounds_to_reach(study: Any, target: float) -> int | None:
    """Boosting rounds spent, in trial order, until a trial first reaches ``target``."""
    spent = 0
    for t in sorted(study.trials, key=lambda t: t.number):
        spent += rounds(t)
        if t.value is not None and t.state.name == "COMPLETE" and t.value >= target:
            return spent
    return None


# Each pruned study against the unpruned one with the same sampler and seed. With the TPE
# default the two studies sample different points once the first trial is pruned (TPE learns
# from pruned trials); the random sampler draws the same point for the same trial number in
# both, so its pair measures what pruning alone saves.
PRUNING_PAIRS = {
    "median": ("none", ["hydra.sweeper.pruner=median"]),
    "median_warmup50": ("none", ["hydra.sweeper.pruner=median", "hydra.sweeper.warmup_steps=50"]),
    "random_median": (
        "random_none",
        ["hydra.sweeper.pruner=median", "hydra/sweeper/sampler=random"],
    ),
}
UNPRUNED = {
    "none": ["hydra.sweeper.pruner=none"],
    "random_none": ["hydra.sweeper.pruner=none", "hydra/sweeper/sampler=random"],
}


def pruning(root: Path, n: int, seeds: list[int]) -> dict[str, Any]:
    """Every pair for each sampler seed, and each pair's rounds summed over the seeds.

    One study's compute varies about 2x between seeds (TPE lands on fast or slow learners),
    more than pruning changes it, so a single pair says little; the sums over seeds do more.
    """
    per_seed = {str(seed): _pruning_one(root / f"seed{seed}", n, seed) for seed in seeds}
    out: dict[str, Any] = {"trials": n, "seeds": per_seed}
    for name, (reference, _) in PRUNING_PAIRS.items():
        pruned = sum(r[name]["rounds"] for r in per_seed.values())
        none = sum(r[reference]["rounds"] for r in per_seed.values())
        within = [r[name]["best_within_one_seed_spread"] for r in per_seed.values()]
        out[name] = {
            "compute_ratio_over_seeds": round(pruned / none, 3),
            "compute_ratio_per_seed": [r[name]["compute_ratio"] for r in per_seed.values()],
            "best_within_one_seed_spread": f"{sum(within)} of {len(within)}",
        }
    return out


def _pruning_one(root: Path, n: int, seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    base = [*DATA, "model.n_estimators=300", f"hydra.sweeper.n_trials={n}", f"seed={seed}"]
    studies: dict[str, Any] = {}
    variants = {**UNPRUNED, **{name: extra for name, (_, extra) in PRUNING_PAIRS.items()}}
    for name, extra in variants.items():
        cwd = root / name
        cwd.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        trainer(cwd, *base, *extra, "-m")
        wall = time.perf_counter() - t0
        study = studies[name] = load_study(cwd)
        summary = json.loads((cwd / "artifacts/studies" / STUDY / "summary.json").read_text())
        out[name] = {
            "rounds": sum(rounds(t) for t in study.trials),
            "best_objective": round(study.best_value, 4),
            "pruned": summary["counts"]["pruned"],
            "wall_s": round(wall, 1),
            "best_params_over_4_seeds": {
                k: round(summary["reproducibility"][k], 4) for k in ("mean", "std")
            },
        }
    for name, (reference, _) in PRUNING_PAIRS.items():
        pruned, none = out[name], out[reference]
        spread = none["best_params_over_4_seeds"]["std"]
        pruned["compute_ratio"] = round(pruned["rounds"] / none["rounds"], 3)
        pruned["best_gap"] = round(none["best_objective"] - pruned["best_objective"], 4)
        pruned["best_within_one_seed_spread"] = bool(pruned["best_gap"] <= spread)
        # rounds until a trial first reaches the unpruned study's best, pruned / unpruned
        target = studies[reference].best_value
        mine = rounds_to_reach(studies[name], target)
        theirs = rounds_to_reach(studies[reference], target)
        pruned["compute_to_reach_unpruned_best_ratio"] = (
            round(mine / theirs, 3) if mine is not None and theirs else None
        )
    return out


# cpu_pool as shipped (workers compose once and warm up while the study opens), and cpu_pool
# with every job through Hydra's joblib launcher (composed from scratch in the worker).
PARALLEL_VARIANTS = {
    "sequential": ["hardware=cpu"],
    "cpu_pool": ["hardware=cpu_pool"],
    "cpu_pool_via_launcher": ["hardware=cpu_pool", "hydra.sweeper.reuse_config=false"],
}


_BARE: dict[str, Any] = {}


def _bare_setup() -> None:
    """A worker's data: the whole embedded market's default split, as a trial prepares it."""
    import xgboost as xgb

    from trainer.data.config import FeaturesConfig, SyntheticDataConfig
    from trainer.dataset import build_table, prepare
    from trainer.splits import holdout

    table = build_table(SyntheticDataConfig(), FeaturesConfig())
    p = prepare(table, holdout(table.timestamps, (0.7, 0.15, 0.15), 1), 1, "direction", 1e-12)
    _BARE["train"] = xgb.DMatrix(p.train.X, label=p.train.y)
    _BARE["valid"] = xgb.DMatrix(p.valid.X, label=p.valid.y)


def _bare_fit(seed: int, threads: int) -> float:
    """One bare ``xgboost.train`` of 300 rounds with the learner's default params; its seconds."""
    import xgboost as xgb

    from trainer.learners.base import FitContext
    from trainer.learners.config import XGBoostConfig
    from trainer.learners.trees import XGBoostLearner

    config = XGBoostConfig(n_estimators=300)
    context = FitContext(task="direction", seed=seed, threads=threads)
    params = XGBoostLearner(config, context)._booster_params()  # the learner's own
    t0 = time.perf_counter()
    xgb.train(
        params,
        _BARE["train"],
        config.n_estimators,
        evals=[(_BARE["valid"], "valid")],
        verbose_eval=False,
    )
    return time.perf_counter() - t0


def bare_parallel(n: int) -> dict[str, float]:
    """The issue's reference: two 1-thread bare fits side by side / one 2-thread fit at a time."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    _bare_setup()
    t0 = time.perf_counter()
    for seed in range(n):
        _bare_fit(seed, 2)
    sequential = time.perf_counter() - t0
    spawn = multiprocessing.get_context("spawn")  # a forked OpenMP runtime can hang
    with ProcessPoolExecutor(2, mp_context=spawn, initializer=_bare_setup) as pool:
        list(pool.map(_bare_fit, [0, 1], [1, 1]))  # workers ready: data built, imports done
        t0 = time.perf_counter()
        list(pool.map(_bare_fit, range(n), [1] * n))
        side_by_side = time.perf_counter() - t0
    return {
        "bare_fits": n,
        "bare_sequential_2_threads_s": round(sequential, 2),
        "bare_side_by_side_1_thread_s": round(side_by_side, 2),
        "bare_throughput_ratio": round(sequential / side_by_side, 3),
    }


def parallel(root: Path, n: int, repeats: int = 2) -> dict[str, Any]:
    base = [
        "progress=false",  # the whole embedded market, 300 rounds each: trials of seconds
        "model.n_estimators=300",
        "model.early_stopping_rounds=0",  # so the work per trial is the fits, as in the goal
        "hydra/sweeper/sampler=random",  # seeded per trial: both runs train the same params
        "hydra.sweeper.pruner=none",
        "hydra.sweeper.reproduce_seeds=0",
        f"hydra.sweeper.n_trials={n}",
    ]
    walls: dict[str, list[float]] = {name: [] for name in PARALLEL_VARIANTS}
    commands: dict[str, list[float]] = {name: [] for name in PARALLEL_VARIANTS}
    params: dict[str, list[Any]] = {}
    for rep in range(repeats):  # interleaved, so a change of machine load hits all alike
        for name, extra in PARALLEL_VARIANTS.items():
            cwd = root / f"{name}{rep}"
            cwd.mkdir()
            t0 = time.perf_counter()
            trainer(cwd, *base, *extra, "-m")
            commands[name].append(time.perf_counter() - t0)
            trials = load_study(cwd).trials
            start = min(t.datetime_start for t in trials)
            end = max(t.datetime_complete for t in trials)
            walls[name].append((end - start).total_seconds())
            params[f"{name}{rep}"] = [t.params for t in trials]
    med = {name: statistics.median(w) for name, w in walls.items()}
    cmd = {name: statistics.median(w) for name, w in commands.items()}
    return {
        "trials": n,
        "repeats": repeats,
        # first trial asked -> last trial told (worker start-up inside, process start outside)
        **{f"{name}_trials_wall_s": [round(w, 2) for w in walls[name]] for name in walls},
        # the whole command, process start to exit (imports, study reports included)
        **{f"{name}_command_wall_s": [round(w, 2) for w in commands[name]] for name in walls},
        "throughput_ratio": round(med["sequential"] / med["cpu_pool"], 3),
        "throughput_ratio_command": round(cmd["sequential"] / cmd["cpu_pool"], 3),
        "throughput_ratio_via_launcher": round(med["sequential"] / med["cpu_pool_via_launcher"], 3),
        "same_params_every_run": all(p == params["sequential0"] for p in params.values()),
        **bare_parallel(8),
    }


def scoring(repeats: int = 30) -> dict[str, Any]:
    """Seconds of one report's scoring per strategy on the same valid scores (best of N)."""
    from dataclasses import replace

    from hydra import compose, initialize_config_dir

    from trainer.config import register, validate
    from trainer.dataset import build_table
    from trainer.fit import fit_fold, make_scorer, objective_spec
    from trainer.learners.base import NullReporter
    from trainer.train import fit_context, folds_for

    register()
    conf_dir = str(Path(__file__).resolve().parent.parent / "conf")
    with initialize_config_dir(config_dir=conf_dir, version_base="1.3"):
        base = validate(compose("train", overrides=["progress=false", "hardware.threads=1"]))
    table = build_table(base.data, base.features)
    fold = folds_for(base, table)[0]
    result = fit_fold(base, table, fold, fit_context(base), NullReporter(), objective_spec(base))
    scores, valid = result.valid_scores, result.prepared.valid
    variants = {
        "threshold": base.strategy,
        "hysteresis": replace(base.strategy, name="hysteresis"),
        "hysteresis_band_0.1": replace(base.strategy, name="hysteresis", band=0.1),
        "min_hold_8h": replace(base.strategy, min_hold_hours=8),
        "vol_target": replace(base.strategy, name="vol_target"),
    }
    scorers = {
        k: make_scorer(objective_spec(replace(base, strategy=v))) for k, v in variants.items()
    }
    best = dict.fromkeys(scorers, float("inf"))
    for _ in range(repeats):  # interleaved, so a busy moment hits every variant alike
        for name, score in scorers.items():
            t0 = time.process_time()
            score(scores, valid)
            best[name] = min(best[name], time.process_time() - t0)
    return {
        "valid_rows": int(scores.shape[0]),
        "seconds": {k: round(v, 5) for k, v in best.items()},
        "over_threshold": {k: round(v / best["threshold"], 3) for k, v in best.items()},
        "goal_hysteresis_over_threshold": 2.0,
    }


def study_wall(root: Path, trials: int, reference: str, rounds: int) -> dict[str, Any]:
    """Wall seconds of the default study, this revision against ``reference``, interleaved."""
    repo = Path(__file__).resolve().parent.parent
    ref = root / "reference"
    ref.mkdir()
    archive = subprocess.run(
        ["git", "archive", reference, "trainer", "evaluation", "hydra_plugins", "conf"],
        cwd=repo,
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(ref)], input=archive, check=True)
    walls: dict[str, list[float]] = {"reference": [], "ours": []}
    for i in range(rounds):
        for name, code in (("reference", ref), ("ours", repo)):
            cwd = root / f"{name}{i}"
            cwd.mkdir()
            env = {**os.environ, "PYTHONPATH": str(code)}
            t0 = time.perf_counter()
            res = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "trainer",
                    "progress=false",
                    f"hydra.sweeper.n_trials={trials}",
                    "-m",
                ],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
            )
            if res.returncode != 0:
                raise SystemExit(f"{name} study failed:\n{res.stderr[-3000:]}")
            walls[name].append(time.perf_counter() - t0)
    return {
        "trials": trials,
        "reference": reference,
        "wall_seconds": walls,
        "ours_over_reference": round(min(walls["ours"]) / min(walls["reference"]), 3),
        "goal": 1.05,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=40, help="budget of the pruning comparison")
    ap.add_argument("--overhead-trials", type=int, default=20)
    ap.add_argument("--parallel-trials", type=int, default=8)
    ap.add_argument("--seeds", default="0,1,2", help="sampler seeds of the pruning pairs")
    ap.add_argument(
        "--only",
        choices=("overhead", "pruning", "parallel", "bare", "scoring", "study"),
        default=None,
    )
    ap.add_argument("--study-trials", type=int, default=150)
    ap.add_argument("--study-rounds", type=int, default=1)
    ap.add_argument("--reference", default="c1c1394", help="git revision the study compares to")
    args = ap.parse_args()
    result: dict[str, Any] = {
        "benchmark": "sweep",
        "cpus": len(os.sched_getaffinity(0)),
        "load_average_before": os.getloadavg()[0],
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        seeds = [int(s) for s in args.seeds.split(",")]
        sections: dict[str, Callable[[Path], dict[str, Any]]] = {
            "overhead": lambda d: overhead(d, args.overhead_trials),
            "pruning": lambda d: pruning(d, args.trials, seeds),
            "parallel": lambda d: parallel(d, args.parallel_trials),
        }
        for name, fn in sections.items():
            if args.only in (None, name):
                (root / name).mkdir()
                for sub in ("optuna", "grid"):
                    (root / name / sub).mkdir()
                result[name] = fn(root / name)
        if args.only in (None, "study"):
            result["study"] = study_wall(root, args.study_trials, args.reference, args.study_rounds)
    if args.only == "bare":  # the parallel section's bare reference alone
        result["bare"] = bare_parallel(8)
    if args.only in (None, "scoring"):
        result["scoring"] = scoring()
    result["load_average_after"] = os.getloadavg()[0]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
