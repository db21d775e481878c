"""``python -m evaluation`` end to end on small synthetic markets: walk-forward, reports,
guardrails, promotion, the no-signal and planted-signal controls, overrides and verify."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from evaluation.cli import EXIT_NOT_PROMOTED, EXIT_PASSED, EXIT_VERIFY_MISMATCH, finish, run
from evaluation.config import (
    EvaluationConfig,
    GuardrailsConfig,
    StressConfig,
    WalkForwardConfig,
)
from evaluation.evaluate import Evaluation, evaluate, hit_rate_z, judge
from tests.conftest import run_cli, train_run
from trainer.dataset import build_table
from trainer.errors import UserError

# Small enough for CI: ten months of market and monthly folds (train 4.7 months, calibrate on
# one, test on one), so each fit sees ~3,400 rows; the quarterly default is the same code.
SMALL = [
    "data.start=2022-09-01",
    "data.end=2023-06-30",
    "model.n_estimators=20",
    "progress=false",
    "hardware.threads=1",  # 2 OpenMP threads crawl when other jobs share the 2 cores
]
MONTHLY = WalkForwardConfig(step_months=1, infer_steps=3)
LENIENT = GuardrailsConfig(
    min_trades=0, min_hit_rate=0.0, max_drawdown_1h=-1.0, max_drawdown_4h=-1.0
)
STRICT = GuardrailsConfig(min_hit_rate=1.0)


@pytest.fixture(scope="module")
def make_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Train a small run (once per set of overrides) into a directory like Hydra's."""
    cache: dict[tuple[str, ...], Path] = {}

    def _make(*overrides: str) -> Path:
        if overrides not in cache:
            cache[overrides] = train_run(tmp_path_factory.mktemp("run"), [*SMALL, *overrides])
        return cache[overrides]

    return _make


