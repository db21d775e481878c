"""With ``split.embargo_hours: null`` (the default) every entrypoint leaves the label horizon
between parts: a 4h label of the last training hour must end before validation begins."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from tests.conftest import TINY
from trainer.train import train
from trainer.write_splits import main as write_npz


def _gaps(bounds: dict[str, list[str]]) -> tuple[np.timedelta64, np.timedelta64]:
    """Hours from each part's last row to the next part's first row."""

    def at(text: str) -> np.datetime64:
        return np.datetime64(text.rstrip("Z"), "h")

    return (
        at(bounds["valid"][0]) - at(bounds["train"][1]),
        at(bounds["test"][0]) - at(bounds["valid"][1]),
    )


def test_a_4h_run_leaves_four_hours_between_its_parts_by_default(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    cfg = compose_cfg("target.horizon=4h", "model.n_estimators=3", "data.end=2022-09-30")
    assert cfg.split.embargo_hours is None
    train(cfg, tmp_path)
    bounds = json.loads((tmp_path / "metadata.json").read_text())["split"]["bounds"]
    # the last training row's label spans [t, t+4h]: the next part starts at t+5h
    assert _gaps(bounds) == (np.timedelta64(5, "h"), np.timedelta64(5, "h"))


def test_prepared_splits_are_cut_with_the_label_horizon_by_default(tmp_path: Path) -> None:
    out = tmp_path / "artifacts"
    paths = write_npz([*TINY, "target.horizon=4h", f"artifacts_dir={out}"])
    meta = json.loads(paths[0].with_suffix(".json").read_text())
    assert meta["split"]["embargo_hours"] == 4
    assert _gaps(meta["split"]["bounds"]) == (np.timedelta64(5, "h"), np.timedelta64(5, "h"))
