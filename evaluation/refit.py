"""The model an evaluation promotes: the evaluated recipe fitted on the walk-forward's next fold.

Called by ``evaluate`` after the walk-forward. The folds judged a recipe (config, data,
features, decision rule) retrained each step; the next step's model is that recipe trained and
calibrated the same way on the newest data: a valid part of ``valid/test`` steps ending at the
table's last complete hour, a train part of ``train/test`` steps before it, the walk-forward's
embargo between them, the threshold calibrated on that valid part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evaluation.config import WalkForwardConfig
from trainer.config import TrainConfig
from trainer.dataset import Prepared, Table, prepare
from trainer.errors import UserError
from trainer.fit import calibrate_on, evaluate_scores, fit_learner, objective_spec
from trainer.learners.base import FitContext, Learner, NullReporter
from trainer.splits import MIN_PART_ROWS, Fold
from trainer.trading import Rule
from trainer.train import run_metadata

NEXT_FOLD = "next"


@dataclass(frozen=True)
class Refit:
    learner: Learner
    prepared: Prepared
    rule: Rule  # the decision rule calibrated on the valid part
    valid_scores: np.ndarray  # (rows of the valid part,)
    metrics: dict[str, Any]  # {"valid": ..., "threshold": ...}
    metadata: dict[str, Any]  # what metadata.json of the promoted run holds

    @property
    def threshold(self) -> float:
        return self.rule.upper

    @property
    def bounds(self) -> dict[str, list[str]]:
        return dict(self.metadata["split"]["bounds"])


def next_fold(wf: WalkForwardConfig, timestamps: np.ndarray, embargo_hours: int) -> Fold:
    """Train and valid parts in the walk-forward's proportions, ending at the last row."""
    end = pd.Timestamp(timestamps[-1]) + pd.Timedelta(hours=1)  # exclusive
    step = end - (end - pd.DateOffset(months=wf.step_months))
    embargo = pd.Timedelta(hours=embargo_hours)
    v0 = end - step * (wf.valid / wf.test)
    tr0 = v0 - embargo - step * (wf.train / wf.test)

    def rows(a: pd.Timestamp, b: pd.Timestamp) -> slice:
        lo = int(np.searchsorted(timestamps, a.to_datetime64()))
        hi = int(np.searchsorted(timestamps, b.to_datetime64()))
        return slice(lo, hi)

    n = timestamps.shape[0]
    fold = Fold(NEXT_FOLD, rows(tr0, v0 - embargo), rows(v0, end), slice(n, n))
    for part in ("train", "valid"):
        s: slice = getattr(fold, part)
        if s.stop - s.start < MIN_PART_ROWS:
            raise UserError(
                f"walk_forward: the refit's {part} part has {s.stop - s.start} rows (at least"
                f" {MIN_PART_ROWS}); the data is too short to refit the recipe for promotion"
            )
    return fold


def refit(conf: TrainConfig, context: FitContext, table: Table, fold: Fold) -> Refit:
    """Fit ``conf`` on the fold's train part and calibrate its threshold on valid."""

    spec = objective_spec(conf)
    prepared = prepare(table, fold, conf.target.hours, conf.target.task, conf.features.constant_tol)
    learner = fit_learner(conf, prepared, context, NullReporter())
    valid = prepared.valid
    scores = np.asarray(learner.predict(valid), dtype=np.float64)
    rule = calibrate_on(scores, valid, spec)
    metrics = {
        "valid": evaluate_scores(scores, rule, valid, spec, conf.target.task),
        "threshold": rule.upper,
        "rule": rule.to_json(),
    }
    ts = table.timestamps
    bounds = {
        part: [_iso(ts[s.start]), _iso(ts[s.stop - 1])]
        for part, s in (("train", fold.train), ("valid", fold.valid))
    }
    metadata = run_metadata(conf, prepared, rule, context, bounds)
    return Refit(learner, prepared, rule, scores, metrics, metadata)


def _iso(t: np.datetime64) -> str:
    return str(pd.Timestamp(t).isoformat()) + "Z"
