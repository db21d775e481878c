"""python -m trainer [group=option ...] [key=value ...] [-m]

Composes conf/train.yaml, validates it against the schemas and calls ``train``; returns the
objective for a sweeper. User mistakes end in one line on stderr and exit code 2.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from trainer.cli import run_entrypoint
from trainer.config import register

register()


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float:
    from trainer.train import train

    return train(cfg, Path(HydraConfig.get().runtime.output_dir))


if __name__ == "__main__":
    run_entrypoint(main)
