"""python -m evaluation.campaign [campaign=phase2] [campaign.key=value ...] [run override ...]
python -m evaluation.campaign compare='[REPORT,REPORT,...]'

Composes conf/campaign_run.yaml and calls ``evaluation.campaign.run.run``. Overrides of the
studies' trainer config may be given bare (``data=binance_btc data.root=...``). Exit code 0:
every step done, 1: some step failed (the leaderboard says which), 2: user error (one line).
"""

from __future__ import annotations

import sys

from omegaconf import DictConfig

from evaluation.campaign.config import register
from evaluation.cli import route_overrides
from trainer.cli import fail, run_entrypoint
from trainer.errors import UserError
from trainer.hydra_app import hydra_app

register()


@hydra_app("campaign_run")
def main(cfg: DictConfig) -> None:
    from evaluation.campaign.compare import compare
    from evaluation.campaign.run import run, to_schema

    try:
        conf = to_schema(cfg)
        code = compare(conf) if conf.compare is not None else run(conf)
    except UserError as exc:  # here, not in Hydra's job runner, which would add a line
        fail(str(exc))
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the running step was stopped and awaited
        print("interrupted: re-run the same command to resume", file=sys.stderr)
        raise SystemExit(130) from None
    if code:
        raise SystemExit(code)


if __name__ == "__main__":
    sys.argv = [sys.argv[0], *route_overrides(sys.argv[1:])]
    run_entrypoint(main)
