"""The bad-input catalogue: the mistakes users make at either entrypoint, run as they would.

Each case runs ``python -m trainer`` or ``python -m evaluation`` in a subprocess (its own empty
working directory) and must end with exit code 2, exactly one ``error:`` line on stderr naming
the culprit, no Python traceback, and nothing written but Hydra's own record of the attempt
(``.hydra/*.yaml``, the job log). The inputs (malformed files, tampered run directories, a
locked database) are built once per module and the selected cases run three at a time.
Variants of a case that other tests also cover in-process are marked slow.
The README's Troubleshooting section lists every case with the message a user sees.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import hourly_market

SYNTHETIC = ("data.start=2022-01-01", "data.end=2023-06-30")  # 18 months: builds in < 1 s
XGB = ("model.n_estimators=20",)
PARALLEL = 3  # cases at once: most are ~1 s of interpreter start-up and config composition
USER_ERROR = 2
# What a failed command may leave: Hydra's record of the attempt, never a result.
ALLOWED_FILES = {"config.yaml", "hydra.yaml", "overrides.yaml", "__main__.log", "multirun.yaml"}


@dataclass(frozen=True)
class Case:
    id: str
    entry: str  # trainer | evaluation
    args: tuple[str, ...]  # {name} placeholders are paths from the `inputs` fixture
    expect: str  # in the error line (placeholders allowed)
    why: str  # the category, for the catalogue
    slow: bool = False  # a variant of a default case: run with -m slow


def trainer(id: str, *args: str, expect: str, why: str = "config", slow: bool = False) -> Case:
    """A ``python -m trainer`` case: the tiny synthetic market and 20 boosting rounds, unless
    the case picks its own ``data=`` or ``model=``."""
    base = ["progress=false"]
    if not any(a.startswith("data=") for a in args):
        base += SYNTHETIC
    if not any(a.startswith("model=") for a in args):
        base += XGB
    return Case(id, "trainer", (*base, *args), expect, why, slow)


def sweep(id: str, *args: str, expect: str, why: str = "storage", slow: bool = False) -> Case:
    budget = ("hydra.sweeper.n_trials=2", "hydra.sweeper.reproduce_seeds=0")
    return trainer(id, *budget, *args, "-m", expect=expect, why=why, slow=slow)


def evaluation(id: str, *args: str, expect: str, why: str = "artifact", slow: bool = False) -> Case:
    return Case(id, "evaluation", ("progress=false", *args), expect, why, slow)


CASES = [
    # -- config ----------------------------------------------------------------------------
    trainer("typo in a key", "model.max_dept=5", expect="model.max_dept"),
    trainer("wrong type", "model.max_depth=deep", expect="model.max_depth"),
    trainer("out of range", "model.subsample=1.5", expect="model.subsample=1.5"),
    trainer("unknown group option", "model=xgbost", expect="model/xgbost"),
    trainer("unknown strategy", "strategy=hysterisis", expect="strategy/hysterisis"),
    trainer("hysteresis band out of range", "strategy.band=1.5", expect="strategy.band=1.5"),
    trainer("unknown top-level key", "seeds=3", expect="seeds"),
    trainer("wrong top-level type", "seed=abc", expect="seed", slow=True),
    trainer("unknown horizon", "target.horizon=2h", expect="target.horizon='2h'"),
    trainer(
        "unknown objective metric",
        "objective.metric=accuracy",
        expect="objective.metric",
        slow=True,
    ),
    trainer(
        "split fractions do not sum to 1", "split.train=0.9", expect="must sum to 1", slow=True
    ),
    trainer("unparseable override", "model.max_depth=[1", expect="cannot parse"),
    trainer("data=csv without a path", "data=csv", expect="data.path"),
    trainer(
        "data range reversed",
        "data.start=2023-01-01",
        "data.end=2022-01-01",
        expect="data.start",
        slow=True,
    ),
    trainer(
        "heads do not divide d_model",
        "model=transformer",
        "model.d_model=100",
        "model.num_heads=3",
        expect="model.num_heads=3 does not divide model.d_model=100",
    ),
    trainer(
        "sequence longer than a split",
        "model=lstm",
        "model.sequence_len=500",
        "model.hidden_dim=8",
        "model.num_layers=1",
        "data.start=2022-01-01",
        "data.end=2022-03-31",
        expect="model.sequence_len=500",
    ),
    trainer(
        "walk-forward period outside the data",
        "split=walk_forward",
        "split.start=2030-01-01",
        "split.end=2030-12-31",
        expect="split.start=2030-01-01",
    ),
    trainer(
        "GPU preset without CUDA",
        "model=lstm",
        "hardware=a10",
        expect="hardware=a10 needs a CUDA device",
    ),
    trainer(
        "ensemble combines an unknown member",
        "model=ensemble",
        "model.use=xgb+nope",
        expect="model.use='xgb+nope'",
    ),
    sweep(
        "unknown pruner", "hydra.sweeper.pruner=bogus", expect="hydra.sweeper.pruner", why="config"
    ),
    sweep(
        "empty budget",
        "hydra.sweeper.n_trials=0",
        expect="hydra.sweeper.n_trials=0",
        why="config",
        slow=True,
    ),
    sweep(
        "parallel trials on the basic launcher",
        "hydra.sweeper.n_jobs=2",
        expect="hydra.sweeper.n_jobs=2",
        why="config",
        slow=True,
    ),
    sweep(
        "GPU preset in a sweep without CUDA",  # fails before the study (journal) is created
        "model=lstm",
        "hardware=a10",
        expect="hardware=a10 needs a CUDA device",
        why="config",
    ),
    sweep("unknown search space", "search=bogus", expect="search/bogus", why="config"),
    sweep(
        "config mistake in a parallel sweep",  # the worker pool is stopped, quietly
        "hardware=cpu_pool",
        "model.max_depth=0",
        expect="model.max_depth=0",
        why="config",
    ),
    trainer("NaN in a float key", "costs.fee_bps=nan", expect="costs.fee_bps=nan: not a finite"),
    trainer(
        "inf in a learner float",
        "model.min_child_weight=inf",
        expect="model.min_child_weight=inf",
        slow=True,
    ),
    sweep(
        "NaN in a sweeper setting",
        "hydra.sweeper.heartbeat_interval=nan",
        expect="hydra.sweeper.heartbeat_interval=nan",
        why="config",
        slow=True,
    ),
    trainer(
        "unbounded thresholds",
        "objective.n_thresholds=100000000",
        expect="objective.n_thresholds=100000000: must be in [2, 500] (",
    ),
    trainer(
        "thread count past any machine",
        "model=lstm",
        "hardware.threads=100000",
        expect="hardware.threads=100000",
        slow=True,
    ),
    evaluation(
        "CSCV blocks past memory",
        "run={run1h}",
        "overfitting.n_blocks=40",
        expect="overfitting.n_blocks=40: must be in [2, 16] (",
        why="config",
    ),
    sweep("negative seed in a sweep", "seed=-1", expect="seed=-1: a seed must be", why="config"),
    trainer("seed beyond 2**32-1", f"seed={2**40}", expect=f"seed={2**40}", slow=True),
    # -- data -------------------------------------------------------------------------------
    trainer(
        "missing csv file",
        "data=csv",
        "data.path={missing_csv}",
        expect="{missing_csv}",
        why="data",
    ),
    trainer("empty csv file", "data=csv", "data.path={empty_csv}", expect="empty file", why="data"),
    trainer(
        "no close column", "data=csv", "data.path={no_close}", expect="column 'close'", why="data"
    ),
    trainer(
        "duplicated timestamp",
        "data=csv",
        "data.path={duplicated}",
        expect="row 121:",
        why="data",
    ),
    trainer(
        "unsorted timestamps",
        "data=csv",
        "data.path={unsorted}",
        expect="row 52:",
        why="data",
        slow=True,
    ),
    trainer(
        "naive timestamps",
        "data=csv",
        "data.path={naive}",
        expect="column 'timestamp'",
        why="data",
        slow=True,
    ),
    trainer(
        "NaN run in close",
        "data=csv",
        "data.path={nan_run}",
        expect="row 41:",
        why="data",
        slow=True,
    ),
    trainer(
        "negative price",
        "data=csv",
        "data.path={negative}",
        expect="column 'low'",
        why="data",
        slow=True,
    ),
    trainer(
        "text in a numeric column",
        "data=csv",
        "data.path={text}",
        expect="column 'volume'",
        why="data",
        slow=True,
    ),
    trainer(
        "a 1e308 bar",
        "data=csv",
        "data.path={huge_bar}",
        expect="column 'close', row 100: 1e+308 is beyond 1e+18",
        why="data",
    ),
    trainer(
        "a bad tick 1e6x its neighbours",
        "data=csv",
        "data.path={bad_tick}",
        expect="column 'close', row 151: a bad tick",
        why="data",
        slow=True,
    ),
    trainer(
        "a column named twice",
        "data=csv",
        "data.path={duplicate_column}",
        expect="column 'close': appears twice in the header (columns 2 and 5)",
        why="data",
    ),
    trainer(
        "too little history for the longest window",
        "data=csv",
        "data.path={short}",
        expect="needs",
        why="data",
    ),
    trainer(
        "csv renamed .parquet",
        "data=parquet",
        "data.path={fake_parquet}",
        expect="not a readable parquet",
        why="data",
        slow=True,
    ),
    trainer(
        "npz missing an array", "data=npz", "data.path={npz_missing}", expect="X_valid", why="data"
    ),
    trainer(
        "npz changed after writing",
        "data=npz",
        "data.path={npz_changed}",
        expect="sha256",
        why="data",
    ),
    trainer(
        "npz without its sidecar",
        "data=npz",
        "data.path={npz_alone}",
        expect="sidecar",
        why="data",
        slow=True,
    ),
    # -- artifacts --------------------------------------------------------------------------
    evaluation("no run given", expect="run=", slow=True),
    evaluation("run directory missing", "run={missing_run}", expect="{missing_run}"),
    evaluation(
        "not a run directory", "run={not_a_run}", expect="not a quantsweep run directory", slow=True
    ),
    evaluation("truncated model file", "run={truncated_model}", expect="model.ubj"),
    evaluation("tampered model file", "run={tampered_model}", expect="model.ubj"),
    evaluation("model file missing", "run={no_model}", expect="model", slow=True),
    evaluation(
        "metadata of another format version", "run={old_format}", expect="format_version 99"
    ),
    evaluation(
        "truncated metadata.json", "run={truncated_metadata}", expect="metadata.json", slow=True
    ),
    evaluation("composed config missing", "run={no_config}", expect=".hydra/config.yaml"),
    evaluation("verify a missing run", "verify={missing_run}", expect="{missing_run}", slow=True),
    trainer(
        "ensemble member trained for another horizon",
        "model=ensemble",
        "model.members=[{{name:old,path:'{run4h}'}}]",
        "model.use=old",
        expect="target.horizon=4h",
        why="artifact",
    ),
    trainer(
        "ensemble member path missing",
        "model=ensemble",
        "model.members=[{{name:old,path:'{missing_run}'}}]",
        "model.use=old",
        expect="no such run directory",
        why="artifact",
        slow=True,
    ),
    evaluation(
        "evaluation period outside the data",
        "run={run1h}",
        "walk_forward.start=2030-01-01",
        "walk_forward.end=2030-12-31",
        expect="walk_forward",
        why="config",
    ),
    evaluation(
        "evaluation key typo",
        "run={run1h}",
        "walk_forward.step_month=3",
        expect="step_month",
        why="config",
        slow=True,
    ),
    evaluation(
        "guardrail out of range",
        "run={run1h}",
        "guardrails.min_hit_rate=1.5",
        expect="guardrails.min_hit_rate",
        why="config",
        slow=True,
    ),
    evaluation(
        "run override typo",
        "run={run1h}",
        "model.max_dept=3",
        expect="model.max_dept",
        why="config",
    ),
    evaluation(
        "run override names an unknown option",
        "run={run1h}",
        "model=xgbost",
        expect="xgbost",
        why="config",
        slow=True,
    ),
    evaluation(
        "run override points at a missing file",
        "run={run1h}",
        "data=csv",
        "data.path={missing_csv}",
        expect="{missing_csv}",
        why="data",
    ),
    evaluation(
        "stored baseline that is not a report",  # refused before the walk-forward
        "run={run1h}",
        "backtest.baseline={not_a_run}",
        expect="backtest.baseline={not_a_run}: no series.parquet",
    ),
    # -- output locations ---------------------------------------------------------------------
    evaluation(
        "evaluation artifacts_dir is a file",
        "run={run1h}",
        "artifacts_dir={a_file}",
        expect="artifacts_dir={a_file}: {a_file} is a file, not a directory",
        why="storage",
    ),
    evaluation(
        "evaluation artifacts_dir read-only",
        "run={run1h}",
        "artifacts_dir=/sys/quantsweep",
        expect="cannot write in /sys",
        why="storage",
        slow=True,
    ),
    evaluation("report name '.'", "run={run1h}", "name=.", expect="name='.': must be a plain name"),
    evaluation(
        "report name '..'", "run={run1h}", "name=..", expect="name='..'", why="config", slow=True
    ),
    trainer(
        "run directory under a file",
        "hydra.run.dir={a_file}/run",
        expect="is a file",
        why="storage",
    ),
    trainer(
        "run directory too long",
        "hydra.run.dir=" + "d" * 300,
        expect="longer than a file name may be (255 bytes)",
        why="storage",
        slow=True,
    ),
    trainer(
        "run directory read-only",
        "hydra.run.dir=/sys/quantsweep/run",
        expect="hydra.run.dir=/sys/quantsweep/run: cannot write in /sys",
        why="storage",
        slow=True,
    ),
    evaluation(
        "evaluation run directory under a file",
        "run={run1h}",
        "hydra.run.dir={a_file}/run",
        expect="hydra.run.dir",
        why="storage",
        slow=True,
    ),
    sweep(
        "study name escaping artifacts_dir",
        "hydra.sweeper.study_name=../escape",
        expect="hydra.sweeper.study_name='../escape': must be a plain name",
        why="config",
    ),
    sweep(
        "empty artifacts_dir in a sweep",  # "" + /studies/... would be a study at the root
        "artifacts_dir=",
        expect="artifacts_dir='': empty",
        why="config",
    ),
    sweep(
        "sweep directory under a file",
        "hydra.sweep.dir={a_file}/sweep",
        expect="hydra.sweep.dir",
        slow=True,
    ),
    trainer(
        "a 100,000-character data.path",
        "data=csv",
        "data.path=" + "x" * 100_000,
        expect="(100000 chars): longer than a path may be (4096 bytes)",
        why="data",
    ),
    # -- storage ----------------------------------------------------------------------------
    sweep(
        "unreachable database",
        "hydra.sweeper.storage=postgresql://u:secret@127.0.0.1:1/db",
        expect="postgresql://u:***@127.0.0.1:1/db",
    ),
    sweep("locked sqlite database", "hydra.sweeper.storage=sqlite:///{locked_db}", expect="locked"),
    sweep(
        "sqlite file that is not a database",
        "hydra.sweeper.storage=sqlite:///{not_a_db}",
        expect="not a database",
        slow=True,
    ),
    sweep(
        "journal under a regular file",
        "hydra.sweeper.storage={a_file}/journal.log",
        expect="{a_file}",
    ),
    sweep(
        "study journal damaged before intact records",
        "hydra.sweeper.storage={damaged_journal}",
        expect="study journal {damaged_journal}, line 2: not a journal record",
    ),
    sweep(
        "journal path is a directory", "hydra.sweeper.storage={a_dir}", expect="{a_dir}", slow=True
    ),
    sweep(
        "unwritable journal location",
        "hydra.sweeper.storage=/proc/quantsweep/journal.log",
        expect="/proc/quantsweep",
    ),
]


# -- inputs -----------------------------------------------------------------------------------


def _market(rows: int = 300) -> pd.DataFrame:
    return hourly_market(rows)


def _edited(edit: Callable[[pd.DataFrame], None]) -> pd.DataFrame:
    df = _market().astype(object)
    edit(df)
    return df


def _set(column: str, rows: list[int], value: object) -> Callable[[pd.DataFrame], None]:
    def edit(df: pd.DataFrame) -> None:
        df.loc[rows, column] = value

    return edit


def _repeat_timestamp(df: pd.DataFrame) -> None:
    df.loc[120, "timestamp"] = df.loc[119, "timestamp"]


def _swap_timestamps(df: pd.DataFrame) -> None:
    df.loc[[50, 51], "timestamp"] = df.loc[[51, 50], "timestamp"].to_numpy()


def _naive_timestamps(df: pd.DataFrame) -> None:
    df["timestamp"] = df["timestamp"].str.rstrip("Z")


def _open_named_close(df: pd.DataFrame) -> None:
    df.columns = pd.Index(["close" if c == "open" else c for c in df.columns])


# file name -> edit of the good table (row numbers in messages count from 1, after the header)
CSV_EDITS: dict[str, Callable[[pd.DataFrame], None]] = {
    "duplicated": _repeat_timestamp,
    "unsorted": _swap_timestamps,
    "naive": _naive_timestamps,
    "nan_run": _set("close", [40, 41, 42], np.nan),
    "negative": _set("low", [70], -5.0),
    "text": _set("volume", [80], "lots"),
    "huge_bar": _set("close", [99], 1e308),
    "bad_tick": _set("close", [150], 4e10),
    "duplicate_column": _open_named_close,
}


def _train(run_dir: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trainer",
            "progress=false",
            *SYNTHETIC,
            *XGB,
            *args,
            f"hydra.run.dir={run_dir}",
        ],
        cwd=run_dir.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def _copy_run(src: Path, dest: Path, edit: Callable[[Path], None]) -> Path:
    shutil.copytree(src, dest)
    edit(dest)
    return dest


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_a_bit(path: Path) -> None:
    """One bit of the middle byte flipped: XGBoost still loads the model (it predicts
    something else), so only the checksum recorded at save time can tell."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _set_format_version(run: Path) -> None:
    meta = json.loads((run / "metadata.json").read_text())
    meta["format_version"] = 99
    (run / "metadata.json").write_text(json.dumps(meta))


