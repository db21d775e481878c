"""The contract every learner keeps, so the trainer never asks which family it holds.

A learner follows scikit-learn's habits: ``__init__`` stores hyperparameters unchanged,
``fit`` returns ``self``, learned state ends in ``_``, randomness comes only from ``seed``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class SplitData:
    """One part of the data (train, valid or test), rows in time order.

    ``X`` is usually a view into the full scaled feature matrix, so sequence learners can
    build windows without copying. A window may only use rows of this part whose
    ``segment`` equals the segment of its last row (segments change at data gaps). The parts
    ``trainer.dataset.prepare`` cuts are read-only: the trials of a sweep share them, so a
    learner copies what it wants to change.
    """

    X: np.ndarray  # (n_rows, n_features) float32, scaled with train statistics
    y: np.ndarray  # (n_rows,) target: direction in {0, 1} or forward log return
    returns: np.ndarray  # (n_rows,) forward log return over the horizon (for trading metrics)
    timestamps: np.ndarray  # (n_rows,) datetime64[ns], UTC, the hour the features are known
    segment: np.ndarray  # (n_rows,) int64, constant over a run of consecutive hours
    # The libraries' objects built on this part (DMatrix, Dataset), kept for the next trials
    # of a sweep: a dict only on the parts a ``TrialCache`` shares, None on any other part.
    library: dict[Hashable, Any] | None = field(default=None, compare=False, repr=False)

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def subset(self, rows: slice) -> SplitData:
        """A contiguous sub-range, still views (used to split valid for stacking)."""
        return SplitData(
            self.X[rows],
            self.y[rows],
            self.returns[rows],
            self.timestamps[rows],
            self.segment[rows],
        )


@dataclass(frozen=True)
class FitContext:
    """What a learner needs from the run besides its hyperparameters.

    ``score`` is the validation objective of raw predictions (higher is better, the threshold
    calibrated inside); learners use it for reports to a trial and for early stopping.
    """

    task: str  # direction | regression
    seed: int
    threads: int  # CPU threads this process may use
    device: str = "cpu"  # resolved device: cpu | cuda
    precision: str = "fp32"  # fp32 | bf16 | fp16 (CUDA mixed precision)
    batch_size: int | None = None  # hardware override of the model's batch size
    tf32: bool = False
    cudnn_benchmark: bool = False
    progress: bool = False
    score: Callable[[np.ndarray, SplitData], float] | None = None
    # The input space of this fold (set by the trainer per fold): learners that reuse a model
    # trained elsewhere (ensemble members given by path) map features through these.
    feature_names: tuple[str, ...] = ()
    scaler_mean: np.ndarray | None = None
    scaler_scale: np.ndarray | None = None
    horizon: int = 1  # label horizon in hours (embargo inside learners that split train)


class Reporter(Protocol):
    """Receives an intermediate validation score during fit (per boosting round or epoch).

    ``report`` raises ``optuna.TrialPruned`` when the pruner says so; learners let it pass.
    ``active`` is False outside a study, so learners skip computing values nobody reads.
    """

    @property
    def active(self) -> bool: ...

    def report(self, value: float, step: int) -> None: ...


class NullReporter:
    """The reporter of a run outside a study: listens to nothing, never prunes."""

    active = False

    def report(self, value: float, step: int) -> None:
        pass


@runtime_checkable
class Learner(Protocol):
    """fit/predict/save/load: the whole interface the trainer and evaluation use."""

    task: str  # "direction" or "regression"

    def fit(self, train: SplitData, valid: SplitData, reporter: Reporter) -> Learner: ...

    def predict(self, data: SplitData) -> np.ndarray:
        """Scores per row, (n_rows,) float64: P(up) for direction, predicted log return for
        regression. NaN where the learner cannot predict (a sequence window not yet full)."""
        ...

    def save(self, directory: Path) -> None: ...

    @classmethod
    def load(cls, directory: Path) -> Learner: ...
