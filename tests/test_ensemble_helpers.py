"""Synthetic parts and stand-in learners shared by the ensemble tests (no market, no torch).

Holds no tests; named test_ensemble_* to sit with the files it serves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from trainer.fit import make_scorer
from trainer.learners.base import FitContext, SplitData
from trainer.learners.config import EnsembleConfig, MemberConfig
from trainer.objective import ObjectiveSpec

N_FEATURES = 5
FEATURES = tuple(f"f{i}" for i in range(N_FEATURES))
START = np.datetime64("2022-01-01T00:00:00", "ns")
SPEC = ObjectiveSpec(
    metric="f1", drawdown_penalty=1.0, drawdown_limit=-0.10, horizon=1, cost_bps=7.0
)


def make_parts(
    n_train: int = 2000,
    n_valid: int = 500,
    n_test: int = 500,
    seed: int = 0,
    task: str = "direction",
) -> tuple[SplitData, SplitData, SplitData]:
    """Hourly rows whose next return leans on f0 (and a little on f1), in time order."""
    rng = np.random.default_rng(seed)
    n = n_train + n_valid + n_test
    X = rng.standard_normal((n, N_FEATURES)).astype(np.float32)
    returns = 0.004 * X[:, 0] + 0.002 * X[:, 1] + 0.01 * rng.standard_normal(n)
    y = (returns > 0).astype(np.float64) if task == "direction" else returns
    timestamps = START + np.arange(n).astype("timedelta64[h]").astype("timedelta64[ns]")
    segment = np.zeros(n, dtype=np.int64)
    full = SplitData(X, y, returns, timestamps, segment)
    # holdout cut with a 1-hour embargo between parts, as trainer.splits does
    return (
        full.subset(slice(0, n_train - 1)),
        full.subset(slice(n_train, n_train + n_valid - 1)),
        full.subset(slice(n_train + n_valid, n)),
    )


def make_context(task: str = "direction", horizon: int = 1) -> FitContext:
    return FitContext(
        task=task,
        seed=0,
        threads=1,
        score=make_scorer(SPEC),
        feature_names=FEATURES,
        scaler_mean=np.zeros(N_FEATURES),
        scaler_scale=np.ones(N_FEATURES),
        horizon=horizon,
    )


TINY_TREES = {"n_estimators": "20", "early_stopping_rounds": "0"}


def tree_members() -> list[MemberConfig]:
    return [
        MemberConfig(name="xgb", model="xgboost", overrides={**TINY_TREES, "max_depth": "3"}),
        MemberConfig(name="lgbm", model="lightgbm", overrides={**TINY_TREES, "num_leaves": "7"}),
    ]


def ensemble_config(members: list[MemberConfig] | None = None, **kwargs: Any) -> EnsembleConfig:
    return EnsembleConfig(members=members if members is not None else tree_members(), **kwargs)


class WindowStub:
    """Stands in for a sequence learner (registered as lstm/transformer by monkeypatch): NaN
    until ``sequence_len`` rows of the part are seen, then a squashed copy of f0."""

    def __init__(self, params: Any, context: FitContext | None = None) -> None:
        self.params = params
        self.task = context.task if context else "direction"

    def fit(self, train: SplitData, valid: SplitData, reporter: Any) -> WindowStub:
        self.fitted_until_ = train.timestamps[-1]
        return self

    def predict(self, data: SplitData) -> np.ndarray:
        out = 1.0 / (1.0 + np.exp(-0.5 * data.X[:, 0].astype(np.float64)))
        out[: self.params.sequence_len - 1] = np.nan
        return out

    def save(self, directory: Path) -> None:
        (directory / "stub.json").write_text(json.dumps({"sequence_len": self.params.sequence_len}))

    @classmethod
    def load(cls, directory: Path) -> WindowStub:
        from trainer.learners.config import LSTMConfig

        length = json.loads((directory / "stub.json").read_text())["sequence_len"]
        return cls(LSTMConfig(sequence_len=length))
