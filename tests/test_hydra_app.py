"""A plain run composes once (``trainer.hydra_app``) and must leave what ``hydra.main`` leaves."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig

from tests.conftest import run_cli
from trainer import hydra_app
from trainer.hydra_app import job_name, plain_overrides, run_once

HOOKS = ("on_run_start", "on_multirun_start", "on_job_start", "on_job_end", "on_run_end")


class Recorder:
    """A user's Hydra callback: appends each hook it sees to ``path``."""

    def __init__(self, path: str, name: str = "rec") -> None:
        self.path, self.name = Path(path), name

    def __getattr__(self, hook: str) -> Any:
        if hook not in HOOKS:
            raise AttributeError(hook)

        def record(**kwargs: Any) -> None:
            with self.path.open("a") as f:
                f.write(f"{self.name}.{hook} {sorted(kwargs)}\n")

        return record


def _run_dir(cwd: Path) -> Path:
    (run,) = (cwd / "outputs").glob("*/*")
    return run


def _files(run: Path) -> dict[str, bytes]:
    files = {str(p.relative_to(run)): p.read_bytes() for p in run.rglob("*") if p.is_file()}
    # the one file that names where and when it ran
    hydra_yaml = files.pop(".hydra/hydra.yaml").decode()
    kept = [
        line
        for line in hydra_yaml.splitlines()
        if not line.lstrip().startswith(("cwd:", "output_dir:"))
    ]
    files[".hydra/hydra.yaml"] = "\n".join(kept).encode()
    return files


def test_a_plain_run_leaves_the_same_files_and_calls_the_same_callbacks_as_hydra_main(
    tmp_path: Path,
) -> None:
    runs = {}
    for name, flags in {"plain": [], "hydra.main": ["--run"]}.items():
        cwd = tmp_path / name.replace(".", "_")
        cwd.mkdir()
        hooks = cwd / "hooks.txt"
        res = run_cli(
            "trainer",
            *flags,
            "progress=false",
            "model.n_estimators=20",
            "seed=3",
            f"+hydra.callbacks.a._target_={__name__}.Recorder",
            "+hydra.callbacks.a.path=hooks.txt",
            "+hydra.callbacks.a.name=a",
            f"+hydra.callbacks.b._target_={__name__}.Recorder",
            "+hydra.callbacks.b.path=hooks.txt",
            "+hydra.callbacks.b.name=b",
            cwd=cwd,
        )
        assert res.returncode == 0, res.stderr
        runs[name] = (_files(_run_dir(cwd)), hooks.read_text().splitlines())
    (plain_files, plain_hooks), (main_files, main_hooks) = runs["plain"], runs["hydra.main"]
    assert sorted(plain_files) == sorted(main_files)
    assert "__main__.log" in plain_files  # hydra.job.name as hydra.main names it
    for name in main_files:
        assert plain_files[name] == main_files[name], name
    assert plain_hooks == main_hooks
    assert [h.split()[0] for h in plain_hooks] == [
        "a.on_run_start",
        "b.on_run_start",
        "a.on_job_start",
        "b.on_job_start",
        "b.on_job_end",
        "a.on_job_end",
        "b.on_run_end",
        "a.on_run_end",
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["-m"],
        ["model=lstm", "--multirun"],
        ["--cfg", "job"],
        ["--help"],
        ["-cd", "elsewhere"],
        ["model.max_depth=3,5"],  # a sweep value: Hydra's own error without -m
        ["seed=range(3)"],
        ["hydra.mode=MULTIRUN"],
        ["hydra.verbose=true"],
        ["model.max_depth=["],  # Hydra's parse error
    ],
)
def test_anything_but_a_plain_run_is_left_to_hydra_main(argv: list[str]) -> None:
    assert plain_overrides(argv) is None


def test_a_plain_run_keeps_its_overrides() -> None:
    argv = ["model=lstm", "data.root=../x", "+extra=1", "~tracking", "costs.fee_bps=-1"]
    assert plain_overrides(argv) == argv


def test_a_sweep_value_without_multirun_is_still_hydras_one_line_error(tmp_path: Path) -> None:
    res = run_cli("trainer", "model.max_depth=3,5", cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.startswith("error: Ambiguous value for argument 'model.max_depth=3,5'")
    assert not (tmp_path / "outputs").exists()


@pytest.fixture
def conf_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "app.yaml").write_text("x: 1\nhydra:\n  run:\n    dir: " + str(tmp_path / "run") + "\n")
    monkeypatch.setattr(hydra_app, "CONF_DIR", conf)
    monkeypatch.chdir(tmp_path)
    return conf


def test_a_config_asking_for_a_multirun_is_not_run_as_one_job(conf_dir: Path) -> None:
    (conf_dir / "app.yaml").write_text("x: 1\nhydra:\n  mode: MULTIRUN\n")
    seen: list[DictConfig] = []

    def task(cfg: DictConfig) -> None:
        seen.append(cfg)

    assert run_once(task, "app", []) is False
    assert seen == []


def test_the_task_gets_the_composed_config_and_its_exception_reaches_the_caller(
    conf_dir: Path,
) -> None:
    seen: list[DictConfig] = []

    def task(cfg: DictConfig) -> None:
        seen.append(cfg)
        raise ValueError("inside the task")

    with pytest.raises(ValueError, match="inside the task"):
        run_once(task, "app", ["x=2"])
    assert [cfg.x for cfg in seen] == [2]
    assert "hydra" not in seen[0]
    assert (conf_dir.parent / "run" / ".hydra" / "overrides.yaml").read_text() == "- x=2\n"


class Failing:
    def on_job_start(self, **kwargs: Any) -> None:
        raise RuntimeError("broken callback")


def test_a_failing_callback_is_a_warning_as_in_hydra(conf_dir: Path) -> None:
    seen: list[int] = []

    def task(cfg: DictConfig) -> None:
        seen.append(cfg.x)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert run_once(task, "app", [f"+hydra.callbacks.f._target_={__name__}.Failing"])
    assert seen == [1]
    assert any("Failing.on_job_start raised RuntimeError" in str(w.message) for w in caught)


def sample_task(cfg: DictConfig) -> None:
    """A task function defined in an importable module."""


def test_the_job_is_named_as_hydra_main_names_it() -> None:
    assert job_name(sample_task) == "test_hydra_app"

    def in_main(cfg: DictConfig) -> None: ...

    in_main.__module__ = "__main__"
    assert job_name(in_main) == "test_hydra_app"  # the file's stem
