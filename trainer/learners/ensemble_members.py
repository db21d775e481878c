"""The members of an ensemble (``python -m trainer model=ensemble``): build or load each one.

A ``model:`` member is a fresh learner of that family: the family's schema defaults plus the
member's ``overrides``, range-checked like a command line. A ``path:`` member is a saved run (or
a study's ``best/``) used as it was saved; it must predict the same target and horizon, and its
features must be among this run's. Its inputs are mapped from this run's scaling to its own
(``InputMap``), so it always meets its features scaled as when it was trained.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainer.data.config import HORIZONS
from trainer.errors import UserError
from trainer.learners import LEARNER_FILE
from trainer.learners.base import FitContext, Learner, SplitData
from trainer.learners.config import MemberConfig
from trainer.learners.saved import MODEL_DIR, load_checked_model, read_metadata
from trainer.scaling import Scaler


@dataclass(frozen=True)
class InputMap:
    """This run's scaled features -> a path member's: pick its columns, undo this run's scaler,
    apply the member's. Stored as one affine map per column: x_member = x * gain + offset."""

    columns: np.ndarray  # (m,) int64 positions of the member's features in this run's
    gain: np.ndarray  # (m,) float64
    offset: np.ndarray  # (m,) float64

    def apply(self, data: SplitData) -> SplitData:
        X = (data.X[:, self.columns].astype(np.float64) * self.gain + self.offset).astype(
            np.float32
        )
        return SplitData(X, data.y, data.returns, data.timestamps, data.segment)

    def to_json(self) -> dict[str, list[Any]]:
        return {
            "columns": self.columns.tolist(),
            "gain": self.gain.tolist(),
            "offset": self.offset.tolist(),
        }

    @classmethod
    def from_json(cls, data: dict[str, list[Any]]) -> InputMap:
        return cls(
            np.asarray(data["columns"], np.int64),
            np.asarray(data["gain"], np.float64),
            np.asarray(data["offset"], np.float64),
        )


def input_map(
    run_features: tuple[str, ...],
    run_mean: np.ndarray,
    run_scale: np.ndarray,
    member_features: list[str],
    member_mean: np.ndarray,
    member_scale: np.ndarray,
) -> InputMap:
    """x_raw = x * run_scale + run_mean; x_member = (x_raw - member_mean) / member_scale."""
    position = {name: i for i, name in enumerate(run_features)}
    columns = np.asarray([position[name] for name in member_features], np.int64)
    gain = run_scale[columns] / member_scale
    offset = (run_mean[columns] - member_mean) / member_scale
    return InputMap(columns, np.asarray(gain, np.float64), np.asarray(offset, np.float64))


@dataclass(frozen=True)
class PathMember:
    learner: Learner
    model_name: str  # registry name of the saved learner (how to load it back)
    inputs: InputMap
    trained_until: np.datetime64  # last timestamp of the saved run's training part


def load_path_member(member: MemberConfig, context: FitContext) -> PathMember:
    """Load a saved run as a member, after checking it fits this run's target and features."""
    where = f"model.members ({member.name}) path={member.path}"
    assert member.path is not None
    root = Path(member.path)
    if not root.is_dir():
        raise UserError(f"{where}: no such run directory (a run's output or a study's best/)")
    try:
        metadata = read_metadata(root)
        learner = load_checked_model(root, metadata)
        model_name = str(json.loads((root / MODEL_DIR / LEARNER_FILE).read_text())["name"])
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None
    feature_names = list(metadata["feature_names"])
    target = metadata["target"]
    horizon = HORIZONS.get(str(target.get("horizon")))
    if target.get("task") != context.task or horizon != context.horizon:
        raise UserError(
            f"{where}: trained for target.task={target.get('task')}, target.horizon="
            f"{target.get('horizon')}; this run is target.task={context.task},"
            f" target.horizon={context.horizon}h. Use a member trained for the same target"
        )
    if not context.feature_names or context.scaler_mean is None or context.scaler_scale is None:
        raise RuntimeError("a path member needs context.feature_names and the scaler statistics")
    missing = [f for f in feature_names if f not in context.feature_names]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise UserError(
            f"{where}: {len(missing)} of its features are not in this run's data ({shown});"
            " train the member on the same data source and features"
        )
    scaler = Scaler.from_json(metadata["scaler"])
    if scaler.mean.shape != (len(feature_names),):
        raise UserError(f"{where}: metadata.json scaler does not match its feature_names")
    inputs = input_map(
        context.feature_names,
        np.asarray(context.scaler_mean, np.float64),
        np.asarray(context.scaler_scale, np.float64),
        feature_names,
        scaler.mean,
        np.asarray(scaler.scale, np.float64),
    )
    try:
        trained_until = parse_utc(metadata["split"]["bounds"]["train"][1])
    except (KeyError, TypeError, IndexError, ValueError):
        raise UserError(f"{where}: metadata.json has no split.bounds.train (tampered?)") from None
    return PathMember(learner, model_name, inputs, trained_until)


def parse_utc(text: str) -> np.datetime64:
    """'2023-01-01T00:00:00Z' -> naive UTC datetime64[ns], as SplitData.timestamps."""
    stamp = pd.Timestamp(text)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return np.datetime64(int(stamp.as_unit("ns").value), "ns")
