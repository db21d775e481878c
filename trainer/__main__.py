"""python -m trainer [group=option ...] [key=value ...] [-m]

Composes conf/train.yaml, validates it against the schemas and calls ``train``; returns the
objective for a sweeper. User mistakes end in one line on stderr and exit code 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from trainer.cli import fail, run_entrypoint
from trainer.config import register
from trainer.errors import UserError
from trainer.hydra_app import hydra_app

if TYPE_CHECKING:
    from trainer.trial_cache import TrialCache

register()


@hydra_app("train")
def main(cfg: DictConfig, trial_cache: TrialCache | None = None) -> float:
    """A run; in a sweep, the sweeper hands each job its process's ``trial_cache``."""
    from trainer.train import train

    hydra_cfg = HydraConfig.get()
    try:
        return train(cfg, Path(hydra_cfg.runtime.output_dir), cache=trial_cache)
    except UserError as exc:
        if hydra_cfg.mode == RunMode.MULTIRUN and hydra_cfg.sweeper.get("mode") != "grid":
            raise  # the Optuna study records the failed trial and decides whether to go on
        # here, not in Hydra's job runner, which would print the overrides on a line of its own
        # (a grid or seed list stops at its first failed job either way)
        fail(str(exc))


if __name__ == "__main__":
    run_entrypoint(main)
