"""Shared fixtures: compose the real config (shrunk) and run outside the repo's outputs/."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from trainer.config import register

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
SHARED_DATA = ROOT.parent / "shared" / "data"

# Small and fast: two years of synthetic market, few boosting rounds, no progress output.
TINY = [
    "data.start=2022-01-01",
    "data.end=2023-06-30",
    "model.n_estimators=40",
    "progress=false",
    "hardware.threads=1",
]


def hourly_market(rows: int, step_vol: float = 0.005) -> pd.DataFrame:
    """A small hourly OHLCV table as a user's csv holds it (ISO timestamps, UTC), from 2024-01-01:
    a seeded random walk with ``step_vol`` log-return steps, for tests of file inputs."""
    index = pd.date_range("2024-01-01", periods=rows, freq="h", tz="UTC")
    close = 40000 * np.exp(np.cumsum(step_vol * np.random.default_rng(0).standard_normal(rows)))
    return pd.DataFrame(
        {
            "timestamp": index.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "open": close,
            "high": close * 1.01,
            "low": close * 0.99,
            "close": close,
            "volume": 100.0,
        }
    )


def train_run(run_dir: Path, overrides: Sequence[str]) -> Path:
    """Train ``train.yaml`` with ``overrides`` into ``run_dir``, laid out as Hydra's run
    directory (``.hydra/config.yaml`` beside the artifacts): a run to evaluate, promote or
    predict with."""
    from trainer.train import train

    register()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides))
    train(cfg, run_dir)
    (run_dir / ".hydra").mkdir()
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    return run_dir


@pytest.fixture
def compose_cfg() -> Callable[..., DictConfig]:
    register()

    def _compose(*overrides: str, tiny: bool = True) -> DictConfig:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose("train", overrides=[*(TINY if tiny else []), *overrides])
        return cfg

    return _compose


def run_cli(
    module: str, *args: str, cwd: Path, timeout: int = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m <module> args`` in a subprocess, outputs under ``cwd``.

    The repository root leads ``PYTHONPATH`` so hooks named by dotted path in tests
    (``tests.<module>.<function>``) import in the child as they do under pytest.
    """
    full_env = {**os.environ, **(env or {})}
    inherited = full_env.get("PYTHONPATH")
    full_env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *([inherited] if inherited else [])])
    full_env.setdefault("OMP_NUM_THREADS", "2")
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )


class RecordingReporter:
    """Keeps every value a learner reports (what a trial would receive)."""

    active = True

    def __init__(self) -> None:
        self.values: list[tuple[int, float]] = []

    def report(self, value: float, step: int) -> None:
        self.values.append((step, value))
