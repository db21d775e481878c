"""An ensemble beside its members: the same stitched out-of-sample hours, side by side.

Each member's rule is calibrated on its fold's valid part, as the ensemble's is, and its
positions come from the same decision rule and the same backtest (``trainer.trading``), so
the comparison is like for like: F1, up recall, then the money gross and net.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trainer.dataset import Table
from trainer.fit import hours_of
from trainer.objective import ObjectiveSpec
from trainer.trading import Rule, backtest, decision_rows


def member_thresholds_and_scores(
    learner: Any, valid_scores_of: Any, test_of: Any, calibrate_fn: Any
) -> dict[str, tuple[Rule, np.ndarray, np.ndarray]]:
    """(rule on valid, test scores, test hourly positions) per member of an ensemble; empty
    for other learners.

    ``valid_scores_of`` / ``test_of`` are the fold's valid and test parts; ``calibrate_fn``
    maps a member's valid scores to (its rule, and a function of test scores -> positions).
    """
    member_scores = getattr(learner, "member_scores", None)
    if member_scores is None:
        return {}
    valid = member_scores(valid_scores_of)
    test = member_scores(test_of)
    out = {}
    for name in valid:
        rule, to_positions = calibrate_fn(np.asarray(valid[name], np.float64))
        scores = np.asarray(test[name], np.float64)
        out[name] = (rule, scores, to_positions(scores))
    return out


def compare(
    models: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    table: Table,
    rows: np.ndarray,
    spec: ObjectiveSpec,
    cost_bps: float | None = None,
) -> list[dict[str, Any]]:
    """One row of metrics per model from its stitched (scores, per-row entry thresholds,
    hourly positions); money on the hourly grid at ``cost_bps`` (the spec's by default)."""
    returns = table.labels[f"ret_{spec.horizon}h"][rows]
    move = np.expm1(table.labels["ret_1h"][rows])
    decisions = None
    if spec.horizon > 1:
        decisions = decision_rows(hours_of(table.timestamps[rows]), spec.horizon)
    cost = spec.cost_bps if cost_bps is None else cost_bps
    out = []
    for name, (scores, thresholds, positions) in models.items():
        ok = np.isfinite(scores)
        pred = scores[ok] > thresholds[ok]
        up = returns[ok] > 0
        tp, fp, fn = (
            float(np.sum(pred & up)),
            float(np.sum(pred & ~up)),
            float(np.sum(~pred & up)),
        )
        bt = backtest(positions, move, cost, decisions)
        out.append(
            {
                "model": name,
                "f1_up": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
                "up_recall": tp / (tp + fn) if tp + fn else 0.0,
                "hit_rate": bt.hit_rate,
                "n_trades": bt.n_trades,
                "max_drawdown": bt.max_drawdown,
                "gross_return": bt.gross_return,
                "cost_return": bt.cost_return,
                "net_return": bt.total_return,
                "break_even_bps": bt.break_even_bps,
                "hours_scored": int(ok.sum()),
            }
        )
    return out
