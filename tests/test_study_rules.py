"""Studies that cannot go on as they are: changed data, failed first trials, nothing left to run.

End to end through ``python -m trainer -m`` in a subprocess (each ~10 s), on a small csv market
so a test can change the data under a running study.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest

from tests.conftest import run_cli

ROWS = 24 * 90
SWEEP = (
    "progress=false",
    "model.n_estimators=10",
    "hydra.sweeper.reproduce_seeds=0",
    "hardware.threads=1",
)


def _market(rows: int = ROWS) -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=rows, freq="h", tz="UTC")
    close = 40000 * np.exp(np.cumsum(0.004 * np.random.default_rng(0).standard_normal(rows)))
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


def append_a_day_at_trial_1(cfg: Any, trial: optuna.trial.Trial) -> None:
    """``custom_search_space`` hook: a feed appends 24 hours just before trial 1 runs."""
    if trial.number != 1:
        return
    path = Path(str(cfg.data.path))
    _market(ROWS + 24).iloc[ROWS:].to_csv(path, mode="a", header=False, index=False)


def _trials(study_dir: Path) -> list[optuna.trial.FrozenTrial]:
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    storage = JournalStorage(JournalFileBackend(str(study_dir / "journal.log")))
    return optuna.load_study(study_name=study_dir.name, storage=storage).get_trials()


@pytest.mark.slow
def test_a_study_stops_when_its_data_changes_between_trials(tmp_path: Path) -> None:
    csv = tmp_path / "feed.csv"
    _market().to_csv(csv, index=False)
    proc = run_cli(
        "trainer",
        *SWEEP,
        "data=csv",
        f"data.path={csv}",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.study_name=feed",
        f"hydra.sweeper.custom_search_space={__name__}.append_a_day_at_trial_1",
        "-m",
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "the data changed during the study" in errors[0]
    assert "Traceback" not in proc.stderr
    trials = _trials(tmp_path / "artifacts" / "studies" / "feed")
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL"]  # stopped at once
    first, refused = trials
    assert first.user_attrs["data_hash"] != refused.user_attrs["data_hash"]  # both recorded
