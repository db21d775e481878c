"""python -m trainer.write_splits [data=binance_btc data.root=../shared/data] [target.horizon=4h]

Writes the prepared splits of the run these overrides compose (same data, features and holdout
cut) as ``<artifacts_dir>/datasets/btc_features_multi_horizon_splits.npz`` and
``btc_features_1h_direction_splits.npz``, each with its JSON sidecar (``trainer.data.npz``
says what they hold). ``python -m trainer data=npz data.path=<file>`` trains on them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

from trainer.config import register, validate
from trainer.data.npz import write_splits
from trainer.dataset import build_table
from trainer.errors import UserError
from trainer.fit import folds_for


def main(argv: list[str]) -> list[Path]:
    """Compose the training config with ``argv`` overrides and write both files."""
    register()
    conf_dir = Path(__file__).resolve().parents[1] / "conf"
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        conf = validate(compose("train", overrides=argv))
    if conf.data.source == "npz":
        raise UserError("data=npz: write prepared splits from a market source, not from an npz")
    table = build_table(conf.data, conf.features)
    folds = folds_for(conf, table)
    if len(folds) != 1:
        raise UserError("split=walk_forward: prepared splits hold one cut; use split=holdout")
    embargo = (
        conf.split.embargo_hours if conf.split.embargo_hours is not None else conf.target.hours
    )
    paths = write_splits(Path(conf.artifacts_dir) / "datasets", table, folds[0], embargo)
    for p in paths:
        print(p)
    return paths


if __name__ == "__main__":
    from trainer.cli import run_entrypoint

    run_entrypoint(lambda: main(sys.argv[1:]))
