"""``python -m evaluation.campaign`` end to end on the embedded market: a two-entry campaign with
an ensemble, killed mid-way and resumed without redoing finished work; its leaderboard rows
against the reports; compare refusing mismatched reports; user errors before any work."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli

TINY = [
    "campaign.name=tiny",
    "campaign.budget=2",
    "campaign.only=[xgboost_1h,lstm_1h,blending_1h]",
    'campaign.entries.xgboost_1h.overrides=["model.n_estimators=40"]',
    'campaign.entries.lstm_1h.overrides=["model.train_stride=32","model.max_epochs=1",'
    '"model.max_batches_per_epoch=10","model.hidden_dim=64","model.num_layers=1"]',
    'campaign.evaluation=["walk_forward.embargo_hours=4","promote=false",'
    '"walk_forward.start=2025-07-01","stress.enabled=false"]',
    "data.start=2023-06-01",
    "hardware.threads=1",
    "progress=false",
]
STEPS = ("xgboost_1h", "lstm_1h", "blending_1h")


def trials(study_dir: Path) -> list[str]:
    """The states of every trial in a study's journal (each one the sweeper ever started)."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(study_dir / "journal.log")))
    study = optuna.load_study(study_name=study_dir.name, storage=storage)
    return [t.state.name for t in study.get_trials(deepcopy=False)]


def created(root: Path, name: str) -> str:
    data = json.loads(
        (root / "artifacts" / "reports" / f"tiny-{name}" / "evaluation.json").read_text()
    )
    return str(data["created"])


def launches(root: Path) -> dict[str, int]:
    """How many times each step's command was started (one header line per start)."""
    logs = root / "artifacts" / "campaigns" / "tiny" / "logs"
    return {p.stem: p.read_text().count("\n=== ") for p in sorted(logs.glob("*.log"))}


