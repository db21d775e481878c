"""python -m evaluation run=PATH [evaluation key=value ...] [run override ...]
python -m evaluation verify=PATH

Composes conf/evaluation.yaml and calls ``evaluation.cli.run``. Overrides of the evaluated
run's config may be given bare (``data.signal_strength=0``, ``data=csv data.path=F``) or as
``'overrides=[data.signal_strength=0]'``. Exit code 0: passed (promoted), 3: not promoted,
2: user error (one line on stderr), 4: verify mismatch.
"""

from __future__ import annotations

import sys

from omegaconf import DictConfig

from evaluation.cli import route_overrides
from evaluation.config import register
from trainer.cli import fail, run_entrypoint
from trainer.errors import UserError
from trainer.hydra_app import hydra_app

register()


@hydra_app("evaluation")
def main(cfg: DictConfig) -> None:
    from evaluation.cli import run

    try:
        code = run(cfg)
    except UserError as exc:  # here, not in Hydra's job runner, which would add a line
        fail(str(exc))
    if code:
        raise SystemExit(code)


if __name__ == "__main__":
    sys.argv = [sys.argv[0], *route_overrides(sys.argv[1:])]
    run_entrypoint(main)
