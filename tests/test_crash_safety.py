"""SIGKILL at random moments never loses a study nor corrupts what was published.

- A sweep is killed 10 times at random points (start-up, mid-trial, while telling a trial or
  copying ``best/``, while writing the reports), each time restarted with the same command;
  a last rerun then finishes it: complete + pruned trials = the budget, no trial lost, none
  run twice or overwritten, and ``best/`` loads after every kill.
- A process promoting two runs in turn is killed 10 times at random: the promoted model always
  loads (its files match their recorded checksums) and is wholly one of the two runs.

The kill delays come from a seeded generator, so a failure replays with the same schedule.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from hydra_plugins.quantsweep_sweeper.link import open_storage
from tests.conftest import run_cli
from trainer.artifacts import load_run

KILLS = 10
BUDGET = 24
STUDY = "xgboost-1h-direction"
SWEEP = (
    "data.start=2021-01-01",
    "data.end=2022-12-31",
    "model.n_estimators=200",
    "model.early_stopping_rounds=0",  # a complete trial takes ~1 s, a pruned one ~0.15 s
    "progress=false",
    "hardware.threads=1",
    f"hydra.sweeper.n_trials={BUDGET}",
    "hydra.sweeper.pruner_kwargs={n_startup_trials:12}",  # half the budget runs whole
    "hydra.sweeper.reproduce_seeds=1",
    "-m",
)
# Start-up (imports, composition, study) takes ~3 s here and the budget ~20 s of trials, so
# kills between 1 and 7 s land in start-up, mid-trial, between trials and in the study's
# bookkeeping, and the study is still unfinished after the last one.
KILL_AFTER_S = (1.0, 7.0)


def _spawn(args: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the kill reaches any child too
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def _kill_after(proc: subprocess.Popen[bytes], seconds: float) -> bool:
    """SIGKILL the process group after ``seconds``; whether it was still running."""
    try:
        proc.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return True


def _study(root: Path) -> optuna.Study | None:
    journal = root / "artifacts" / "studies" / STUDY / "journal.log"
    if not journal.exists():
        return None
    try:
        return optuna.load_study(study_name=STUDY, storage=open_storage(str(journal.resolve())))
    except KeyError:  # killed before the study was created
        return None


@pytest.mark.slow
def test_a_sweep_killed_ten_times_at_random_completes_its_budget_when_rerun(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(20260517)
    best = tmp_path / "artifacts" / "studies" / STUDY / "best"
    kills, history = 0, []
    for _ in range(KILLS):
        proc = _spawn(["-m", "trainer", *SWEEP], tmp_path)
        delay = float(rng.uniform(*KILL_AFTER_S))
        kills += _kill_after(proc, delay)
        if best.exists():  # published before the kill: it must load whole
            assert load_run(best).metrics["valid"]["objective"] is not None
        study = _study(tmp_path)
        states = [t.state.name for t in study.get_trials(deepcopy=False)] if study else []
        history.append((round(delay, 2), {s: states.count(s) for s in set(states)}))
    print("after each kill (delay s, trial states):", history)
    # the schedule really interrupted trials, not only start-ups
    assert sum(1 for _, counts in history if counts.get("RUNNING")) >= 1, history

    res = run_cli("trainer", *SWEEP, cwd=tmp_path, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    study = _study(tmp_path)
    assert study is not None
    trials = study.get_trials(deepcopy=False)
    states = [t.state for t in trials]
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) == BUDGET
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states
    # only trials a kill interrupted failed: at most one per kill (one worker)
    assert states.count(TrialState.FAIL) <= kills
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    run_dirs = [Path(t.user_attrs["run_dir"]) for t in complete]
    assert len(set(run_dirs)) == len(run_dirs)
    for trial, run_dir in zip(complete, run_dirs, strict=True):
        # each complete trial's directory still holds that trial's run: never overwritten
        meta = json.loads((run_dir / "metadata.json").read_text())
        assert meta["config"]["trial"]["number"] == trial.number
        valid = json.loads((run_dir / "metrics.json").read_text())["valid"]
        assert valid["objective"] == pytest.approx(trial.value)
    published = json.loads(best.parent.joinpath("best.json").read_text())
    assert published["trial"] == study.best_trial.number
    assert load_run(best).metrics["valid"]["objective"] == pytest.approx(study.best_value)
    summary = json.loads(best.parent.joinpath("summary.json").read_text())
    assert json.dumps(summary)  # the end-of-study reports were written whole


PROMOTE_LOOP = """
import sys
from pathlib import Path
from evaluation.promote import promote

runs, root = sys.argv[1:3], Path(sys.argv[3])
i = 0
while True:
    run = runs[i % 2]
    promote(Path(run), root, "1h_direction", {"run": run, "round": i})
    if i == 0:
        print("promoted", flush=True)
    i += 1
"""


def _train(run_dir: Path, seed: int) -> Path:
    res = run_cli(
        "trainer",
        "data.start=2022-01-01",
        "data.end=2022-12-31",
        "model.n_estimators=20",
        "progress=false",
        f"seed={seed}",
        f"hydra.run.dir={run_dir}",
        cwd=run_dir.parent,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return run_dir


@pytest.mark.slow
def test_a_kill_during_promotion_leaves_a_whole_promoted_model(tmp_path: Path) -> None:
    runs = [_train(tmp_path / "run_a", seed=1), _train(tmp_path / "run_b", seed=2)]
    root = tmp_path / "promoted"
    promoted = root / "1h_direction"
    rng = np.random.default_rng(7)
    for _ in range(KILLS):
        proc = subprocess.Popen(
            [sys.executable, "-c", PROMOTE_LOOP, *map(str, runs), str(root)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"promoted", proc.stderr
        time.sleep(float(rng.uniform(0.0, 0.5)))  # mid-way through some later promotion
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        run = load_run(promoted)  # checks every model file against its recorded sha256
        manifest = json.loads((promoted / "manifest.json").read_text())
        source = Path(manifest["run"])
        assert source in runs
        for name in ("metadata.json", "metrics.json", ".hydra/config.yaml"):
            assert (promoted / name).read_bytes() == (source / name).read_bytes(), name
        assert run.metadata["model_sha256"] == load_run(source).metadata["model_sha256"]
