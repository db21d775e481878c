"""``evaluate(cfg)``: one run through walk-forward, backtests, stress windows, overfitting
statistics and guardrails, then the promotion decision. No Hydra in here: tests call it.

    python -m evaluation run=PATH  ->  evaluate (walk-forward, ..., the recipe's refit)
                                   -> promote the refit (if all pass) -> report.write
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.backtest import Backtest
from evaluation.baseline import check_stored_baseline, read_stored_baseline
from evaluation.config import EvaluationConfig, GuardrailsConfig
from evaluation.guardrails import Guardrail, all_passed, check
from evaluation.manifest import config_hash, reproducibility
from evaluation.members import compare
from evaluation.refit import Refit, next_fold, refit
from evaluation.source import Source, open_source
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
    # The recipe fitted on the walk-forward's next fold: what a promotion publishes.
    refit: Refit | None = None
    # How to make ``refit`` (None when promotion is off or blocked before the fit).
    pending_refit: Callable[[], Refit] | None = field(default=None, repr=False, compare=False)
    mode: str = "evaluation"  # evaluation | forward (a forward test never promotes)

    @property
    def target_summary(self) -> dict[str, Any]:
        return self.backtests[self.target_strategy].summary()


def report_name(cfg: EvaluationConfig, source: Source) -> str:
    if cfg.name:
        name = cfg.name
    elif source.kind == "promoted":
        name = f"promoted_{source.given.name}"
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
            " artifacts/promoted/<target>; or forward=PATH to test a saved model on newer"
            " hours, or verify=PATH to re-train a run"
        )
    source = open_source(cfg.run, cfg.overrides)
    stored = read_stored_baseline(cfg.backtest.baseline) if cfg.backtest.baseline else None
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
    if stored is not None:  # refused now, not after the walk-forward
        assert cfg.backtest.baseline is not None
        tested = np.concatenate([np.arange(f.test.start, f.test.stop) for f in folds])
        check_stored_baseline(
            cfg.backtest.baseline, stored, table.timestamps[tested], table.labels["ret_1h"][tested]
        )
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
    promotable = _promotable(source, cfg, table)
    pending = None
    if promotable is None:
        fold = next_fold(cfg.walk_forward, table.timestamps, embargo)  # too short: said now

        def pending() -> Refit:
            return refit(confs[target], contexts[target], table, fold)

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
        promotable=promotable,
        pending_refit=pending,
        stress=stress,
        overfitting=overfitting,
        costs=costs,
        reproducibility={
            **reproducibility(
                conf, table.data_hash, source.metadata.get("data_hash"), contexts[target].threads
            ),
            "source": source_record(source),
            "allow_other_data": cfg.promotion.allow_other_data,
        },
        seconds={
            "total": time.perf_counter() - t_start,
            "walk_forward": wf_seconds,
            "folds": float(sum(r.seconds for f in per_fold for r in f.values())),
        },
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    judged = judge(evaluation, cfg.guardrails)
    return with_refit(judged) if judged.passed else judged


def with_refit(ev: Evaluation) -> Evaluation:
    """The evaluation with its recipe refit on the next fold (done once, when promotion needs
    it: a failing evaluation never pays for the extra fit)."""
    if ev.refit is not None or ev.pending_refit is None:
        return ev
    return replace(ev, refit=ev.pending_refit(), pending_refit=None)


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


def _promotable(source: Source, cfg: EvaluationConfig, table: Table | None = None) -> str | None:
    """Why the evaluated recipe may not be promoted even if it passes, or None."""
    if not cfg.promote:
        return "promote=false"
    if source.overrides and source.stored_config is not None:
        stored = to_dict(source.stored_config)
        evaluated = to_dict(source.config)
        changed = [k for k in MODEL_DEFINING if stored.get(k) != evaluated.get(k)]
        if changed:
            return (
                f"the overrides change {', '.join(changed)}: the evaluated recipe is not the"
                " run's; train a run with them and evaluate that"
            )
    if table is not None:
        return _other_data(source, cfg, table)
    return None


def _other_data(source: Source, cfg: EvaluationConfig, table: Table) -> str | None:
    """A data hash the run was not trained on blocks promotion unless stated on purpose (a
    promoted model re-evaluated on data reaching past its own needs nothing more)."""
    trained_on = source.metadata.get("data_hash")
    if trained_on is None or trained_on == table.data_hash or cfg.promotion.allow_other_data:
        return None
    if source.kind == "promoted" and _newer(source, table):
        return None
    return (
        f"the evaluated data (sha256 {table.data_hash[:12]}) is not the data the run was trained"
        f" on ({str(trained_on)[:12]}); evaluate the run on its own data, or set"
        " promotion.allow_other_data=true to promote the recipe refit on this data on purpose"
    )


def _newer(source: Source, table: Table) -> bool:
    """The table reaches past the end of the promoted model's valid part."""
    import pandas as pd

    try:
        valid_end = pd.Timestamp(source.metadata["split"]["bounds"]["valid"][1])
    except (KeyError, IndexError, TypeError, ValueError):
        return False
    if valid_end.tzinfo is None:
        valid_end = valid_end.tz_localize("UTC")
    return bool(pd.Timestamp(table.timestamps[-1], tz="UTC") > valid_end)


def source_record(source: Source) -> dict[str, Any]:
    """Where the evaluated run was read from, and the sha256 of every file read then."""
    return {
        "requested": str(source.given),
        "resolved": str(source.path),
        "kind": source.kind,
        "files": dict(source.snapshot.files) if source.snapshot is not None else {},
    }


def manifest_of(ev: Evaluation) -> dict[str, Any]:
    """What a promoted model carries: why it was promoted and how to reproduce it."""
    repro = ev.reproducibility
    assert ev.refit is not None
    return {
        "target": ev.source.target,
        "promoted_at": ev.created,
        "source_run": str(ev.source.path),
        "source": repro["source"],
        "report": str(ev.report_dir.resolve()),
        "strategy": ev.target_strategy,
        "metrics": ev.target_summary,
        "guardrails": [g.to_json() for g in ev.guardrails[ev.target_strategy]],
        "walk_forward": {"start": ev.period.start, "end": ev.period.end, "folds": len(ev.folds)},
        "refit": {
            "fold": ev.refit.bounds,
            "threshold": ev.refit.threshold,
            "valid": ev.refit.metrics["valid"],
        },
        "data_sha256": repro["data_sha256"],
        "run_data_sha256": repro["run_data_sha256"],
        "data_matches_run": repro["data_matches_run"],
        "allow_other_data": repro["allow_other_data"],
        "config_sha256": config_hash(ev.source.config),
        "config": repro["config"],
        "git_revision": repro["git_revision"],
        "versions": repro["versions"],
    }


def hit_rate_z(hit_rate: float, n_periods: int) -> float:
    """Binomial z-score of a hit rate over n held decision periods against a coin (0.5):
    |z| < 3 is within noise."""
    if n_periods == 0:
        return 0.0
    return float((hit_rate - 0.5) / np.sqrt(0.25 / n_periods))
