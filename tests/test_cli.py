"""`python -m trainer` from a user's shell: runs, sweeps seeds, and rejects mistakes early."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from evaluation.campaign.config import register as campaign_register
from evaluation.config import register as evaluation_register
from tests.conftest import CONF, TINY, run_cli
from trainer.cli import OPENMP_SPINCOUNT, process_defaults
from trainer.config import register
from trainer.run_config import GROUPS


def test_cli_run_writes_a_hydra_run_directory(tmp_path: Path) -> None:
    res = run_cli("trainer", *TINY, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    (run_dir,) = list((tmp_path / "outputs").glob("*/*"))
    for name in (".hydra/config.yaml", "metrics.json", "metadata.json", "model/model.ubj"):
        assert (run_dir / name).is_file(), name


def test_seed_list_multirun_runs_three_jobs_in_one_directory(tmp_path: Path) -> None:
    res = run_cli("trainer", *TINY, "search=grid", "seed=0,1,2", "-m", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    (sweep_dir,) = list((tmp_path / "outputs").glob("*/*"))
    seeds = sorted(
        json.loads((sweep_dir / str(i) / "metadata.json").read_text())["seed"] for i in range(3)
    )
    assert seeds == [0, 1, 2]


def test_a_grid_with_a_config_mistake_stops_with_one_line_naming_the_key(
    tmp_path: Path,
) -> None:
    res = run_cli(
        "trainer", *TINY, "search=grid", "seed=0,1", "model.subsample=1.5", "-m", cwd=tmp_path
    )
    assert res.returncode == 2, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: model.subsample=1.5"), res.stderr


def _chosen_groups(config_name: str) -> set[str]:
    """The groups ``config_name`` composes (Hydra records each one's choice)."""
    register()
    evaluation_register()
    campaign_register()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name, return_hydra_config=True)
    return {g for g in cfg.hydra.runtime.choices if not g.startswith("hydra")}


@pytest.mark.parametrize(
    ("module", "groups"),
    [
        ("trainer", lambda: _chosen_groups("train")),
        # the evaluated run's groups (overrides of its config), and the evaluation's own
        ("evaluation", lambda: set(GROUPS) | _chosen_groups("evaluation")),
        ("evaluation.campaign", lambda: _chosen_groups("campaign_run")),
    ],
)
def test_help_names_the_program_and_lists_only_the_groups_a_user_picks_from(
    module: str, groups: Callable[[], set[str]], tmp_path: Path
) -> None:
    res = run_cli(module, "--help", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"python -m {module} ")
    assert "powered by Hydra" not in res.stdout.splitlines()[0]
    listing = res.stdout.split("== Configuration groups ==")[1].split("== Config ==")[0]
    listed = {
        line.split(":")[0]: line.split(":", 1)[1].strip()
        for line in listing.splitlines()[2:]
        if ":" in line
    }
    assert set(listed) == groups()  # no schema_*, no other entrypoint's group
    for group, options in listed.items():
        assert options == ", ".join(sorted(p.stem for p in (CONF / group).glob("*.yaml")))


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("model.max_dept=5", "max_dept"),
        ("model.max_depth=deep", "max_depth"),
        ("model.subsample=1.5", "model.subsample"),
        ("model=xgbost", "xgbost"),
        ("target.horizon=2h", "target.horizon"),
        ("data=csv", "data.path"),
    ],
)
def test_config_mistakes_stop_before_any_work_with_one_clear_line(
    tmp_path: Path, override: str, expected: str
) -> None:
    res = run_cli("trainer", "progress=false", override, cwd=tmp_path, timeout=60)
    assert res.returncode != 0
    assert expected in res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    assert not list(tmp_path.glob("outputs/*/*/metrics.json"))


def test_a_missing_csv_file_is_named_in_the_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    res = run_cli("trainer", "data=csv", f"data.path={missing}", cwd=tmp_path, timeout=60)
    assert res.returncode != 0
    assert str(missing) in res.stderr
    assert "Traceback" not in res.stderr


def test_entrypoints_shorten_openmp_spinning_unless_the_user_chose_a_policy() -> None:
    env: dict[str, str] = {}
    process_defaults(env)
    assert env["GOMP_SPINCOUNT"] == OPENMP_SPINCOUNT
    mine = {"GOMP_SPINCOUNT": "300000"}
    process_defaults(mine)
    assert mine["GOMP_SPINCOUNT"] == "300000"
    policy = {"OMP_WAIT_POLICY": "ACTIVE"}
    process_defaults(policy)
    assert "GOMP_SPINCOUNT" not in policy


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc")
def test_no_openmp_runtime_is_loaded_before_the_entrypoints_set_their_defaults() -> None:
    # libgomp reads GOMP_SPINCOUNT once, when it loads: an import of xgboost, lightgbm,
    # sklearn or torch at module level in the entrypoints would make the default a no-op.
    code = (
        "import re, trainer.__main__, evaluation.__main__\n"
        "maps = open('/proc/self/maps').read()\n"
        "print(sorted(set(re.findall(r'[^/\\s]*lib[gi]?omp[^/\\s]*', maps))))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "[]", res.stdout
