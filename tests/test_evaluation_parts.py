"""The parts of ``python -m evaluation`` that need no trained model: period inference, stress
folds, command-line routing, promotion's atomic swap, report rendering."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.cli import route_overrides
from evaluation.config import StressWindow, WalkForwardConfig
from evaluation.manifest import compare
from evaluation.promote import MANIFEST_FILE, promote
from evaluation.report import Block, render_html, render_markdown
from evaluation.stress import stress_fold
from evaluation.walk_forward import resolve_period
from trainer.errors import UserError


def _hours(start: str, end: str) -> np.ndarray:
    idx = pd.date_range(start, end, freq="h")
    return idx.to_numpy("datetime64[ns]")


def test_default_period_is_2023_to_2025_when_the_data_covers_it() -> None:
    ts = _hours("2020-01-08", "2025-12-31 19:00")
    p = resolve_period(WalkForwardConfig(), ts, 4)
    assert (p.start, p.end, p.inferred) == ("2023-01-01", "2025-12-31", False)


def test_period_is_inferred_from_shorter_data_as_whole_quarters_with_history() -> None:
    ts = _hours("2021-01-08", "2023-06-30 19:00")
    p = resolve_period(WalkForwardConfig(), ts, 4)
    assert p.inferred and p.end == "2023-06-30"
    start = pd.Timestamp(p.start)
    assert start.day == 1 and start.month in (1, 4, 7, 10)
    # a fold needs ~17 months of train + valid before its test quarter
    assert start - pd.DateOffset(months=17) >= pd.Timestamp("2021-01-08")


def test_inferred_period_ends_at_the_last_whole_quarter() -> None:
    ts = _hours("2019-01-01", "2023-05-15")
    p = resolve_period(WalkForwardConfig(infer_steps=2), ts, 4)
    assert (p.start, p.end) == ("2022-10-01", "2023-03-31")


def test_too_little_data_for_one_fold_is_a_user_error() -> None:
    ts = _hours("2023-01-01", "2023-09-30")
    with pytest.raises(UserError, match="too short"):
        resolve_period(WalkForwardConfig(), ts, 4)


def test_explicit_period_is_kept() -> None:
    ts = _hours("2020-01-01", "2025-12-31")
    wf = WalkForwardConfig(start="2024-01-01", end="2024-06-30")
    assert resolve_period(wf, ts, 4).start == "2024-01-01"


def test_bad_dates_and_fractions_are_user_errors_naming_the_key() -> None:
    with pytest.raises(UserError, match=r"walk_forward\.start"):
        WalkForwardConfig(start="yesterday-ish")
    with pytest.raises(UserError, match="must sum to 1"):
        WalkForwardConfig(train=0.8)


def test_evaluation_without_a_run_is_a_user_error_naming_the_key() -> None:
    from evaluation.cli import run
    from evaluation.config import EvaluationConfig

    with pytest.raises(UserError, match="run=PATH is required"):
        run(EvaluationConfig(progress=False))


def test_stress_model_never_sees_the_window_or_the_embargo_before_it() -> None:
    ts = _hours("2020-01-01", "2025-12-31")
    window = StressWindow("2022-11-06", "2022-11-20", True, "FTX")
    fold = stress_fold("ftx", window, ts, WalkForwardConfig(), embargo_hours=4)
    assert not isinstance(fold, str)
    start = np.datetime64("2022-11-06T00:00", "ns")
    assert ts[fold.valid.stop - 1] < start - np.timedelta64(4, "h")
    assert ts[fold.train.stop - 1] < ts[fold.valid.start]
    assert ts[fold.test.start] == start
    assert ts[fold.test.stop - 1] == np.datetime64("2022-11-20T23:00", "ns")


def test_stress_window_without_enough_history_is_skipped_with_the_reason() -> None:
    ts = _hours("2020-01-01", "2025-12-31")
    covid = StressWindow("2020-03-09", "2020-03-23", True, "COVID")
    reason = stress_fold("covid", covid, ts, WalkForwardConfig(), 4)
    assert isinstance(reason, str) and "data starts 2020-01-01" in reason


def test_bare_run_overrides_are_routed_into_one_overrides_list() -> None:
    args = ["run=outputs/x", "data.signal_strength=0", "guardrails.min_trades=10", "data=csv"]
    out = route_overrides(args)
    assert out[:2] == ["run=outputs/x", "guardrails.min_trades=10"]
    assert out[2] == "overrides=['data.signal_strength=0','data=csv']"


def test_explicit_overrides_list_is_merged_with_bare_ones() -> None:
    out = route_overrides(["overrides=[model.max_depth:3]", "seed=3", "--cfg", "job"])
    assert out == ["--cfg", "job", "overrides=['model.max_depth:3','seed=3']"]
    assert route_overrides(["run=a", "name=b"]) == ["run=a", "name=b"]


def test_routed_overrides_parse_back_in_hydra_grammar() -> None:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    out = route_overrides(["data=csv", "data.path=/tmp/it's.csv"])
    value = OverridesParser.create().parse_override(out[-1]).value()
    assert value == ["data=csv", "data.path=/tmp/it's.csv"]


def _fake_run(path: Path, marker: str) -> Path:
    (path / "model").mkdir(parents=True)
    (path / "model" / "model.ubj").write_text(marker)
    (path / ".hydra").mkdir()
    (path / ".hydra" / "config.yaml").write_text("seed: 0\n")
    (path / "metadata.json").write_text("{}")
    (path / "metrics.json").write_text("{}")
    return path


def test_promotion_publishes_the_run_with_its_manifest(tmp_path: Path) -> None:
    run = _fake_run(tmp_path / "run", "v1")
    dest = promote(run, tmp_path / "promoted", "1h_direction", {"metrics": {"hit_rate": 0.6}})
    assert (dest / "model" / "model.ubj").read_text() == "v1"
    assert json.loads((dest / MANIFEST_FILE).read_text())["metrics"]["hit_rate"] == 0.6
    run2 = _fake_run(tmp_path / "run2", "v2")
    promote(run2, tmp_path / "promoted", "1h_direction", {})
    assert (dest / "model" / "model.ubj").read_text() == "v2"
    leftovers = [p.name for p in (tmp_path / "promoted").iterdir() if "stage" in p.name]
    assert leftovers == []


@pytest.mark.parametrize(
    ("patched", "at_call"),
    [("shutil.copyfile", 30), ("shutil.copyfile", 230), ("os.replace", 1)],
    ids=["while-staging", "while-publishing", "before-the-swap"],
)
def test_a_kill_during_promotion_leaves_the_previous_model_intact(
    tmp_path: Path, patched: str, at_call: int
) -> None:
    import subprocess
    import sys

    run = _fake_run(tmp_path / "run", "old")
    dest = promote(run, tmp_path / "promoted", "1h_direction", {"v": 1})
    new = _fake_run(tmp_path / "new", "new")
    for i in range(200):
        (new / "model" / f"part{i}.bin").write_bytes(os.urandom(2_000))
    # A child process promotes the new run and is SIGKILLed at the given call.
    module, name = patched.split(".")
    code = (
        f"import os, shutil, signal\n"
        f"from pathlib import Path\n"
        f"from evaluation.promote import promote\n"
        f"real = {patched}\n"
        f"count = [0]\n"
        f"def dying(*a, **k):\n"
        f"    count[0] += 1\n"
        f"    if count[0] == {at_call}:\n"
        f"        os.kill(os.getpid(), signal.SIGKILL)\n"
        f"    return real(*a, **k)\n"
        f"{module}.{name} = dying\n"
        f"promote(Path({str(new)!r}), Path({str(tmp_path / 'promoted')!r}), '1h_direction', {{}})\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr.decode()[-500:]
    assert (dest / "model" / "model.ubj").read_text() == "old"
    assert json.loads((dest / MANIFEST_FILE).read_text())["v"] == 1
    assert not (dest / "model" / "part0.bin").exists()


def test_manifest_compare_names_every_differing_metric() -> None:
    a = {"valid": {"f1_up": 0.5, "n": 3}, "test": {"auc": 0.51}, "threshold": 0.4}
    b = {"valid": {"f1_up": 0.5000001, "n": 3}, "test": {"auc": 0.51}, "threshold": 0.4}
    assert compare(a, a) == []
    assert compare(a, b) == ["valid.f1_up: 0.5 != 0.5000001"]


def test_html_report_is_self_contained_and_escaped() -> None:
    content = [
        Block("heading", "Evaluation <x>", level=1),
        Block("text", "**PROMOTED** to `a/b`"),
        Block("table", rows=(("k", "v"), ("a|b", "<1>"))),
        Block("image", "equity.png"),
    ]
    page = render_html(content, {"equity.png": b"\x89PNG fake"}, "t")
    assert "<b>PROMOTED</b>" in page and "<code>a/b</code>" in page
    assert "&lt;1&gt;" in page and "Evaluation &lt;x&gt;" in page
    assert "data:image/png;base64," in page and "src='equity.png'" not in page
    md = render_markdown(content)
    assert "| a\\|b | <1> |" in md and "![equity.png](equity.png)" in md
