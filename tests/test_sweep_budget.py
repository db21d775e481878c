"""A resumed study spends its whole budget on trials that count: failed trials (a crash, a
killed worker) are rerun, never counted against ``n_trials``."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import TrialState

from hydra_plugins.quantsweep_sweeper.link import open_storage
from tests.test_sweep import STUDY, load, study_dir, sweep


def test_failed_trials_of_a_resumed_study_leave_its_budget_untouched(tmp_path: Path) -> None:
    journal = study_dir(tmp_path) / "journal.log"
    journal.parent.mkdir(parents=True)
    study = optuna.create_study(
        study_name=STUDY, storage=open_storage(str(journal.resolve())), direction="maximize"
    )
    for _ in range(2):  # as a crashed session leaves them
        study.tell(study.ask(), state=TrialState.FAIL)
    res = sweep(tmp_path, "hydra.sweeper.n_trials=2", "hydra.sweeper.reproduce_seeds=0")
    assert res.returncode == 0, res.stderr[-3000:]
    states = [t.state for t in load(tmp_path).trials]
    assert states == [TrialState.FAIL] * 2 + [TrialState.COMPLETE] * 2
