"""An ensemble beside its members: the same stitched out-of-sample hours, side by side.

Each member's threshold is calibrated on its fold's valid part, as the ensemble's is, so the
comparison is like for like: F1, up recall, hit rate, drawdown and net return per model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trainer.dataset import Table
from trainer.fit import hours_of
from trainer.objective import ObjectiveSpec
from trainer.trading import decision_rows, max_drawdown, net_returns


def member_thresholds_and_scores(
    learner: Any, valid_scores_of: Any, test_of: Any, calibrate_fn: Any
) -> dict[str, tuple[float, np.ndarray]]:
    """(threshold on valid, test scores) per member of an ensemble; empty for other learners.

    ``valid_scores_of`` / ``test_of`` are the fold's valid and test parts; ``calibrate_fn``
    maps (scores, part) to the validation threshold.
    """
    member_scores = getattr(learner, "member_scores", None)
    if member_scores is None:
        return {}
    valid = member_scores(valid_scores_of)
    test = member_scores(test_of)
    return {
        name: (
            calibrate_fn(np.asarray(valid[name], np.float64)),
            np.asarray(test[name], np.float64),
        )
        for name in valid
    }


def compare(
    models: dict[str, tuple[np.ndarray, np.ndarray]],
    table: Table,
    rows: np.ndarray,
    spec: ObjectiveSpec,
) -> list[dict[str, Any]]:
    """One row of metrics per model from its stitched (scores, per-row thresholds)."""
    returns = table.labels[f"ret_{spec.horizon}h"][rows]
    hours = hours_of(table.timestamps[rows])
    return [
        {"model": name, **_metrics(scores, thresholds, returns, hours, spec)}
        for name, (scores, thresholds) in models.items()
    ]


def _metrics(
    scores: np.ndarray,
    thresholds: np.ndarray,
    returns: np.ndarray,
    hours: np.ndarray,
    spec: ObjectiveSpec,
) -> dict[str, float]:
    ok = np.isfinite(scores)
    pred = scores[ok] > thresholds[ok]
    up = returns[ok] > 0
    tp, fp, fn = (float(np.sum(pred & up)), float(np.sum(pred & ~up)), float(np.sum(~pred & up)))
    decide = decision_rows(hours[ok], spec.horizon)
    pos = np.where(pred[decide], 1.0, -1.0 if spec.allow_short else 0.0)
    ret = returns[ok][decide]
    net = net_returns(pos, ret, spec.cost_bps)
    traded = pos != 0
    return {
        "f1_up": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
        "up_recall": tp / (tp + fn) if tp + fn else 0.0,
        "hit_rate": float(np.mean(pos[traded] * ret[traded] > 0)) if traded.any() else 0.0,
        "n_trades": int(traded.sum()),
        "max_drawdown": max_drawdown(net),
        "net_return": float(np.prod(1.0 + net) - 1.0),
        "hours_scored": int(ok.sum()),
    }
