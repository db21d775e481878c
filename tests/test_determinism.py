"""The same seed gives bit-identical results for every learner on CPU, across two processes.

Each family is trained twice by ``python -m trainer`` in two separate processes at once (tiny
configs: a year of market, 20 boosting rounds, one epoch over every 8th window of a small
network); their ``metrics.json`` must be byte for byte the same, and so must the saved model
files (compared through the sha256 digests each run records in ``metadata.json``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE = (
    "progress=false",
    "data.start=2022-01-01",
    "data.end=2022-12-31",
    "hardware=cpu",
    "hardware.threads=1",  # the two processes run side by side, one core each
)
SEQUENCE = ("model.max_epochs=1", "model.train_stride=8")
FAMILIES = {
    "xgboost": ("model=xgboost", "model.n_estimators=20"),
    "lightgbm": ("model=lightgbm", "model.n_estimators=20"),
    "lstm": ("model=lstm", *SEQUENCE, "model.hidden_dim=16", "model.num_layers=1"),
    "transformer": (
        "model=transformer",
        *SEQUENCE,
        "model.d_model=16",
        "model.num_heads=2",
        "model.feedforward_dim=32",
    ),
    "ensemble": (
        "model=ensemble",
        "model.use=xgb+lstm",
        "+model.members.0.overrides.n_estimators=20",
        "model.members.1.overrides.max_epochs=1",
        "model.members.1.overrides.hidden_dim=16",
    ),
}


def _train_twice(args: tuple[str, ...], root: Path, seed: int) -> list[Path]:
    runs = [root / f"process{i}" for i in range(2)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "trainer", *BASE, *args, f"seed={seed}", f"hydra.run.dir={r}"],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        for r in runs
    ]
    errors = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-3000:] for e in errors]
    return runs


@pytest.mark.parametrize("family", list(FAMILIES))
def test_the_same_seed_gives_bit_identical_metrics_in_two_processes(
    family: str, tmp_path: Path
) -> None:
    first, second = _train_twice(FAMILIES[family], tmp_path, seed=7)
    metrics = [(r / "metrics.json").read_bytes() for r in (first, second)]
    assert metrics[0] == metrics[1]
    meta = [json.loads((r / "metadata.json").read_text()) for r in (first, second)]
    assert meta[0]["seed"] == meta[1]["seed"] == 7
    assert meta[0]["model_sha256"] == meta[1]["model_sha256"]
    # the runs really trained something worth comparing: a finite objective, some trades
    valid = json.loads(metrics[0])["valid"]
    assert valid["objective"] == valid["objective"] and valid["n_trades"] > 0
