"""The private Hydra, OmegaConf and Optuna behaviour the sweeper relies on, pinned one by one.

Every such use lives in ``hydra_plugins/quantsweep_sweeper/_internals.py``; a library version
that changes one fails here, naming it, instead of in a user's study.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import optuna
import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.utils import get_class
from omegaconf import OmegaConf
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from hydra_plugins.quantsweep_sweeper import _internals

PLUGIN = Path(_internals.__file__).parent
LIBRARIES = ("hydra", "omegaconf", "optuna")


def _private_uses(path: Path) -> list[str]:
    """Private modules, names or attributes of Hydra, OmegaConf or Optuna used in one file:
    imports, dotted names in strings, and ``x._attr`` on anything but ``self``/``cls``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        where = f"{path.name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            names = [a.name for a in node.names]
            private = any(p.startswith("_") for p in [*parts, *names])
            if parts[0] in LIBRARIES and private:
                found.append(f"{where} from {node.module} import {names}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value.startswith(("hydra._internal", "optuna.storages.journal._")):
                found.append(f"{where} {node.value}")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            owner = node.value.id if isinstance(node.value, ast.Name) else ""
            if not node.attr.startswith("__") and owner not in ("self", "cls"):
                found.append(f"{where} .{node.attr}")
    return found


def test_no_module_of_the_plugin_but_internals_touches_a_private_api() -> None:
    uses = {p.name: _private_uses(p) for p in PLUGIN.glob("*.py")}
    assert uses.pop("_internals.py")  # where they all are (and the check still sees them)
    assert not [u for found in uses.values() for u in found]


def test_hydras_grid_sweeper_is_a_sweeper() -> None:
    assert isinstance(_internals.basic_sweeper(), Sweeper)


def test_the_basic_launchers_name_is_the_class_hydra_builds_for_it() -> None:
    from hydra.core.plugins import Plugins

    cls = get_class(_internals.BASIC_LAUNCHER)
    assert issubclass(cls, Launcher)
    assert any(
        c is cls or c.__name__ == cls.__name__ for c in Plugins.instance().discover(Launcher)
    )


def test_override_dirname_is_key_equals_value_sorted_without_excluded_keys() -> None:
    parsed = OverridesParser.create().parse_overrides(["b=2", "a=x", "seed=1"])
    dirname = _internals.overrides_dirname(parsed, ["seed"], item_sep=",", kv_sep="=")
    assert dirname == "a=x,b=2"


def test_flushing_loggers_is_a_function_hydra_still_has() -> None:
    _internals.flush_loggers()


@pytest.mark.parametrize(
    ("text", "quoted"),
    [("true", True), ("Off", True), ("1", True), ("1.5", True), ("1e3", True), ("x1", False)],
)
def test_strings_that_load_as_bools_or_numbers_need_quotes(text: str, quoted: bool) -> None:
    assert _internals.yaml_needs_quotes(text) is quoted
    # OmegaConf's own YAML agrees
    assert (f"'{text}'" in OmegaConf.to_yaml({"k": text})) is quoted


def test_an_attached_node_resolves_interpolations_against_its_new_parent() -> None:
    full = OmegaConf.create({"hydra": {"dir": "${root}/out"}, "root": "/r"})
    view = OmegaConf.masked_copy(full, "hydra")
    full.root = "/other"
    _internals.attach_parent(view.hydra, full)
    assert view.hydra.dir == "/other/out"


def test_a_raw_value_keeps_interpolations_and_gives_containers_as_plain_data() -> None:
    cfg = OmegaConf.create({"a": {"b": "${c}", "d": {"e": 1}}, "c": 2})
    assert _internals.raw_value(cfg, "a.b") == "${c}"
    assert _internals.raw_value(cfg, "a.d") == {"e": 1}
    assert _internals.raw_value(cfg, "c") == 2


def test_a_failed_jobs_exception_is_read_without_raising_it() -> None:
    ret = JobReturn()
    ret.status = JobStatus.FAILED
    ret.return_value = ValueError("boom")
    with pytest.raises(ValueError):
        _ = ret.return_value  # the public property re-raises
    assert isinstance(_internals.caught_exception(ret), ValueError)


def test_the_durable_journal_records_are_optunas_trial_and_study_events() -> None:
    ops = _internals.journal_durable_ops()
    assert len(ops) == 7 and all(isinstance(op, int) for op in ops)


def test_journal_records_appended_under_the_backends_lock_read_back_in_optuna(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.log"
    ours = JournalStorage(JournalFileBackend(str(path)))
    study = optuna.create_study(storage=ours, study_name="s")
    backend = JournalFileBackend(str(path))
    # one more record, written the way TrialSyncedJournal writes all of them
    record = {"op_code": 2, "worker_id": "w", "study_id": 0, "user_attr": {"k": 1}}
    _internals.journal_append(backend, json.dumps(record) + "\n", sync=False)
    again = optuna.load_study(study_name="s", storage=JournalStorage(JournalFileBackend(str(path))))
    assert again.user_attrs == {"k": 1} and study.study_name == "s"