def _npz_inputs(root: Path) -> dict[str, Path]:
    from trainer.data.config import FeaturesConfig, SyntheticDataConfig
    from trainer.data.npz import write_splits
    from trainer.dataset import build_table
    from trainer.splits import holdout

    table = build_table(SyntheticDataConfig(start="2023-01-01", end="2023-03-31"), FeaturesConfig())
    fold = holdout(table.timestamps, (0.7, 0.15, 0.15), 4)
    paths = {}
    for name in ("npz_missing", "npz_changed", "npz_alone"):
        (out := root / name).mkdir()
        paths[name] = write_splits(out, table, fold, 4)[0]
    # a user's tool re-saved it without X_valid (and without our checksum)
    path = paths["npz_missing"]
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files if k != "X_valid"}
    np.savez(path, **arrays)
    sidecar = json.loads(path.with_suffix(".json").read_text())
    sidecar.pop("sha256")
    path.with_suffix(".json").write_text(json.dumps(sidecar))
    # changed in place after it was written: the sidecar's sha256 no longer matches
    with np.load(paths["npz_changed"], allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["X_train"] = arrays["X_train"] * 1.01
    np.savez(paths["npz_changed"], **arrays)
    paths["npz_alone"].with_suffix(".json").unlink()
    return paths


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    root = tmp_path_factory.mktemp("bad_inputs")
    runs = {"run1h": root / "run1h", "run4h": root / "run4h"}
    training = [_train(runs["run1h"]), _train(runs["run4h"], "target.horizon=4h")]

    paths: dict[str, Path] = {
        "missing_csv": root / "nope.csv",
        "missing_run": root / "no_such_run",
        "not_a_run": root / "not_a_run",
        "empty_csv": root / "empty.csv",
        "no_close": root / "no_close.csv",
        "short": root / "short.csv",
        "fake_parquet": root / "fake.parquet",
        "a_file": root / "a_file",
        "a_dir": root / "a_dir",
        "not_a_db": root / "not_a_db.sqlite",
        "locked_db": root / "locked.sqlite",
        "damaged_journal": root / "damaged.log",
    }
    paths["damaged_journal"].write_text('{"op_code": 0}\nnot a record\n{"op_code": 0}\n')
    paths["not_a_run"].mkdir()
    paths["empty_csv"].write_text("")
    _market().drop(columns=["close"]).to_csv(paths["no_close"], index=False)
    _market(100).to_csv(paths["short"], index=False)
    _market().to_csv(paths["fake_parquet"], index=False)
    paths["a_file"].write_text("not a directory\n")
    paths["a_dir"].mkdir()
    paths["not_a_db"].write_text("not an sqlite database\n")
    for name, edit in CSV_EDITS.items():
        paths[name] = root / f"{name}.csv"
        _edited(edit).to_csv(paths[name], index=False)
    paths.update(_npz_inputs(root))

    for proc in training:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    paths.update(runs)
    run = runs["run1h"]
    model = Path("model") / "model.ubj"
    paths["truncated_model"] = _copy_run(
        run, root / "truncated_model", lambda d: _truncate(d / model)
    )
    paths["tampered_model"] = _copy_run(
        run, root / "tampered_model", lambda d: _flip_a_bit(d / model)
    )
    paths["no_model"] = _copy_run(run, root / "no_model", lambda d: shutil.rmtree(d / "model"))
    paths["old_format"] = _copy_run(run, root / "old_format", _set_format_version)
    paths["truncated_metadata"] = _copy_run(
        run, root / "truncated_metadata", lambda d: _truncate(d / "metadata.json")
    )
    paths["no_config"] = _copy_run(
        run, root / "no_config", lambda d: (d / ".hydra" / "config.yaml").unlink()
    )

    # Another process holds an exclusive lock on this database for the whole module.
    lock = sqlite3.connect(paths["locked_db"], isolation_level=None)
    lock.execute("CREATE TABLE held (x)")
    lock.execute("BEGIN EXCLUSIVE")
    lock.execute("INSERT INTO held VALUES (1)")
    try:
        yield {name: str(p) for name, p in paths.items()}
    finally:
        lock.close()


@dataclass(frozen=True)
class Outcome:
    proc: subprocess.CompletedProcess[str]
    cwd: Path
    expect: str
    seconds: float


def _run_case(case: Case, paths: dict[str, str], cwd: Path) -> Outcome:
    cwd.mkdir(parents=True)
    args = [a.format(**paths) for a in case.args]
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", case.entry, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    return Outcome(proc, cwd, case.expect.format(**paths), time.perf_counter() - started)


@pytest.fixture(scope="module")
def outcomes(
    request: pytest.FixtureRequest,
    inputs: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Outcome]:
    """Every selected case, run a few at a time (``-k`` selects a subset of them)."""
    selected = {
        item.callspec.params["case"].id
        for item in request.session.items
        if isinstance(item, pytest.Function)
        and item.originalname == "test_a_bad_input_is_one_clear_error_line_and_leaves_nothing"
    }
    root = tmp_path_factory.mktemp("cases")
    chosen = [c for c in CASES if c.id in selected]
    with ThreadPoolExecutor(PARALLEL) as pool:
        futures = {
            c.id: pool.submit(_run_case, c, inputs, root / f"case{i}") for i, c in enumerate(chosen)
        }
    return {name: f.result() for name, f in futures.items()}


def _leftovers(cwd: Path) -> list[str]:
    """Files a failed command left that are not Hydra's record of the attempt."""
    return [
        str(p.relative_to(cwd))
        for p in cwd.rglob("*")
        if not p.is_dir() and p.name not in ALLOWED_FILES
    ]


def test_the_catalogue_covers_both_entrypoints_and_every_category() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)
    assert {c.entry for c in CASES} == {"trainer", "evaluation"}
    assert {c.why for c in CASES} == {"config", "data", "artifact", "storage"}


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c.id, marks=[pytest.mark.slow] if c.slow else []) for c in CASES]
)
def test_a_bad_input_is_one_clear_error_line_and_leaves_nothing(
    case: Case, outcomes: dict[str, Outcome]
) -> None:
    out = outcomes[case.id]
    stderr = out.proc.stderr
    assert "Traceback" not in stderr + out.proc.stdout, stderr[-3000:]
    assert out.proc.returncode == USER_ERROR, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines == errors, stderr[-3000:]
    assert out.expect in errors[0]
    assert _leftovers(out.cwd) == []
