"""The learner registry: model name -> class, imported lazily so a tree run never loads torch."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from trainer.errors import UserError
from trainer.learners.base import FitContext, Learner

# name -> (module, class); the module is imported only when the learner is built or loaded
REGISTRY: dict[str, tuple[str, str]] = {
    "xgboost": ("trainer.learners.trees", "XGBoostLearner"),
    "lightgbm": ("trainer.learners.trees", "LightGBMLearner"),
    "lstm": ("trainer.learners.sequence", "LSTMLearner"),
    "transformer": ("trainer.learners.sequence", "TransformerLearner"),
    "ensemble": ("trainer.learners.ensemble", "EnsembleLearner"),
}
LEARNER_FILE = "learner.json"


def learner_class(name: str) -> Any:
    if name not in REGISTRY:
        raise UserError(f"model.name={name!r}: must be one of {', '.join(REGISTRY)}")
    module, cls = REGISTRY[name]
    return getattr(importlib.import_module(module), cls)


def build_learner(params: Any, context: FitContext) -> Learner:
    """A fresh learner for the model config ``params`` (a schema dataclass)."""
    learner: Learner = learner_class(params.name)(params, context)
    return learner


def save_learner(learner: Learner, name: str, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    learner.save(directory)
    (directory / LEARNER_FILE).write_text(json.dumps({"name": name}))


def load_learner(directory: Path) -> Learner:
    """Load a learner saved by ``save_learner`` (no pickle: each family's own format)."""
    meta = directory / LEARNER_FILE
    if not meta.is_file():
        raise UserError(f"{directory}: no {LEARNER_FILE}; not a saved quantsweep model directory")
    try:
        name = json.loads(meta.read_text())["name"]
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{meta}: unreadable or tampered (expected JSON with a 'name')") from None
    loaded: Learner = learner_class(name).load(directory)
    return loaded
