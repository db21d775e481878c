"""``python -m evaluation forward=PATH [data overrides]``: is the live model still good?

The saved model as it is (no retraining: its own features, scaler and threshold) scored on every
hour after its training and validation data ended, then the evaluation's backtest of its own
strategy (gross and net), the buy-and-hold and baseline comparisons, the guardrails and the
report. It never promotes. Positions follow ``trainer.predict.decision_positions``, the rule
``python -m trainer.predict`` writes, so a forward test of the hours a live system predicted
backtests exactly what it traded.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.config import EvaluationConfig
from evaluation.evaluate import (
    Evaluation,
    _baseline,
    _costs,
    judge,
    report_name,
    source_record,
)
from evaluation.manifest import reproducibility
from evaluation.source import Source, open_source
from evaluation.strategies import run_backtests, strategy_positions
from evaluation.study import unavailable
from evaluation.walk_forward import FoldScores, OutOfSample, Period
from trainer.artifacts import Run, load_run
from trainer.dataset import Table, build_table
from trainer.errors import UserError
from trainer.fit import evaluate_scores, hours_of, objective_spec
from trainer.learners.base import SplitData
from trainer.objective import ObjectiveSpec
from trainer.predict import decision_positions, rule_history, sequence_context
from trainer.splits import Fold

NEVER_PROMOTES = "a forward test judges the saved model as it is; it never promotes"


def forward_test(cfg: EvaluationConfig) -> Evaluation:
    t_start = time.perf_counter()
    assert cfg.forward is not None
    source = open_source(cfg.forward, cfg.overrides)
    run = load_run(source.path)
    conf = source.config
    horizon = conf.target.horizon
    table = build_table(conf.data, conf.features)
    lo = first_forward_row(source, table, cfg.forward)
    # earlier rows: the input window, the rule's volatility window and the held decision
    context = sequence_context(conf.model) + rule_history(conf) + conf.target.hours - 1
    start = max(0, lo - context)
    spec = objective_spec(conf)
    scores, held = score_rows(run, table, start, conf.target.hours, spec)
    scores, held = scores[lo - start :], held[lo - start :]
    rows = np.arange(lo, len(table))
    rule = run.rule
    threshold = rule.upper

    costs = _costs(cfg, conf)
    allow_short = bool(costs["allow_short"])
    oos = OutOfSample(
        rows=rows,
        timestamps=table.timestamps[rows],
        log_ret=table.labels["ret_1h"][rows],
        scores={horizon: scores},
        thresholds={horizon: np.full(rows.shape[0], threshold)},
        positions={horizon: held},
        fold_index=np.zeros(rows.shape[0], dtype=np.int64),
    )
    baseline, baseline_label = _baseline(cfg, table, oos, allow_short)
    positions = strategy_positions(
        oos.timestamps, oos.positions, [horizon], baseline, baseline_label
    )
    backtests = run_backtests(positions, oos.log_ret, float(costs["cost_bps"]))
    part = _part(table, lo, conf.target.hours, conf.target.task)
    fold = Fold("forward", slice(lo, lo), slice(lo, lo), slice(lo, len(table)))
    scored = FoldScores(
        fold=fold,
        horizon=horizon,
        rule=rule,
        test_scores=scores,
        test_positions=held,
        metrics=evaluate_scores(scores, rule, part, spec, conf.target.task),
        seconds=time.perf_counter() - t_start,
    )
    name = cfg.name or f"forward_{report_name(cfg, source)}"
    first, last = (pd.Timestamp(oos.timestamps[i]) for i in (0, -1))
    evaluation = Evaluation(
        name=name,
        report_dir=_reports(cfg) / name,
        source=source,
        period=Period(f"{first:%Y-%m-%d %H:%M}", f"{last:%Y-%m-%d %H:%M}", False),
        embargo_hours=conf.target.hours,
        folds=[{horizon: scored}],
        oos=oos,
        positions=positions,
        backtests=backtests,
        strategies=[horizon],
        guardrails={},
        target_strategy=horizon,
        passed=False,
        promotable=NEVER_PROMOTES,
        stress=[],
        overfitting=unavailable("a forward test of one saved model: no study's trials"),
        costs=costs,
        reproducibility={
            **reproducibility(conf, table.data_hash, source.metadata.get("data_hash"), 1),
            "source": source_record(source),
            "allow_other_data": True,  # a forward test is on other (newer) data by design
        },
        seconds={"total": time.perf_counter() - t_start},
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        mode="forward",
    )
    return judge(evaluation, cfg.guardrails)


def first_forward_row(source: Source, table: Table, given: str) -> int:
    """The first row after the model's data: its valid part's end plus the label horizon (the
    last valid label reached that far), so no forward label overlaps one it was fitted on."""
    try:
        valid_end = pd.Timestamp(source.metadata["split"]["bounds"]["valid"][1])
    except (KeyError, IndexError, TypeError, ValueError):
        raise UserError(
            f"forward={given}: metadata.json has no split.bounds.valid; retrain the run"
        ) from None
    if valid_end.tzinfo is not None:
        valid_end = valid_end.tz_convert("UTC").tz_localize(None)
    first = valid_end + pd.Timedelta(hours=source.config.target.hours)
    lo = int(np.searchsorted(table.timestamps, first.to_datetime64()))
    if lo >= len(table):
        last = pd.Timestamp(table.timestamps[-1])
        raise UserError(
            f"forward={given}: the model's data ends {valid_end:%Y-%m-%d %H:%M} and the given"
            f" data's last labelled hour is {last:%Y-%m-%d %H:%M} UTC: no hour to test; give newer"
            " data (data.path=..., data.end=...)"
        )
    return lo


def score_rows(
    run: Run, table: Table, start: int, horizon: int, spec: ObjectiveSpec
) -> tuple[np.ndarray, np.ndarray]:
    """Scores and held positions of the table's rows from ``start`` with the saved model."""
    names = run.feature_names
    column = {n: i for i, n in enumerate(table.feature_names)}
    missing = [n for n in names if n not in column]
    if missing:
        raise UserError(
            f"data: the model needs feature(s) {', '.join(missing[:3])} the data cannot give"
            f" (its features: {len(table.feature_names)}); give the data it was trained with"
        )
    X = run.scaler.transform(table.X[start:, [column[n] for n in names]])
    n = X.shape[0]
    part = SplitData(X, np.zeros(n), np.zeros(n), table.timestamps[start:], table.segment[start:])
    scores = np.asarray(run.learner.predict(part), dtype=np.float64)
    returns = table.labels[f"ret_{horizon}h"][start:]
    held = decision_positions(scores, run.rule, returns, hours_of(table.timestamps[start:]), spec)
    return scores, held


def _part(table: Table, lo: int, hours: int, task: str) -> SplitData:
    """The forward rows' labels (for the trainer's metrics); features are not needed."""
    ret = table.labels[f"ret_{hours}h"][lo:]
    y = table.labels[f"dir_{hours}h"][lo:] if task == "direction" else ret
    n = ret.shape[0]
    return SplitData(np.zeros((n, 0)), y, ret, table.timestamps[lo:], table.segment[lo:])


def _reports(cfg: EvaluationConfig) -> Path:
    return Path(cfg.artifacts_dir) / "reports"
