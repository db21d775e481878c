"""``evaluate(cfg)``: one run through walk-forward, backtests, stress windows, overfitting
statistics and guardrails, then the promotion decision. No Hydra in here: tests call it.

    python -m evaluation run=PATH  ->  evaluate -> report.write -> promote (if all pass)
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.backtest import Backtest
from evaluation.config import EvaluationConfig, GuardrailsConfig
from evaluation.guardrails import Guardrail, all_passed, check
from evaluation.manifest import config_hash, reproducibility
from evaluation.members import compare
from evaluation.source import Source, compose_run_config, open_source
from evaluation.strategies import (
    Positions,
    momentum_baseline,
    run_backtests,
    stored_baseline,
    strategy_positions,
)
from evaluation.stress import StressResult, run_stress
from evaluation.study import StudyStats, study_stats, unavailable
from evaluation.walk_forward import (
    FoldScores,
    OutOfSample,
    Period,
    folds_of,
    horizon_config,
    resolve_period,
    run_walk_forward,
)
from trainer.config import HORIZONS, TrainConfig, to_dict
from trainer.dataset import Table, build_table
from trainer.errors import UserError
from trainer.fit import objective_spec
from trainer.hardware import seed_everything
from trainer.objective import ObjectiveSpec
from trainer.train import fit_context

# Parts of a run's config that make its saved model what it is: an evaluation that overrides
# any of them tested another model, so it may not promote this one.
MODEL_DEFINING = ("model", "target", "features", "seed")


@dataclass(frozen=True)
class Evaluation:
    name: str
    report_dir: Path
    source: Source
    period: Period
    embargo_hours: int
    folds: list[dict[str, FoldScores]]
    oos: OutOfSample
    positions: Positions
    backtests: dict[str, Backtest]
    strategies: list[str]  # the model strategies (guardrail sets), target first
    guardrails: dict[str, list[Guardrail]]
    target_strategy: str
    passed: bool  # every guardrail of the target strategy passed
    promotable: str | None  # None, or why a passing run may still not be promoted
    stress: list[StressResult]
    overfitting: StudyStats
    costs: dict[str, Any]
    reproducibility: dict[str, Any]
    seconds: dict[str, float]
    created: str
    members: list[dict[str, Any]] = field(default_factory=list)  # ensemble beside its members

    @property
    def target_summary(self) -> dict[str, Any]:
        return self.backtests[self.target_strategy].summary()


def report_name(cfg: EvaluationConfig, source: Source) -> str:
    if cfg.name:
        name = cfg.name
    elif source.kind == "promoted":
        name = f"promoted_{source.path.name}"
    elif source.kind == "study_best" and source.study_dir is not None:
        name = f"{source.study_dir.name}_best"
    else:
        name = "_".join(source.path.resolve().parts[-2:])
    if source.overrides and not cfg.name:
        # A control run (data.signal_strength=0, ...) must not overwrite the plain report.
        import hashlib

        name += "__" + hashlib.sha256("\n".join(source.overrides).encode()).hexdigest()[:8]
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", name)


def needed_horizons(target: str, strategies: list[str]) -> list[str]:
    """The run's own horizon first, then the twin the strategies need (1h+4h needs both)."""
    wanted = {target}
    for s in strategies:
        wanted.update(s.split("+"))
    return [target, *sorted(wanted - {target}, key=lambda h: HORIZONS[h])]


