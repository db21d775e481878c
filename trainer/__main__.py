"""python -m trainer [group=option ...] [key=value ...] [-m]

Composes conf/train.yaml, validates it against the schemas and calls ``train``; returns the
objective for a sweeper. User mistakes end in one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from trainer.config import register
from trainer.errors import UserError

register()


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float:
    from trainer.train import train

    try:
        return train(cfg, Path(HydraConfig.get().runtime.output_dir))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