def _cfg(run_dir: Path, artifacts: Path, **kw: object) -> EvaluationConfig:
    base = EvaluationConfig(
        run=str(run_dir),
        walk_forward=MONTHLY,
        stress=StressConfig(enabled=False),
        artifacts_dir=str(artifacts),
        progress=False,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def evaluated(
    make_run: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Evaluation, EvaluationConfig, int]:
    """One full evaluation of the default-signal run (every strategy, stress windows on),
    shared by the tests below; also counts how often the feature table was built."""
    import evaluation.evaluate as module

    artifacts = tmp_path_factory.mktemp("artifacts")
    cfg = _cfg(make_run(), artifacts, stress=StressConfig())
    calls = []
    real = module.build_table

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(module, "build_table", counting)
        ev = evaluate(cfg)
    return ev, cfg, len(calls)


def _fresh(
    ev: Evaluation, cfg: EvaluationConfig, tmp_path: Path
) -> tuple[Evaluation, EvaluationConfig]:
    """The shared evaluation, writing its report and promotions under ``tmp_path``."""
    cfg = replace(cfg, artifacts_dir=str(tmp_path))
    return replace(ev, report_dir=tmp_path / "reports" / ev.name), cfg


def test_report_has_every_artifact_and_lists_each_guardrail(
    evaluated: tuple[Evaluation, EvaluationConfig, int], tmp_path: Path
) -> None:
    ev, cfg = _fresh(*evaluated[:2], tmp_path)
    code = finish(judge(ev, STRICT), cfg)
    assert code == EXIT_NOT_PROMOTED
    report = tmp_path / "reports" / ev.name
    for name in (
        "evaluation.json",
        "report.md",
        "report.html",
        "series.parquet",
        "equity_drawdown.png",
        "folds.png",
        "stress.png",
    ):
        assert (report / name).is_file(), name
    data = json.loads((report / "evaluation.json").read_text())
    assert set(data["backtests"]) == {"1h", "4h", "1h+4h", "buy_and_hold", "baseline"}
    assert data["walk_forward"]["n_folds"] == 3
    for strategy in ("1h", "4h", "1h+4h"):
        checks = data["guardrails"][strategy]["checks"]
        assert [c["name"] for c in checks] == ["n_trades", "hit_rate", "max_drawdown"]
        for c in checks:
            assert {"value", "limit", "rule", "passed", "margin"} <= set(c)
    promotion = data["promotion"]
    assert not promotion["passed"] and not promotion["promoted"] and promotion["path"] is None
    assert "hit_rate" in promotion["failed"]
    assert not (tmp_path / "promoted").exists()
    stress = {s["name"]: s for s in data["stress"]}
    assert set(stress) == {"ftx", "banking"}
    assert "needs data from" in stress["ftx"]["skipped"]  # the market starts 2022-09
    assert stress["banking"]["skipped"] is None
    assert pd.Timestamp(stress["banking"]["train_end"]) < pd.Timestamp("2023-03-08")
    repro = data["reproducibility"]
    for key in ("data_sha256", "config_sha256", "git_revision", "seeds", "versions", "determinism"):
        assert key in repro
    assert repro["data_matches_run"]
    html = (report / "report.html").read_text()
    assert "data:image/png;base64," in html and "FAIL" in html
    md = (report / "report.md").read_text()
    assert "| hit_rate |" in md
    assert "| strategy | gross return | costs | net return | break-even bps |" in md
    series = pd.read_parquet(report / "series.parquet")
    assert len(series) == data["walk_forward"]["n_hours"]
    for name, bt in data["backtests"].items():  # the money, gross and net, from the series
        gross = float(np.prod(1 + series[f"gross_{name}"]) - 1)
        net = float(np.prod(1 + series[f"net_{name}"]) - 1)
        assert bt["gross_return"] == pytest.approx(gross, rel=1e-9)
        assert bt["total_return"] == pytest.approx(net, rel=1e-9)
        assert bt["cost_return"] == pytest.approx(gross - net, rel=1e-9, abs=1e-12)
        assert "break_even_vs_buy_and_hold_bps" in bt


def test_walk_forward_never_trains_on_the_future_and_tests_tile_the_period(
    evaluated: tuple[Evaluation, EvaluationConfig, int],
) -> None:
    ev = evaluated[0]
    ts = ev.oos.timestamps
    assert np.all(np.diff(ts) == np.timedelta64(1, "h"))  # one stitched hourly series
    assert pd.Timestamp(ts[0]) == pd.Timestamp(ev.period.start)
    table = build_table(ev.source.config.data, ev.source.config.features)
    embargo = np.timedelta64(ev.embargo_hours, "h")
    for fold in ev.folds:
        for result in fold.values():
            f = result.fold
            assert result.test_scores.shape == (f.test.stop - f.test.start,)
            # training rows end before validation, validation before test, each by the embargo
            assert table.timestamps[f.valid.start] - table.timestamps[f.train.stop - 1] > embargo
            assert table.timestamps[f.test.start] - table.timestamps[f.valid.stop - 1] > embargo


def test_embargo_defaults_to_the_longest_horizon_evaluated(
    evaluated: tuple[Evaluation, EvaluationConfig, int],
) -> None:
    ev, cfg, _ = evaluated
    assert cfg.walk_forward.embargo_hours is None and "4h" in cfg.backtest.strategies
    assert ev.embargo_hours == 4
    table = build_table(ev.source.config.data, ev.source.config.features)
    for fold in ev.folds:
        for result in fold.values():
            f = result.fold
            # the last training row's 4h label ends the hour before validation begins
            gap = table.timestamps[f.valid.start] - table.timestamps[f.train.stop - 1]
            assert gap == np.timedelta64(5, "h")


def test_features_are_built_once_for_every_fold(
    evaluated: tuple[Evaluation, EvaluationConfig, int],
) -> None:
    ev, _, builds = evaluated
    assert len(ev.folds) == 3 and set(ev.folds[0]) == {"1h", "4h"}
    assert builds == 1


def test_passing_model_is_promoted_and_a_failing_one_never_replaces_it(
    evaluated: tuple[Evaluation, EvaluationConfig, int], tmp_path: Path
) -> None:
    ev, cfg = _fresh(*evaluated[:2], tmp_path)
    assert finish(judge(ev, LENIENT), cfg) == EXIT_PASSED
    promoted = tmp_path / "promoted" / "1h_direction"
    manifest = json.loads((promoted / "manifest.json").read_text())
    assert manifest["source_run"] == str(ev.source.path.resolve())
    assert ev.refit is not None
    assert manifest["data_sha256"] and manifest["config_sha256"]
    assert (Path(manifest["report"]) / "report.html").is_file()
    assert all(g["passed"] for g in manifest["guardrails"])

    from trainer.artifacts import load_run

    loaded = load_run(promoted)  # the promoted refit loads like any run
    assert loaded.threshold == ev.refit.threshold == manifest["refit"]["threshold"]

    assert finish(judge(ev, STRICT), cfg) == EXIT_NOT_PROMOTED
    assert json.loads((promoted / "manifest.json").read_text()) == manifest


def test_no_signal_control_promotes_nothing_and_hits_like_a_coin(
    make_run: Callable[..., Path], tmp_path: Path
) -> None:
    cfg = _cfg(make_run(), tmp_path, overrides=["data.signal_strength=0"])
    assert run(cfg) == EXIT_NOT_PROMOTED
    (report,) = (tmp_path / "reports").iterdir()
    assert "__" in report.name  # an override run never overwrites the plain report
    data = json.loads((report / "evaluation.json").read_text())
    assert data["source"]["overrides"] == ["data.signal_strength=0"]
    proc = run_cli("evaluation", f"verify={report}", cwd=tmp_path)  # a report names its run
    assert proc.returncode == EXIT_PASSED, proc.stdout + proc.stderr[-2000:]
    assert "verified" in proc.stdout
    assert not data["reproducibility"]["data_matches_run"]
    for strategy in ("1h", "4h", "1h+4h"):
        s = data["backtests"][strategy]
        assert s["n_held_periods"] > 200
        assert abs(hit_rate_z(s["hit_rate"], s["n_held_periods"])) < 3.0, (strategy, s)
    assert not (tmp_path / "promoted").exists()


def test_planted_signal_control_passes_a_guardrail_set(
    make_run: Callable[..., Path], tmp_path: Path
) -> None:
    """The positive control, small: ten months and monthly folds are too little data to find the
    default signal reliably, so a clearly planted one (0.3) must be found and pass at least one
    strategy's default guardrails. The full-size default is checked by the slow test below."""
    ev = evaluate(_cfg(make_run("data.signal_strength=0.3"), tmp_path))
    passed = [s for s, gs in ev.guardrails.items() if all(g.passed for g in gs)]
    assert passed, {s: [(g.name, g.value) for g in gs] for s, gs in ev.guardrails.items()}


def test_overrides_reach_the_run_config_and_typos_are_user_errors(
    make_run: Callable[..., Path], tmp_path: Path
) -> None:
    from evaluation.source import open_source

    run_dir = make_run()
    src = open_source(str(run_dir), ["model.max_depth=3", "target.horizon=4h", "seed=5"])
    assert src.config.model.max_depth == 3  # type: ignore[attr-defined]
    assert src.config.target.horizon == "4h" and src.config.seed == 5
    src = open_source(str(run_dir), ["model=lightgbm", "model.num_leaves=7"])
    assert src.config.model.name == "lightgbm" and src.config.model.num_leaves == 7  # type: ignore[attr-defined]
    with pytest.raises(UserError, match="max_dept"):
        open_source(str(run_dir), ["model.max_dept=3"])
    with pytest.raises(UserError, match="subsample"):
        open_source(str(run_dir), ["model.subsample=1.5"])
    with pytest.raises(UserError, match="not a quantsweep run"):
        open_source(str(tmp_path), [])


def test_overriding_the_model_blocks_promotion_of_the_saved_one(
    make_run: Callable[..., Path], tmp_path: Path
) -> None:
    from evaluation.evaluate import _promotable
    from evaluation.source import open_source

    run_dir = make_run()
    cfg = _cfg(run_dir, tmp_path)
    assert _promotable(open_source(str(run_dir), ["data.signal_strength=0.1"]), cfg) is None
    reason = _promotable(open_source(str(run_dir), ["model.max_depth=2"]), cfg)
    assert reason is not None and "model" in reason
    assert (
        _promotable(open_source(str(run_dir), []), replace(cfg, promote=False)) == "promote=false"
    )


def test_verify_retrains_bit_identically_and_names_a_tampered_metric(
    make_run: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    run_dir = tmp_path / "copy"
    shutil.copytree(make_run(), run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics["test"]["hit_rate"] += 1e-9
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    assert run(EvaluationConfig(verify=str(run_dir), progress=False)) == EXIT_VERIFY_MISMATCH
    out = capsys.readouterr().out
    # Only the tampered value differs: every other metric was reproduced bit for bit.
    assert "MISMATCH: 1 of" in out and "test.hit_rate" in out


def test_cli_user_errors_are_one_line_with_exit_code_2(tmp_path: Path) -> None:
    for args, culprit in (
        (["run=/no/such/run"], "/no/such/run"),  # raised inside the job
        (["run=/x", "guardrails.min_hit_rat=0.5"], "min_hit_rat"),  # at composition
    ):
        proc = run_cli("evaluation", *args, cwd=tmp_path)
        assert proc.returncode == 2, (args, proc.stderr)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and culprit in lines[0], (args, proc.stderr)
        assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_cli_evaluates_with_bare_overrides_and_verifies_from_the_report(
    make_run: Callable[..., Path], tmp_path: Path
) -> None:
    proc = run_cli(
        "evaluation",
        f"run={make_run()}",
        "walk_forward.step_months=1",
        "walk_forward.infer_steps=1",
        "stress.enabled=false",
        "backtest.strategies=[1h]",
        "data.signal_strength=0",
        cwd=tmp_path,
    )
    assert proc.returncode == EXIT_NOT_PROMOTED, proc.stderr[-2000:]
    assert "NOT PROMOTED" in proc.stdout
    (report,) = (tmp_path / "artifacts" / "reports").iterdir()
    data = json.loads((report / "evaluation.json").read_text())
    assert data["source"]["overrides"] == ["data.signal_strength=0"]
    proc = run_cli("evaluation", f"verify={report}", cwd=tmp_path)  # a report names its run
    assert proc.returncode == EXIT_PASSED, proc.stdout + proc.stderr[-2000:]
    assert "verified" in proc.stdout


def test_overfitting_statistics_come_from_the_study_trials(
    make_run: Callable[..., Path], tmp_path: Path
) -> None:
    import shutil

    import optuna

    from evaluation.source import open_source
    from evaluation.study import study_stats

    runs = [make_run(), make_run("model.max_depth=3"), make_run("model.max_depth=2", "seed=1")]
    study_dir = tmp_path / "studies" / "s1"
    study_dir.mkdir(parents=True)
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(study_dir / "journal.log"))
    )
    study = optuna.create_study(study_name="s1", storage=storage, direction="maximize")
    dist = {"max_depth": optuna.distributions.IntDistribution(2, 9)}
    for depth, value, run_dir in zip((5, 3, 2), (0.1, 0.3, 0.2), runs, strict=True):
        study.add_trial(
            optuna.trial.create_trial(
                params={"max_depth": depth},
                distributions=dist,
                value=value,
                user_attrs={"run_dir": str(run_dir)},
            )
        )
    study.add_trial(
        optuna.trial.create_trial(
            params={"max_depth": 9}, distributions=dist, state=optuna.trial.TrialState.PRUNED
        )
    )
    shutil.copytree(runs[1], study_dir / "best")

    source = open_source(str(study_dir / "best"), [])
    assert source.kind == "study_best" and source.study_dir == study_dir
    table = build_table(source.config.data, source.config.features)
    stats = study_stats(study_dir, table, cost_bps=7.0, n_blocks=8)
    assert stats.available, stats.reason
    assert stats.n_trials_tried == 4 and stats.n_trials_used == 3
    assert stats.dsr["chosen_trial"] == 1 and stats.dsr["n_trials"] == 4
    assert 0.0 <= stats.dsr["value"] <= 1.0 and 0.0 <= stats.pbo["value"] <= 1.0
    assert stats.pbo["n_splits"] == 70  # C(8, 4)

    lone = tmp_path / "studies" / "empty"
    lone.mkdir()
    assert not study_stats(lone, table, 7.0, 8).available


@pytest.mark.slow
@pytest.mark.parametrize(("signal", "promoted"), [("0.15", True), ("0", False)])
def test_default_market_full_evaluation_promotes_a_4h_tree_model_only_with_a_signal(
    tmp_path: Path, signal: str, promoted: bool
) -> None:
    """The plan's controls at full size: a default XGBoost 4h run on the embedded market
    through the default 2023-2025 quarterly walk-forward. With the default signal the 4h
    guardrail set passes and the model is promoted; with no signal nothing is."""
    common = ["progress=false", "hardware.threads=1", f"data.signal_strength={signal}"]
    res = run_cli("trainer", "target.horizon=4h", *common, "hydra.run.dir=run", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    res = run_cli("evaluation", "run=run", "progress=false", cwd=tmp_path, timeout=900)
    expected = EXIT_PASSED if promoted else EXIT_NOT_PROMOTED
    assert res.returncode == expected, res.stdout[-3000:] + res.stderr[-2000:]
    assert (tmp_path / "artifacts" / "promoted" / "4h_direction").exists() == promoted


@pytest.mark.slow
def test_no_signal_control_promotes_nothing_with_the_strategy_searched(tmp_path: Path) -> None:
    """The negative control with the decision rule searched too: a 4h study over the model
    and the strategy (hysteresis band, minimum holding time) on the embedded market without
    a signal, its best evaluated through the default walk-forward: nothing is promoted."""
    common = ["progress=false", "hardware.threads=1", "data.signal_strength=0"]
    res = run_cli(
        "trainer",
        "target.horizon=4h",
        *common,
        "objective.metric=net_sharpe",
        "strategy=hysteresis",
        "strategy.band=interval(0.0,0.3)",
        "strategy.min_hold_hours=choice(4,8,24)",
        "hydra.sweeper.n_trials=6",
        "-m",
        cwd=tmp_path,
        timeout=900,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    (study,) = (tmp_path / "artifacts" / "studies").iterdir()
    res = run_cli(
        "evaluation", f"run={study / 'best'}", "progress=false", cwd=tmp_path, timeout=900
    )
    assert res.returncode == EXIT_NOT_PROMOTED, res.stdout[-3000:] + res.stderr[-2000:]
    assert not (tmp_path / "artifacts" / "promoted").exists()
    (report,) = (tmp_path / "artifacts" / "reports").iterdir()
    data = json.loads((report / "evaluation.json").read_text())
    assert data["strategy"]["name"] == "hysteresis"
    assert data["overfitting"]["available"], data["overfitting"]["reason"]


def test_a_written_report_is_a_baseline_of_its_own_market_and_refused_for_another_before_any_fit(
    evaluated: tuple[Evaluation, EvaluationConfig, int], tmp_path: Path
) -> None:
    from evaluation.baseline import check_stored_baseline, read_stored_baseline

    ev, cfg = _fresh(*evaluated[:2], tmp_path)
    finish(judge(ev, STRICT), cfg)
    report = str(tmp_path / "reports" / ev.name)
    # the series a report writes is a baseline of the same market and period
    check_stored_baseline(report, read_stored_baseline(report), ev.oos.timestamps, ev.oos.log_ret)
    # another market (the synthetic market of another seed): refused before the walk-forward
    other = replace(
        cfg,
        overrides=["data.seed=7"],
        backtest=replace(cfg.backtest, baseline=report),
        artifacts_dir=str(tmp_path / "other"),
    )
    import evaluation.evaluate as module

    def no_fit(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the walk-forward ran before the baseline was checked")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(module, "run_walk_forward", no_fit)
        with pytest.raises(UserError, match=r"backtest.baseline=.*: another market"):
            evaluate(other)
