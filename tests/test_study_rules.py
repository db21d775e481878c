"""Studies that cannot go on as they are: changed data, failed first trials, nothing left to run.

End to end through ``python -m trainer -m`` in a subprocess (each ~10 s), on a small csv market
so a test can change the data under a running study.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest

from tests.conftest import hourly_market, run_cli

ROWS = 24 * 90
SWEEP = (
    "progress=false",
    "model.n_estimators=10",
    "hydra.sweeper.reproduce_seeds=0",
    "hardware.threads=1",
)


def _market(rows: int = ROWS) -> pd.DataFrame:
    return hourly_market(rows, step_vol=0.004)


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


# (states of the study's trials, resume allowed with a changed search space)
RESUMES = [
    ((), True),
    (("FAIL",), True),
    (("FAIL", "FAIL", "RUNNING"), True),
    (("FAIL", "COMPLETE"), False),
    (("PRUNED",), False),
]


@pytest.mark.parametrize(("states", "allowed"), RESUMES, ids=str)
def test_only_a_study_without_complete_or_pruned_trials_may_change_its_search_space(
    states: tuple[str, ...], allowed: bool
) -> None:
    from optuna.trial import TrialState

    from hydra_plugins.quantsweep_sweeper._study import FINGERPRINT_ATTR, check_and_record
    from trainer.errors import UserError

    study = optuna.create_study(storage=optuna.storages.InMemoryStorage(), study_name="s")
    old = {"search_space": {"model.max_depth": "int(interval(3, 0))"}, "data_hash": "a"}
    study.set_user_attr(FINGERPRINT_ATTR, old)
    for state in states:
        trial = study.ask()
        if state != "RUNNING":
            study.tell(trial, 1.0 if state == "COMPLETE" else None, state=TrialState[state])
    new = {"search_space": {"model.max_depth": "int(interval(3, 9))"}, "data_hash": "a"}
    if allowed:
        assert check_and_record(study, new, {"kind": "none"}, 0, False, "j.log") is True
        assert study.user_attrs[FINGERPRINT_ATTR] == new
    else:
        with pytest.raises(UserError) as err:
            check_and_record(study, new, {"kind": "none"}, 0, False, "j.log")
        message = str(err.value)
        assert "search_space.model.max_depth: was int(interval(3, 0))" in message
        assert "hydra.sweeper.study_name" in message and "delete j.log" in message


@pytest.mark.slow
def test_a_study_whose_first_trial_failed_on_its_search_space_resumes_corrected(
    tmp_path: Path,
) -> None:
    base = (*SWEEP, "data.start=2022-01-01", "data.end=2022-12-31", "hydra.sweeper.n_trials=2")
    bad = run_cli("trainer", *base, "model.max_depth=int(interval(17, 18))", "-m", cwd=tmp_path)
    assert bad.returncode == 2 and "model.max_depth=1" in bad.stderr, bad.stderr[-2000:]
    fixed = run_cli("trainer", *base, "model.max_depth=int(interval(3, 4))", "-m", cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stderr[-2000:]
    states = [t.state.name for t in _trials(tmp_path / "artifacts/studies/xgboost-1h-direction")]
    assert states[0] == "FAIL" and states.count("COMPLETE") == 2