def evaluate(cfg: EvaluationConfig) -> Evaluation:
    t_start = time.perf_counter()
    if not cfg.run:
        raise UserError(
            "run=PATH is required: a run directory (outputs/...), a study's best/ or"
            " artifacts/promoted/<target>; or verify=PATH to re-train a run"
        )
    source = open_source(cfg.run, cfg.overrides)
    conf = source.config
    target = conf.target.horizon
    strategies = [target] + [s for s in cfg.backtest.strategies if s != target]
    horizons = needed_horizons(target, strategies)
    embargo = cfg.walk_forward.embargo_hours
    if embargo is None:
        embargo = max(HORIZONS[h] for h in horizons)
    costs = _costs(cfg, conf)
    # The rule's positions depend on shorting, so the evaluation's choice reaches the folds'
    # rules; fees only reach the backtests (the rules stay the ones calibrated at the run's).
    shorting = replace(conf, costs=replace(conf.costs, allow_short=bool(costs["allow_short"])))
    confs = {h: horizon_config(shorting, h) for h in horizons}
    contexts = {h: fit_context(c) for h, c in confs.items()}  # fails fast on missing CUDA
    seed_everything(conf.seed)

    table = build_table(conf.data, conf.features)  # features and labels: once for every fold
    period = resolve_period(cfg.walk_forward, table.timestamps, embargo)
    folds = folds_of(cfg.walk_forward, table, period, embargo)
    t_wf = time.perf_counter()
    oos, per_fold = run_walk_forward(confs, contexts, table, folds, cfg.progress)
    wf_seconds = time.perf_counter() - t_wf

    cost_bps, allow_short = float(costs["cost_bps"]), bool(costs["allow_short"])
    baseline, baseline_label = _baseline(cfg, table, oos, allow_short)
    positions = strategy_positions(
        oos.timestamps, oos.positions, strategies, baseline, baseline_label
    )
    backtests = run_backtests(positions, oos.log_ret, cost_bps)

    stress: list[StressResult] = []
    if cfg.stress.enabled:
        stress = run_stress(
            cfg.stress.windows,
            confs[target],
            contexts[target],
            table,
            cfg.walk_forward,
            embargo,
            cost_bps,
        )

    overfitting = _overfitting(cfg, source, table, cost_bps)
    name = report_name(cfg, source)
    evaluation = Evaluation(
        members=side_by_side(per_fold, target, oos, table, objective_spec(confs[target]), cost_bps),
        name=name,
        report_dir=Path(cfg.artifacts_dir) / "reports" / name,
        source=source,
        period=period,
        embargo_hours=embargo,
        folds=per_fold,
        oos=oos,
        positions=positions,
        backtests=backtests,
        strategies=strategies,
        guardrails={},
        target_strategy=target,
        passed=False,
        promotable=_promotable(source, cfg),
        stress=stress,
        overfitting=overfitting,
        costs=costs,
        reproducibility=reproducibility(
            conf, table.data_hash, source.metadata.get("data_hash"), contexts[target].threads
        ),
        seconds={
            "total": time.perf_counter() - t_start,
            "walk_forward": wf_seconds,
            "folds": float(sum(r.seconds for f in per_fold for r in f.values())),
        },
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    return judge(evaluation, cfg.guardrails)


def _costs(cfg: EvaluationConfig, conf: TrainConfig) -> dict[str, Any]:
    """Fees, slippage and shorting: the evaluation's own values, else the run's."""
    bt, own = cfg.backtest, conf.costs
    fee = own.fee_bps if bt.fee_bps is None else bt.fee_bps
    slip = own.slippage_bps if bt.slippage_bps is None else bt.slippage_bps
    allow_short = own.allow_short if bt.allow_short is None else bt.allow_short
    return {
        "fee_bps": fee,
        "slippage_bps": slip,
        "cost_bps": fee + slip,
        "allow_short": allow_short,
    }


def _baseline(
    cfg: EvaluationConfig, table: Table, oos: OutOfSample, allow_short: bool
) -> tuple[np.ndarray, str]:
    """The baseline's positions on the out-of-sample hours, and what it is."""
    if cfg.backtest.baseline:
        return stored_baseline(cfg.backtest.baseline, oos.timestamps)
    hours = cfg.backtest.momentum_hours
    positions = momentum_baseline(table.labels["ret_1h"], oos.rows, hours, allow_short)
    return positions, f"momentum: long when the past {hours}h return > 0"


def _overfitting(
    cfg: EvaluationConfig, source: Source, table: Table, cost_bps: float
) -> StudyStats:
    """DSR and PBO of the study the run came from (unavailable, with why, otherwise)."""
    if not cfg.overfitting.enabled:
        return unavailable("overfitting.enabled=false")
    if source.study_dir is None:
        return unavailable("not a study's best/: DSR and PBO need the study's trials")
    study_dir = Path(cfg.overfitting.study_dir or source.study_dir)
    return study_stats(study_dir, table, cost_bps, cfg.overfitting.n_blocks)


def side_by_side(
    per_fold: list[dict[str, FoldScores]],
    horizon: str,
    oos: OutOfSample,
    table: Table,
    spec: ObjectiveSpec,
    cost_bps: float,
) -> list[dict[str, Any]]:
    """For an ensemble: it and each member on the stitched hours (empty otherwise)."""
    folds = [f[horizon] for f in per_fold]
    if not folds or not folds[0].members:
        return []
    models = {"ensemble": (oos.scores[horizon], oos.thresholds[horizon], oos.positions[horizon])}
    for name in folds[0].members:
        parts = [f.members[name] for f in folds]
        scores = np.concatenate([p[1] for p in parts])
        thresholds = np.concatenate([np.full(len(p[1]), p[0].upper) for p in parts])
        models[name] = (scores, thresholds, np.concatenate([p[2] for p in parts]))
    return compare(models, table, oos.rows, spec, cost_bps)


def judge(ev: Evaluation, guardrails: GuardrailsConfig) -> Evaluation:
    """Every strategy's guardrail set; the target strategy's decides promotion."""
    dsr, pbo = ev.overfitting.dsr_value, ev.overfitting.pbo_value
    checks = {s: check(ev.backtests[s].summary(), s, guardrails, dsr, pbo) for s in ev.strategies}
    return replace(ev, guardrails=checks, passed=all_passed(checks[ev.target_strategy]))


def _promotable(source: Source, cfg: EvaluationConfig) -> str | None:
    """Why this run's saved model may not be promoted even if it passes, or None."""
    if not cfg.promote:
        return "promote=false"
    if source.kind == "promoted":
        return "already the promoted model"
    if not source.overrides:
        return None
    stored = to_dict(compose_run_config(source.path, []))
    evaluated = to_dict(source.config)
    changed = [k for k in MODEL_DEFINING if stored.get(k) != evaluated.get(k)]
    if changed:
        return (
            f"the overrides change {', '.join(changed)}: the evaluated model is not the saved"
            " one; train a run with them and evaluate that"
        )
    return None


def manifest_of(ev: Evaluation) -> dict[str, Any]:
    """What a promoted model carries: why it was promoted and how to reproduce it."""
    repro = ev.reproducibility
    return {
        "target": ev.source.target,
        "promoted_at": ev.created,
        "source_run": str(ev.source.path.resolve()),
        "report": str(ev.report_dir.resolve()),
        "strategy": ev.target_strategy,
        "metrics": ev.target_summary,
        "guardrails": [g.to_json() for g in ev.guardrails[ev.target_strategy]],
        "walk_forward": {"start": ev.period.start, "end": ev.period.end, "folds": len(ev.folds)},
        "data_sha256": repro["data_sha256"],
        "config_sha256": config_hash(ev.source.config),
        "config": repro["config"],
        "git_revision": repro["git_revision"],
        "versions": repro["versions"],
        "run_metrics": ev.source.metrics,
    }


def hit_rate_z(hit_rate: float, n_periods: int) -> float:
    """Binomial z-score of a hit rate over n held decision periods against a coin (0.5):
    |z| < 3 is within noise."""
    if n_periods == 0:
        return 0.0
    return float((hit_rate - 0.5) / np.sqrt(0.25 / n_periods))