def state(root: Path) -> dict[str, Any]:
    path = root / "artifacts" / "campaigns" / "tiny" / "state.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def kill_after_first_evaluation(root: Path) -> None:
    """Start the campaign and SIGKILL it (and its children) once its first entry is evaluated."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "evaluation.campaign", *TINY],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 600
    try:
        while "xgboost_1h" not in state(root).get("evaluations", {}):
            assert proc.poll() is None, "the campaign ended before its first evaluation"
            assert time.monotonic() < deadline, "no evaluation within 10 minutes"
            time.sleep(0.5)
        time.sleep(3)  # into the next study
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("campaign")
    kill_after_first_evaluation(root)
    studies = root / "artifacts" / "studies"
    killed = {
        "xgb_trials": trials(studies / "tiny-xgboost_1h"),
        "xgb_created": created(root, "xgboost_1h"),
        "launches": launches(root),
    }
    resumed = run_cli("evaluation.campaign", *TINY, cwd=root, timeout=900)
    after = {
        "trials": {s: trials(studies / f"tiny-{s}") for s in STEPS[:2]},
        "created": {s: created(root, s) for s in STEPS},
        "launches": launches(root),
    }
    # A Phase 1 baseline changes the board only: every step is still reused.
    baseline = "campaign.baseline=artifacts/reports/tiny-xgboost_1h"
    again = run_cli("evaluation.campaign", *TINY, baseline, cwd=root, timeout=300)
    return {"root": root, "killed": killed, "resumed": resumed, "after": after, "again": again}


@pytest.mark.slow
def test_a_killed_campaign_resumes_without_redoing_finished_work(campaign: dict[str, Any]) -> None:
    resumed, killed, after = campaign["resumed"], campaign["killed"], campaign["after"]
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    # The finished study ran no trial again and its evaluation was reused, not redone.
    assert after["trials"]["xgboost_1h"] == killed["xgb_trials"]
    assert after["created"]["xgboost_1h"] == killed["xgb_created"]
    for step in ("xgboost_1h.study", "xgboost_1h.evaluation"):
        assert killed["launches"][step] == after["launches"][step] == 1
    # The study the kill interrupted ended with its budget done.
    lstm = after["trials"]["lstm_1h"]
    assert lstm.count("COMPLETE") + lstm.count("PRUNED") == 2


@pytest.mark.slow
def test_a_finished_campaign_reruns_nothing(campaign: dict[str, Any]) -> None:
    again, root, after = campaign["again"], campaign["root"], campaign["after"]
    assert again.returncode == 0, again.stderr[-2000:]
    studies = root / "artifacts" / "studies"
    assert {s: trials(studies / f"tiny-{s}") for s in STEPS[:2]} == after["trials"]
    assert {s: created(root, s) for s in STEPS} == after["created"]
    assert launches(root) == after["launches"]  # not one command started again


@pytest.mark.slow
def test_leaderboard_rows_match_each_report(campaign: dict[str, Any]) -> None:
    root = campaign["root"]
    board = json.loads((root / "artifacts/campaigns/tiny/leaderboard.json").read_text())
    rows = {r["name"]: r for r in board["rows"]}
    assert set(rows) == {*STEPS, "buy_and_hold", "baseline: tiny-xgboost_1h"}
    base = rows["baseline: tiny-xgboost_1h"]
    assert base["kind"] == "baseline" and base["net_return"] == rows["xgboost_1h"]["net_return"]
    assert rows["xgboost_1h"]["net_vs_baseline"] == 0.0
    hours = None
    for name in STEPS:
        report = json.loads((root / f"artifacts/reports/tiny-{name}/evaluation.json").read_text())
        strategy = report["target_strategy"]
        summary = report["backtests"][strategy]
        row = rows[name]
        net = summary.get("cum_return", summary.get("net_return", summary.get("total_return")))
        assert row["net_return"] == net
        assert (row["n_trades"], row["hit_rate"], row["sharpe"]) == (
            summary["n_trades"],
            summary["hit_rate"],
            summary["sharpe"],
        )
        assert row["max_drawdown"] == summary["max_drawdown"]
        folds = report["walk_forward"]["folds"]
        objective = sum(f["models"][strategy]["test"]["objective"] for f in folds) / len(folds)
        assert row["objective"] == pytest.approx(objective)
        assert row["passed"] == report["promotion"]["passed"]
        assert hours in (None, report["walk_forward"]["n_hours"])
        hours = report["walk_forward"]["n_hours"]
    market = report["backtests"]["buy_and_hold"]
    assert rows["buy_and_hold"]["net_return"] == market.get("cum_return", market["total_return"])
    objectives = [r["objective"] for r in board["rows"][:-1] if r["kind"] != "baseline"]
    assert objectives == sorted(objectives, reverse=True)
    # Members: the best tree and the best sequence study, refitted with their best params.
    members = rows["blending_1h"]["members"]
    assert [(m["kind"], m["entry"]) for m in members] == [
        ("tree", "xgboost_1h"),
        ("sequence", "lstm_1h"),
    ]
    assert (
        "max_depth" in members[0]["overrides"] and members[1]["overrides"]["train_stride"] == "32"
    )
    # The study rows carry the seed spread and cost; the markdown links the study files.
    assert rows["xgboost_1h"]["seed_spread"]["n"] == 4
    assert rows["xgboost_1h"]["study"]["complete"] + rows["xgboost_1h"]["study"]["pruned"] == 2
    md = (root / "artifacts/campaigns/tiny/leaderboard.md").read_text()
    for link in ("summary.md", "importances.png", "thresholds.json"):
        assert f"(../../studies/tiny-xgboost_1h/{link})" in md
    assert (root / "artifacts/campaigns/tiny/equity_top.png").is_file()


@pytest.mark.slow
def test_compare_refuses_reports_with_other_costs(campaign: dict[str, Any]) -> None:
    root = campaign["root"]
    reports = root / "artifacts" / "reports"
    other = reports / "other-costs"
    shutil.copytree(reports / "tiny-xgboost_1h", other)
    data = json.loads((other / "evaluation.json").read_text())
    data["costs"]["fee_bps"] = 10.0
    (other / "evaluation.json").write_text(json.dumps(data))
    same = run_cli(
        "evaluation.campaign",
        "compare=[artifacts/reports/tiny-xgboost_1h,artifacts/reports/tiny-lstm_1h]",
        "progress=false",
        cwd=root,
    )
    assert same.returncode == 0, same.stderr
    refused = run_cli(
        "evaluation.campaign",
        "compare=[artifacts/reports/tiny-xgboost_1h,artifacts/reports/other-costs]",
        cwd=root,
    )
    assert refused.returncode == 2
    (line,) = refused.stderr.strip().splitlines()
    assert "other-costs: costs fee 10.0" in line


@pytest.mark.parametrize(
    ("override", "named"),
    [
        (
            "campaign.entries.lstm_1h.search=nope",
            "campaign.entries.lstm_1h: Could not find 'search/nope'",
        ),
        (
            "campaign.baseline=artifacts/reports/phase1",
            "campaign.baseline=artifacts/reports/phase1",
        ),
    ],
)
def test_missing_entry_config_or_baseline_is_one_error_before_any_work(
    tmp_path: Path, override: str, named: str
) -> None:
    result = run_cli("evaluation.campaign", override, "campaign.budget=1", cwd=tmp_path)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and named in line
    assert list(tmp_path.iterdir()) == []  # no study, no state, no log
