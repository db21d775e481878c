"""The hybrid ensemble: ``python -m trainer model=ensemble`` (``model.method=stacking|blending``).

Members (conf/model/ensemble.yaml; by default XGBoost and an LSTM, both 1h) are combined by a
meta-learner on their scores (stacking: logistic regression, ridge for regression, or a small
LightGBM) or by non-negative weights summing to 1 (blending).

Out-of-sample scheme. The issue suggests fitting the combiner on the first part of valid and
the threshold on the rest. We use an equivalent scheme that keeps all of valid for the
threshold, as every other learner does, and needs no change to the trainer:

    train:  [ train_a: members fit here ][embargo][ train_b: combiner fits here ]
    valid:  members' early stopping; the trainer calibrates the ensemble's threshold
    test:   touched once, by the trainer, for the final metrics

``train_b`` is the last ``model.meta_fraction`` of train, after an embargo of the label
horizon, so no label of ``train_a`` overlaps it. Members trained in the run never see
``train_b``, so the combiner only meets out-of-sample member scores, and neither sees valid or
test labels (members read valid only to stop early, like single learners). A ``path:`` member
(a saved run, not refitted) is out-of-sample only after its own training part ends, so the
combiner uses the rows of ``train_b`` past that point, and the fit stops with a clear error when
too few remain (a member trained on this run's period would hand the combiner in-sample scores,
teaching it to trust that member more than it deserves).

Members with different sequence lengths predict NaN where their window is not full; the
ensemble predicts only rows where every member can, and its combiner fits on those rows only.
Walk-forward evaluation builds a fresh ensemble per fold, so members and combiner are refitted.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from trainer.errors import UserError
from trainer.learners import build_learner, load_learner, save_learner
from trainer.learners.base import FitContext, Learner, NullReporter, Reporter, SplitData
from trainer.learners.config import EnsembleConfig, MemberConfig, member_params
from trainer.learners.ensemble_combiners import (
    Combiner,
    fit_combiner,
    load_combiner,
    save_combiner,
)
from trainer.learners.ensemble_members import InputMap, load_path_member

ENSEMBLE_FILE = "ensemble.json"
MEMBERS_DIR = "members"
MIN_PART_ROWS = 100  # fewest rows to fit members on (train_a) or the combiner on (train_b)


def meta_parts(train: SplitData, meta_fraction: float, horizon: int) -> tuple[SplitData, SplitData]:
    """(train_a, train_b): train_b the last ``meta_fraction`` of train's rows, train_a the rows
    whose label horizon ends before train_b's first hour (an embargo of ``horizon`` hours)."""
    n = len(train)
    cut = int(n * (1.0 - meta_fraction))
    if cut >= n:
        cut = n - 1
    embargo = np.timedelta64(horizon, "h")
    end_a = int(np.searchsorted(train.timestamps, train.timestamps[cut] - embargo, side="left"))
    for part, rows in (("members (train_a)", end_a), ("combiner (train_b)", n - cut)):
        if rows < MIN_PART_ROWS:
            raise UserError(
                f"model.meta_fraction={meta_fraction}: leaves {rows} training rows for the"
                f" {part}, at least {MIN_PART_ROWS} needed; use more data or another fraction"
            )
    return train.subset(slice(0, end_a)), train.subset(slice(cut, n))


class Member:
    """One fitted member: its learner, and for a path member the map onto its inputs."""

    def __init__(self, name: str, model_name: str, learner: Learner, inputs: InputMap | None):
        self.name = name
        self.model_name = model_name  # registry name, to save and load its learner
        self.learner = learner
        self.inputs = inputs

    def predict(self, data: SplitData) -> np.ndarray:
        seen = self.inputs.apply(data) if self.inputs is not None else data
        return np.asarray(self.learner.predict(seen), np.float64)


