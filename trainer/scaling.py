"""Per-feature standardisation fitted on the training part only; its statistics travel
with the model in metadata.json."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Scaler:
    mean: np.ndarray  # (n_features,)
    scale: np.ndarray  # (n_features,), 1.0 where the training std is 0

    @classmethod
    def fit(cls, X_train: np.ndarray) -> Scaler:
        mean = X_train.mean(axis=0)
        std = X_train.std(axis=0)
        return cls(mean, np.where(std > 0, std, 1.0))

    def transform(self, X: np.ndarray) -> np.ndarray:
        """(n, f) float32; never refits."""
        return ((X - self.mean) / self.scale).astype(np.float32)

    def to_json(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_json(cls, data: dict[str, list[float]]) -> Scaler:
        return cls(np.asarray(data["mean"], dtype=np.float64), np.asarray(data["scale"]))
