"""``train(cfg, run_dir)``: one run from a composed config to a run directory.

No Hydra in here, so tests and evaluation call it directly. Returns the number a sweeper
maximises: the validation objective (holdout) or the mean out-of-sample objective of the
walk-forward folds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from trainer.artifacts import git_revision, package_versions, save_run
from trainer.config import TrainConfig, to_dict, validate
from trainer.dataset import Prepared, build_table
from trainer.fit import fit_context as fit_context
from trainer.fit import fit_fold, objective_spec
from trainer.fit import folds_for as folds_for
from trainer.hardware import seed_everything
from trainer.learners.base import FitContext, NullReporter, Reporter
from trainer.tracking import run_tracker
from trainer.trading import Rule
from trainer.trial_cache import TrialCache


def run_metadata(
    conf: TrainConfig,
    p: Prepared,
    rule: Rule,
    context: FitContext,
    bounds: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """What ``metadata.json`` records of a model fitted on ``p`` (``bounds``: the fold's parts,
    by default every part of ``p``)."""
    return {
        "model": conf.model.name,
        "family": conf.model.family,
        "target": {"horizon": conf.target.horizon, "task": conf.target.task},
        "feature_names": p.feature_names,
        "dropped_constant_features": p.dropped,
        "scaler": p.scaler.to_json(),
        "threshold": rule.upper,
        "rule": rule.to_json(),
        "data_hash": p.table.data_hash,
        "data_source": p.table.source,
        "gaps": p.table.gap_report,
        "split": {"fold": p.fold.name, "bounds": p.bounds() if bounds is None else bounds},
        "seed": conf.seed,
        "seeds": {"python": conf.seed, "numpy": conf.seed, "learner": conf.seed},
        "device": context.device,
        "threads": context.threads,
        "versions": package_versions(),
        "git_revision": git_revision(),
        "config": to_dict(conf),
    }


def train(
    cfg: DictConfig | TrainConfig,
    run_dir: Path,
    reporter: Reporter | None = None,
    cache: TrialCache | None = None,
) -> float:
    """One run; ``cache``: what the trials of a sweep share in this process (its warm-up's)."""
    conf = validate(cfg)
    context = fit_context(conf)  # fails fast on hardware=a10 without CUDA, before any data work
    tracker = run_tracker(conf)  # an unreachable tracking store fails here too
    seed_everything(conf.seed)
    if cache is not None:
        table = cache.table(conf.data, conf.features)
    else:
        table = build_table(conf.data, conf.features)
    folds = folds_for(conf, table)
    if reporter is None:
        from trainer.tuning import make_reporter

        reporter = make_reporter(conf.trial)
    from trainer.tuning import check_study_data

    check_study_data(reporter, table.data_hash)
    spec = objective_spec(conf)
    if len(folds) == 1:
        result = fit_fold(conf, table, folds[0], context, reporter, spec, cache)
        metrics: dict[str, Any] = {
            **result.metrics,
            "threshold": result.threshold,
            "rule": result.rule.to_json(),
        }
        objective = result.metrics["valid"]["objective"]
    else:
        # One model per fold; each fold's out-of-sample objective is an intermediate value,
        # in time order, so a pruner can stop a weak configuration after a few quarters.
        per_fold = []
        for step, fold in enumerate(folds, start=1):
            result = fit_fold(conf, table, fold, context, NullReporter(), spec, cache)
            value = result.metrics["test"]["objective"]
            per_fold.append({"fold": fold.name, **result.metrics["test"]})
            if reporter.active:
                reporter.report(value, step)
        objective = float(np.mean([f["objective"] for f in per_fold]))
        metrics = {
            **result.metrics,
            "threshold": result.threshold,
            "rule": result.rule.to_json(),
            "walk_forward": {"folds": per_fold, "mean_objective": objective},
        }
    metadata = run_metadata(conf, result.prepared, result.rule, context)
    save_run(run_dir, result.learner, conf.model.name, metadata, metrics)
    tracker.log_run(run_dir, metadata, metrics)
    from trainer.tuning import record_trial

    revision = metadata["git_revision"]
    record_trial(
        conf.trial, metrics, run_dir, table.data_hash, conf.seed, reporter, git_revision=revision
    )
    if conf.progress:
        from trainer.console import print_metrics

        print_metrics(metrics, run_dir)
    return float(objective)
