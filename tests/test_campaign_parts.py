"""The pure parts of ``python -m evaluation.campaign``: leaderboard rows from report JSON, the
resume decisions, the compare checks, the plan's checks before any work, and the rendering."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from evaluation.campaign import board, render
from evaluation.campaign.config import CampaignPlan, CampaignRunConfig, EntryConfig
from evaluation.campaign.leaderboard import (
    Report,
    load_report,
    mismatches,
    report_row,
    sort_rows,
)
from evaluation.campaign.plan import StudyStep, resolve
from evaluation.campaign.resume import (
    State,
    evaluation_decision,
    file_hashes,
    fingerprint,
    run_decision,
    study_decision,
)
from evaluation.campaign.run import compare, member_overrides, members_override
from trainer.data.config import DataConfig
from trainer.errors import UserError


def evaluation_json(
    name: str = "r",
    start: str = "2025-01-01",
    n_hours: int = 48,
    fee: float = 5.0,
    backtest: dict[str, Any] | None = None,
    objectives: tuple[float, ...] = (0.1, 0.3),
    strategy: str = "1h",
) -> dict[str, Any]:
    """An evaluation.json as python -m evaluation writes it (the keys the board reads)."""
    summary = {
        "total_return": 0.12,
        "max_drawdown": -0.05,
        "sharpe": 1.5,
        "hit_rate": 0.55,
        "n_trades": 250,
        "exposure": 0.4,
        "n_hours": n_hours,
    }
    summary.update(backtest or {})
    return {
        "name": name,
        "created": "2026-01-01T00:00:00+00:00",
        "source": {
            "path": "/nowhere",
            "kind": "run",
            "study_dir": None,
            "target": "1h_direction",
            "model": "xgboost",
            "overrides": [],
        },
        "walk_forward": {
            "start": start,
            "end": "2025-12-31",
            "n_folds": len(objectives),
            "n_hours": n_hours,
            "folds": [
                {"name": f"f{i}", "models": {strategy: {"test": {"objective": o, "auc": 0.5 + o}}}}
                for i, o in enumerate(objectives)
            ],
        },
        "costs": {"fee_bps": fee, "slippage_bps": 2.0, "cost_bps": fee + 2.0, "allow_short": False},
        "backtests": {
            strategy: summary,
            "buy_and_hold": {**summary, "total_return": -0.2, "n_trades": n_hours},
        },
        "target_strategy": strategy,
        "guardrails": {
            strategy: {
                "passed": True,
                "checks": [
                    {
                        "name": "n_trades",
                        "value": 250,
                        "limit": 200,
                        "rule": ">=",
                        "passed": True,
                        "margin": 50,
                    },
                    {
                        "name": "hit_rate",
                        "value": 0.55,
                        "limit": 0.52,
                        "rule": ">=",
                        "passed": True,
                        "margin": 0.03,
                    },
                ],
            }
        },
        "promotion": {"passed": True, "promoted": False, "blocked_by": "promote=false"},
        "overfitting": {
            "available": True,
            "deflated_sharpe": {"value": 0.9},
            "pbo": {"value": 0.1},
        },
        "seconds": {"total": 12.0},
    }


def write_report(
    root: Path, name: str, data: dict[str, Any], hours: pd.DatetimeIndex | None = None
) -> Path:
    path = root / name
    path.mkdir(parents=True)
    (path / "evaluation.json").write_text(json.dumps(data))
    n = data["walk_forward"]["n_hours"]
    stamps = (
        hours
        if hours is not None
        else pd.date_range(data["walk_forward"]["start"], periods=n, freq="h")
    )
    rng = np.random.default_rng(len(name))
    strategy = data["target_strategy"]
    pd.DataFrame(
        {
            "timestamp": stamps.tz_localize(None) if stamps.tz else stamps,
            f"net_{strategy}": rng.normal(0, 0.001, n),
            "net_buy_and_hold": rng.normal(0, 0.001, n),
        }
    ).to_parquet(path / "series.parquet", index=False)
    return path


def test_row_reads_the_target_strategy_and_averages_fold_objectives(tmp_path: Path) -> None:
    data = evaluation_json(objectives=(0.1, 0.3))
    rep = load_report(write_report(tmp_path, "a", data))
    row = report_row(rep, "a", "study")
    assert row["objective"] == pytest.approx(0.2)
    assert row["auc"] == pytest.approx(0.7)
    assert row["net_return"] == 0.12  # older reports: total_return
    assert row["gross_return"] is None and row["break_even_bps"] is None
    assert (row["n_trades"], row["hit_rate"], row["sharpe"]) == (250, 0.55, 1.5)
    assert (row["deflated_sharpe"], row["pbo"]) == (0.9, 0.1)
    assert row["passed"] is True and row["promoted"] is False
    assert [g["name"] for g in row["guardrails"]] == ["n_trades", "hit_rate"]


def test_row_shows_the_newer_trading_keys_when_a_report_has_them(tmp_path: Path) -> None:
    data = evaluation_json(
        backtest={
            "gross_return": 0.3,
            "cost_return": -0.1,
            "cum_return": 0.18,
            "break_even_bps": 21.5,
            "win_rate": 0.48,
        }
    )
    row = report_row(load_report(write_report(tmp_path, "a", data)), "a", "study")
    assert (row["gross_return"], row["net_return"], row["break_even_bps"]) == (0.3, 0.18, 21.5)
    assert row["win_rate"] == 0.48


def test_row_takes_the_seed_spread_and_cost_from_the_study_summary(tmp_path: Path) -> None:
    study = tmp_path / "studies" / "s"
    study.mkdir(parents=True)
    summary = {
        "study": "s",
        "budget": 20,
        "counts": {"complete": 12, "pruned": 8, "failed": 0},
        "wall_time_s": {"study": 61.0},
        "best": {"trial": 3, "objective": 0.05},
        "reproducibility": {
            "seeds": [0, 1, 2, 3],
            "objectives": [0.05, 0.04, 0.02, 0.03],
            "n": 4,
            "mean": 0.035,
            "std": 0.013,
            "min": 0.02,
            "max": 0.05,
        },
    }
    (study / "summary.json").write_text(json.dumps(summary))
    data = evaluation_json()
    data["source"]["study_dir"] = str(study)
    row = report_row(load_report(write_report(tmp_path, "a", data)), "a", "study")
    assert row["seed_spread"]["seeds"] == [0, 1, 2, 3]
    assert row["seed_spread"]["std"] == 0.013
    assert row["study"]["complete"] == 12 and row["study"]["pruned"] == 8
    assert row["study"]["wall_time_s"] == 61.0


def test_rows_sort_best_first_and_rows_without_a_value_last() -> None:
    rows = [
        {"name": "a", "objective": 0.1},
        {"name": "b", "objective": None},
        {"name": "c", "objective": 0.3},
        {"name": "d", "objective": float("nan")},
    ]
    assert [r["name"] for r in sort_rows(rows, "objective")] == ["c", "a", "b", "d"]


def _report(tmp_path: Path, name: str, **kw: Any) -> Report:
    return load_report(write_report(tmp_path, name, evaluation_json(name=name, **kw)))


def test_compare_checks_accept_same_hours_and_costs(tmp_path: Path) -> None:
    assert mismatches([_report(tmp_path, "a"), _report(tmp_path, "b")]) == []


def test_compare_checks_name_a_report_with_other_hours(tmp_path: Path) -> None:
    problems = mismatches([_report(tmp_path, "a"), _report(tmp_path, "b", start="2025-02-01")])
    assert len(problems) == 1
    assert "b: walk-forward hours 2025-02-01" in problems[0] and "a has 2025-01-01" in problems[0]


def test_compare_checks_see_other_timestamps_behind_the_same_period(tmp_path: Path) -> None:
    a = _report(tmp_path, "a")
    shifted = pd.date_range("2025-01-01 01:00", periods=48, freq="h")
    b = load_report(write_report(tmp_path, "b", evaluation_json(name="b"), shifted))
    (problem,) = mismatches([a, b])
    assert "timestamps differ" in problem


def test_compare_checks_name_a_report_with_other_costs(tmp_path: Path) -> None:
    (problem,) = mismatches([_report(tmp_path, "a"), _report(tmp_path, "b", fee=10.0)])
    assert "b: costs fee 10.0 + slippage 2.0 bps" in problem and "fee 5.0" in problem


def test_compare_refuses_mismatched_reports_before_writing(tmp_path: Path) -> None:
    a = write_report(tmp_path / "reports", "a", evaluation_json(name="a"))
    b = write_report(tmp_path / "reports", "b", evaluation_json(name="b", fee=9.0))
    conf = CampaignRunConfig(compare=[str(a), str(b)], artifacts_dir=str(tmp_path), progress=False)
    with pytest.raises(UserError, match=r"refused: .*b: costs fee 9\.0"):
        compare(conf)
    assert not (tmp_path / "campaigns").exists()


def test_compare_writes_a_leaderboard_whose_rows_match_each_report(tmp_path: Path) -> None:
    a = write_report(tmp_path / "reports", "a", evaluation_json(name="a", objectives=(0.0,)))
    b = write_report(
        tmp_path / "reports",
        "b",
        evaluation_json(name="b", objectives=(0.2,), backtest={"total_return": 0.5}),
    )
    conf = CampaignRunConfig(compare=[str(a), str(b)], artifacts_dir=str(tmp_path), progress=False)
    assert compare(conf) == 0
    out = tmp_path / "campaigns" / "compare"
    data = json.loads((out / "leaderboard.json").read_text())
    assert [r["name"] for r in data["rows"]] == ["b", "a", "buy_and_hold"]
    assert data["rows"][0]["net_return"] == 0.5
    assert data["rows"][2]["net_return"] == -0.2
    md = (out / "leaderboard.md").read_text()
    assert "| 1 | b | report | 1h_direction | 0.200 |" in md
    assert "+50.0%" in md and "[report.md](../../reports/b/report.md)" not in md  # none written
    html = (out / "leaderboard.html").read_text()
    assert html.index("<td>b</td>") < html.index("<td>a</td>") < html.index("buy_and_hold")
    assert (out / "equity_top.png").stat().st_size > 0 and "data:image/png;base64" in html


def test_html_escapes_what_reports_say(tmp_path: Path) -> None:
    a = write_report(tmp_path / "reports", "x", evaluation_json(name="<b>x</b>"))
    data = board.build(
        "t", [board.Entry("<b>x</b>", "report", load_report(a))], "objective", 1, "t"
    )
    render.write(data, tmp_path / "board")
    html = (tmp_path / "board" / "leaderboard.html").read_text()
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


@pytest.mark.parametrize(
    ("recorded", "summary", "budget", "after", "redo", "why"),
    [
        (None, {"counts": {"complete": 5}}, 5, False, True, "new"),
        ("old", {"counts": {"complete": 5}}, 5, False, True, "inputs changed"),
        ("fp", None, 5, False, True, "no summary"),
        ("fp", {"counts": {"complete": 3, "pruned": 1}}, 5, False, True, "4 of 5"),
        ("fp", {"counts": {"complete": 4, "running": 1}}, 5, False, True, "running"),
        ("fp", {"counts": {"complete": 3, "pruned": 2}}, 5, True, True, "after its summary"),
        ("fp", {"counts": {"complete": 3, "pruned": 2}}, 5, False, False, "finished"),
    ],
)
def test_study_is_rerun_unless_finished_with_the_same_inputs(
    recorded: str | None,
    summary: dict[str, Any] | None,
    budget: int,
    after: bool,
    redo: bool,
    why: str,
) -> None:
    decision = study_decision(recorded, "fp", summary, budget, after)
    assert decision.redo is redo and why in decision.reason


@pytest.mark.parametrize(
    ("recorded", "report", "redo"),
    [
        (None, {"created": "t1"}, True),
        ({"fingerprint": "other", "created": "t1"}, {"created": "t1"}, True),
        ({"fingerprint": "fp", "created": "t1"}, None, True),
        ({"fingerprint": "fp", "created": "t1"}, {"created": "t2"}, True),
        ({"fingerprint": "fp", "created": "t1"}, {"created": "t1"}, False),
    ],
)
def test_evaluation_is_reused_only_for_the_same_inputs_and_report(
    recorded: dict[str, Any] | None, report: dict[str, Any] | None, redo: bool
) -> None:
    assert evaluation_decision(recorded, "fp", report).redo is redo


def test_ensemble_run_is_reused_only_when_complete_with_the_same_inputs() -> None:
    assert run_decision("fp", "fp", True).redo is False
    assert run_decision("fp", "fp", False).redo is True
    assert run_decision("x", "fp", True).redo is True


def test_run_fingerprint_changes_with_any_file_of_the_run(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "m.ubj").write_bytes(b"abc")
    (tmp_path / "metadata.json").write_text("{}")
    before = fingerprint(run_files=file_hashes(tmp_path), data="h", args=["a"])
    assert before == fingerprint(run_files=file_hashes(tmp_path), data="h", args=["a"])
    (tmp_path / "model" / "m.ubj").write_bytes(b"abd")
    assert fingerprint(run_files=file_hashes(tmp_path), data="h", args=["a"]) != before
    assert fingerprint(run_files=file_hashes(tmp_path), data="g", args=["a"]) != fingerprint(
        run_files=file_hashes(tmp_path), data="h", args=["a"]
    )


def test_state_survives_a_restart(tmp_path: Path) -> None:
    State(tmp_path / "state.json").put("studies", "x", {"fingerprint": "fp", "seconds": 3.0})
    again = State(tmp_path / "state.json")
    assert again.get("studies", "x") == {"fingerprint": "fp", "seconds": 3.0}
    assert again.seconds(["x"]) == 3.0 and again.get("evaluations", "x") is None


def _step(**kw: Any) -> StudyStep:
    base: dict[str, Any] = dict(
        name="lstm_1h",
        model="lstm",
        family="sequence",
        horizon="1h",
        task="direction",
        budget=2,
        pruner="median",
        hardware="cpu",
        settings=("model.train_stride=8",),
        own=(),
        overrides=(
            "model=lstm",
            "model.train_stride=8",
            "model.hidden_dim=64",
            "data.start=2023-01-01",
        ),
        data=DataConfig(),
        study_name="s",
        study_dir=Path("s"),
        report_name="s",
    )
    base.update(kw)
    return StudyStep(**base)


def test_member_keeps_its_study_settings_and_takes_the_best_params() -> None:
    summary = {
        "best": {"params": {"model.hidden_dim": 128, "model.dropout": 0.25, "strategy.band": 0.1}}
    }
    overrides, other = member_overrides(_step(), summary)
    assert overrides == {"train_stride": "8", "hidden_dim": "128", "dropout": "0.25"}
    assert other == ["strategy.band=0.1"]


def test_members_override_parses_back_to_the_members() -> None:
    text = members_override([(_step(), {"train_stride": "8", "note": "it's"})])
    value = OverridesParser.create().parse_override(text).value()
    assert value == [
        {"name": "lstm_1h", "model": "lstm", "overrides": {"train_stride": "8", "note": "it's"}}
    ]


def _conf(tmp_path: Path, **plan: Any) -> CampaignRunConfig:
    entries = {
        "xgb": EntryConfig(model="xgboost"),
        "seq": EntryConfig(model="lstm"),
    }
    return CampaignRunConfig(
        campaign=CampaignPlan(name="t", device="cpu", entries=plan.pop("entries", entries), **plan),
        artifacts_dir=str(tmp_path),
        progress=False,
    )


def test_plan_resolves_entries_with_their_family_and_cpu_settings(tmp_path: Path) -> None:
    conf = _conf(tmp_path)
    conf.campaign.entries["seq"].hardware.cpu_overrides = ["model.train_stride=8"]
    plan = resolve(conf)
    assert [(s.name, s.family) for s in plan.studies] == [("xgb", "tree"), ("seq", "sequence")]
    seq = plan.studies[1]
    assert seq.settings == ("model.train_stride=8",) and "model.train_stride=8" in seq.overrides
    assert seq.study_dir == tmp_path / "studies" / "t-seq"
    assert "hydra.sweeper.n_trials=150" in seq.sweep_args(tmp_path, str(tmp_path))


def test_plan_names_the_entry_whose_config_is_missing(tmp_path: Path) -> None:
    conf = _conf(tmp_path, entries={"bad": EntryConfig(model="nope")})
    with pytest.raises(UserError, match=r"campaign\.entries\.bad: .*model/nope"):
        resolve(conf)


def test_plan_refuses_an_ensemble_without_a_member_of_each_kind(tmp_path: Path) -> None:
    from evaluation.campaign.config import EnsembleEntryConfig

    conf = _conf(
        tmp_path,
        entries={"xgb": EntryConfig(model="xgboost")},
        ensembles={"ens": EnsembleEntryConfig()},
    )
    with pytest.raises(UserError, match=r"campaign\.ensembles\.ens: no sequence entry"):
        resolve(conf)


def test_plan_refuses_a_baseline_that_is_not_a_report(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    conf = _conf(tmp_path, baseline=str(tmp_path / "empty"))
    with pytest.raises(UserError, match=r"campaign\.baseline=.*evaluation\.json, series\.parquet"):
        resolve(conf)


def test_resumed_board_redraws_the_figure_only_when_a_report_changed(tmp_path: Path) -> None:
    path = write_report(tmp_path / "reports", "a", evaluation_json(name="a"))

    def draw() -> int:
        data = board.build(
            "t", [board.Entry("a", "report", load_report(path))], "objective", 1, "t"
        )
        render.write(data, tmp_path / "board")
        return (tmp_path / "board" / render.FIGURE).stat().st_mtime_ns

    first = draw()
    assert draw() == first
    data = json.loads((path / "evaluation.json").read_text())
    (path / "evaluation.json").write_text(json.dumps({**data, "created": "2026-02-02"}))
    assert draw() != first


def test_rows_say_how_much_they_beat_the_baseline_net_of_costs(tmp_path: Path) -> None:
    model = write_report(tmp_path, "m", evaluation_json(name="m", backtest={"total_return": 0.3}))
    phase1 = write_report(tmp_path, "p", evaluation_json(name="p", backtest={"total_return": 0.1}))
    entries = [
        board.Entry("m", "study", load_report(model)),
        board.Entry("baseline: p", "baseline", load_report(phase1)),
    ]
    data = board.build("t", entries, "net_return", 2, "t")
    rows = {r["name"]: r for r in data["rows"]}
    assert rows["m"]["net_vs_baseline"] == pytest.approx(0.2)
    assert rows["baseline: p"]["net_vs_baseline"] == 0.0
    render.write(data, tmp_path / "board")
    md = (tmp_path / "board" / "leaderboard.md").read_text()
    assert "| net - baseline |" in md and "+20.0%" in md


def test_progress_counts_entries_done_running_and_left() -> None:
    from evaluation.campaign.progress import DONE, FAILED, REUSED, View

    view = View("campaign t", enabled=False)
    for name in ("a", "b", "c", "d"):
        view.add(name, "1h direction", "study", seconds_before=60.0)
    view.finish("a", "study", REUSED)
    view.finish("a", "evaluation", DONE)
    view.start("b", "study", "new", None)
    view.finish("d", "study", FAILED, "exit 2: bad")
    assert view.counts() == {"done": 1, "running": 1, "left": 1, "failed": 1, "skipped": 0}
    headline = view.headline()
    assert headline.startswith("campaign t: 1 done, 1 running, 1 left, 1 failed")
    assert "4:00 in all" in headline  # the earlier sessions' minutes count
