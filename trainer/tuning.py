"""The job side of a study: links a run to its Optuna trial (the sweeper engineer extends this)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainer.config import TrialConfig
from trainer.learners.base import NullReporter, Reporter


def make_reporter(trial: TrialConfig) -> Reporter:
    return NullReporter()


def record_trial(
    trial: TrialConfig, metrics: dict[str, Any], run_dir: Path, data_hash: str, seed: int
) -> None:
    return None
