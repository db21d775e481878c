"""Fit one learner on one fold: the unit of work shared by training and evaluation.

prepared parts -> learner.fit -> predict valid -> calibrate the threshold on valid ->
metrics on valid and test (test touched once, at the end).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from trainer.config import (
    CostsConfig,
    ObjectiveConfig,
    StrategyConfig,
    TargetConfig,
    TrainConfig,
)
from trainer.dataset import Prepared, Table, prepare
from trainer.hardware import resolve
from trainer.learners import build_learner
from trainer.learners.base import FitContext, Learner, Reporter, SplitData
from trainer.objective import ObjectiveSpec, calibrate, metrics
from trainer.splits import Fold, holdout, walk_forward
from trainer.trading import Rule
from trainer.trial_cache import TrialCache


def hours_of(timestamps: np.ndarray) -> np.ndarray:
    """Hour of day (UTC) of each timestamp, (n,) int64."""
    return timestamps.astype("datetime64[h]").astype(np.int64) % 24


def objective_spec(conf: TrainConfig) -> ObjectiveSpec:
    return spec_of(conf.target, conf.objective, conf.costs, conf.strategy)


def spec_of(
    target: TargetConfig, objective: ObjectiveConfig, costs: CostsConfig, strategy: StrategyConfig
) -> ObjectiveSpec:
    """The objective and decision rule of a run, from the parts of its config they read."""
    return ObjectiveSpec(
        metric=objective.metric,
        drawdown_penalty=objective.drawdown_penalty,
        drawdown_limit=objective.drawdown_limit(target.horizon),
        horizon=target.hours,
        cost_bps=costs.fee_bps + costs.slippage_bps,
        allow_short=costs.allow_short,
        n_thresholds=objective.n_thresholds,
        quantile_range=(objective.threshold_quantiles[0], objective.threshold_quantiles[1]),
        strategy=strategy.name,
        bands=strategy.bands,
        min_hold_hours=strategy.min_hold_hours,
        target_vol=strategy.target_vol,
        max_leverage=strategy.max_leverage,
        vol_window_hours=strategy.vol_window_hours,
    )


def up_labels(split: SplitData) -> np.ndarray:
    """Direction labels of a part whatever the task (regression targets are returns)."""
    return np.asarray(split.returns > 0)


def make_scorer(spec: ObjectiveSpec) -> Any:
    """score(scores, split) -> the validation objective at its best threshold."""

    def score(scores: np.ndarray, split: SplitData) -> float:
        return calibrate(scores, up_labels(split), split.returns, hours_of(split.timestamps), spec)[
            1
        ]

    return score


def calibrate_on(scores: np.ndarray, split: SplitData, spec: ObjectiveSpec) -> Rule:
    """The rule calibrated on a (validation) part's scores; rows without a score ignored."""
    return calibrate(scores, up_labels(split), split.returns, hours_of(split.timestamps), spec)[0]


def evaluate_scores(
    scores: np.ndarray, rule: Rule, split: SplitData, spec: ObjectiveSpec, task: str
) -> dict[str, Any]:
    return metrics(
        scores,
        rule,
        up_labels(split),
        split.returns,
        hours_of(split.timestamps),
        spec,
        regression=task == "regression",
    )


@dataclass(frozen=True)
class FoldResult:
    learner: Learner
    prepared: Prepared
    rule: Rule  # the decision rule calibrated on valid
    valid_scores: np.ndarray
    test_scores: np.ndarray
    metrics: dict[str, dict[str, Any]]  # {"valid": ..., "test": ...}

    @property
    def threshold(self) -> float:
        return self.rule.upper


def fit_learner(
    conf: TrainConfig, prepared: Prepared, context: FitContext, reporter: Reporter
) -> Learner:
    """A new learner of ``conf.model`` fitted on the prepared train part (valid for early
    stopping and reports), knowing the features and scaling it will meet."""
    context = replace(
        context,
        feature_names=tuple(prepared.feature_names),
        scaler_mean=prepared.scaler.mean,
        scaler_scale=prepared.scaler.scale,
        horizon=conf.target.hours,
    )
    learner = build_learner(conf.model, context)
    learner.fit(prepared.train, prepared.valid, reporter)
    return learner


def fit_fold(
    conf: TrainConfig,
    table: Table,
    fold: Fold,
    context: FitContext,
    reporter: Reporter,
    spec: ObjectiveSpec,
    cache: TrialCache | None = None,
) -> FoldResult:
    """Fit on ``fold`` of ``table``; its prepared parts shared through ``cache`` when given."""
    cut = (table, fold, conf.target.hours, conf.target.task, conf.features.constant_tol)
    prepared = cache.prepared(*cut) if cache is not None else prepare(*cut)
    learner = fit_learner(conf, prepared, context, reporter)
    valid_scores = learner.predict(prepared.valid)
    rule = calibrate_on(valid_scores, prepared.valid, spec)
    test_scores = learner.predict(prepared.test)
    result_metrics = {
        "valid": evaluate_scores(valid_scores, rule, prepared.valid, spec, conf.target.task),
        "test": evaluate_scores(test_scores, rule, prepared.test, spec, conf.target.task),
    }
    return FoldResult(learner, prepared, rule, valid_scores, test_scores, result_metrics)


def folds_for(conf: TrainConfig, table: Table) -> list[Fold]:
    """The run's folds: one holdout (or the npz's own cut), or the walk-forward folds."""
    embargo = conf.split.embargo_hours
    if embargo is None:
        embargo = conf.target.hours
    fractions = (conf.split.train, conf.split.valid, conf.split.test)
    if conf.split.name == "walk_forward":
        return list(
            walk_forward(
                table.timestamps,
                conf.split.start,
                conf.split.end,
                conf.split.step_months,
                fractions,
                embargo,
                table.calendar,
            )
        )
    if table.fixed_split is not None:
        return [table.fixed_split]
    return [holdout(table.timestamps, fractions, embargo, table.calendar)]


def fit_context(conf: TrainConfig) -> FitContext:
    res = resolve(conf.hardware, needs_device=conf.model.family != "tree")
    return FitContext(
        task=conf.target.task,
        seed=conf.seed,
        threads=res.threads,
        device=res.device,
        precision=res.precision,
        batch_size=conf.hardware.batch_size,
        tf32=conf.hardware.tf32,
        cudnn_benchmark=conf.hardware.cudnn_benchmark,
        progress=conf.progress,
        score=make_scorer(objective_spec(conf)),
    )