class EnsembleLearner:
    def __init__(self, params: EnsembleConfig, context: FitContext | None = None) -> None:
        self.params = params
        self.context = context
        self.task = context.task if context else "direction"

    def fit(self, train: SplitData, valid: SplitData, reporter: Reporter) -> EnsembleLearner:
        ctx = self.context
        if ctx is None:
            raise RuntimeError("EnsembleLearner.fit needs a FitContext")
        train_a, train_b = meta_parts(train, self.params.meta_fraction, ctx.horizon)
        configs = self.params.used_members()
        # Saved members first: they are cheap to load and check, so a bad path or target stops
        # the run before any member is trained.
        saved: dict[str, Member] = {}
        usable = np.ones(len(train_b), dtype=bool)  # rows of train_b out-of-sample for all
        for config in (c for c in configs if c.path is not None):
            loaded = load_path_member(config, ctx)
            saved[config.name] = Member(
                config.name, loaded.model_name, loaded.learner, loaded.inputs
            )
            usable &= train_b.timestamps > loaded.trained_until + np.timedelta64(ctx.horizon, "h")
            self._check_out_of_sample(config, loaded.trained_until, train_b, usable)
        self.members_ = [
            saved[c.name] if c.name in saved else self._fit_member(c, ctx, train_a, valid)
            for c in configs
        ]
        scores = self._score_matrix(train_b)
        rows = usable & np.isfinite(scores).all(axis=1)
        if rows.sum() < MIN_PART_ROWS:
            raise UserError(
                f"model.members: all members together predict on only {int(rows.sum())} rows of the"
                f" combiner's part of train (at least {MIN_PART_ROWS} needed); shorten the"
                " sequence members' sequence_len or raise model.meta_fraction"
            )
        self.combiner_: Combiner = fit_combiner(
            self.params.method,
            self.params.meta_learner,
            scores[rows],
            train_b.y[rows],
            self.task,
            self.params.meta_c,
            ctx.seed,
            ctx.threads,
        )
        # The hours the combiner was fitted on, kept for audits (always inside train).
        picked = train_b.timestamps[rows]
        self.meta_span_ = (str(picked[0]), str(picked[-1]), int(rows.sum()))
        if reporter.active and ctx.score is not None:
            valid_scores = self.predict(valid)
            ok = np.isfinite(valid_scores)
            part = SplitData(
                valid.X[ok], valid.y[ok], valid.returns[ok], valid.timestamps[ok], valid.segment[ok]
            )
            reporter.report(ctx.score(valid_scores[ok], part), 1)
        return self

    @staticmethod
    def _fit_member(
        config: MemberConfig, ctx: FitContext, train_a: SplitData, valid: SplitData
    ) -> Member:
        assert config.model is not None
        learner = build_learner(member_params(config), ctx)
        # Members report nothing to a trial: their intermediate values are not the ensemble's
        # objective, which is reported once the combiner is fitted.
        learner.fit(train_a, valid, NullReporter())
        return Member(config.name, config.model, learner, None)

    @staticmethod
    def _check_out_of_sample(
        config: MemberConfig, trained_until: np.datetime64, train_b: SplitData, usable: np.ndarray
    ) -> None:
        if usable.sum() >= MIN_PART_ROWS:
            return
        raise UserError(
            f"model.members ({config.name}) path={config.path}: trained on data up to"
            f" {str(trained_until)[:16]}, so its scores on this run's combiner rows"
            f" ({str(train_b.timestamps[0])[:16]} to {str(train_b.timestamps[-1])[:16]}) are"
            f" in-sample; at least {MIN_PART_ROWS} later rows are needed. Use a member trained"
            " on an earlier period (data.end), or train it in the run with 'model:'"
        )

    def _score_matrix(self, data: SplitData) -> np.ndarray:
        """(n_rows, n_members) member scores, NaN where a member cannot predict."""
        return np.column_stack([m.predict(data) for m in self.members_])

    def member_scores(self, data: SplitData) -> dict[str, np.ndarray]:
        """Each member's own scores, (n_rows,) each, for side-by-side reports."""
        return {m.name: m.predict(data) for m in self.members_}

    def predict(self, data: SplitData) -> np.ndarray:
        scores = self._score_matrix(data)
        ok = np.isfinite(scores).all(axis=1)
        out = np.full(len(data), np.nan)
        if ok.any():
            out[ok] = self.combiner_.predict(scores[ok])
        return out

    def summary(self) -> dict[str, Any]:
        """Members, the combiner and its weights per member (tree: gain importances)."""
        return {
            "method": self.params.method,
            "combiner": self.combiner_.kind,
            "members": [m.name for m in self.members_],
            "weights": dict(
                zip([m.name for m in self.members_], self.combiner_.weights.tolist(), strict=True)
            ),
            "meta_rows": {
                "first": self.meta_span_[0],
                "last": self.meta_span_[1],
                "n": self.meta_span_[2],
            },
        }

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for m in self.members_:
            save_learner(m.learner, m.model_name, directory / MEMBERS_DIR / m.name)
        save_combiner(self.combiner_, directory)
        meta = {
            "params": asdict(self.params),
            "task": self.task,
            "members": [
                {
                    "name": m.name,
                    "model": m.model_name,
                    "inputs": None if m.inputs is None else m.inputs.to_json(),
                }
                for m in self.members_
            ],
            "meta_span": list(self.meta_span_),
        }
        (directory / ENSEMBLE_FILE).write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: Path) -> EnsembleLearner:
        path = directory / ENSEMBLE_FILE
        try:
            meta = json.loads(path.read_text())
            raw = dict(meta["params"])
            raw["members"] = [MemberConfig(**m) for m in raw["members"]]
            params = EnsembleConfig(**raw)
            entries = [(str(e["name"]), str(e["model"]), e["inputs"]) for e in meta["members"]]
            span = meta["meta_span"]
        except FileNotFoundError:
            raise UserError(f"{path}: missing; the ensemble directory is incomplete") from None
        except (ValueError, KeyError, TypeError):
            raise UserError(
                f"{path}: unreadable or tampered (expected the ensemble's JSON)"
            ) from None
        learner = cls(params)
        learner.task = str(meta["task"])
        learner.members_ = [
            Member(
                name,
                model_name,
                load_learner(directory / MEMBERS_DIR / name),
                None if inputs is None else InputMap.from_json(inputs),
            )
            for name, model_name, inputs in entries
        ]
        learner.combiner_ = load_combiner(directory)
        learner.meta_span_ = (str(span[0]), str(span[1]), int(span[2]))
        return learner
