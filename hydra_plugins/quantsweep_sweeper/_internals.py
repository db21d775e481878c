"""Every private Hydra, OmegaConf and Optuna API the sweeper relies on, and nothing else.

Each function names what it relies on; ``tests/test_internals.py`` pins each behaviour, so a
version bump that changes one fails there, in CI, rather than halfway through a user's study.
The other modules of the plugin use only these functions and the libraries' public APIs
(``lint-imports`` checks that no other module imports a private module).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hydra.core.utils import JobReturn
from omegaconf import DictConfig, OmegaConf

# hydra/launcher=basic, by name: Hydra's plugin scan re-executes its core plugin modules, so
# the class object imported here need not be the one the launcher was built from.
BASIC_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"


def basic_sweeper() -> Any:
    """Hydra's own grid sweeper (``search=grid``), which Hydra does not export."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    return BasicSweeper(max_batch_size=None)


def overrides_dirname(
    overrides: list[Any], exclude_keys: list[str], item_sep: str, kv_sep: str
) -> str:
    """``hydra.job.override_dirname`` of a job, as Hydra's config loader computes it."""
    from hydra._internal.config_loader_impl import get_overrides_dirname

    return get_overrides_dirname(
        overrides=overrides, exclude_keys=exclude_keys, item_sep=item_sep, kv_sep=kv_sep
    )


def flush_loggers() -> None:
    """What ``run_job`` does once the task returns: flush every logging handler."""
    from hydra.core.utils import _flush_loggers

    _flush_loggers()


def yaml_needs_quotes(text: str) -> bool:
    """OmegaConf's rule for a string in YAML: quoted when it would load as a bool or number."""
    from omegaconf._utils import is_float, is_int, yaml_is_bool

    return bool(yaml_is_bool(text) or is_int(text) or is_float(text))


def attach_parent(node: DictConfig, parent: DictConfig) -> None:
    """Resolve ``node``'s interpolations against ``parent``, as ``HydraConfig.set_config``
    does for the ``hydra`` node of a masked copy."""
    node._set_parent(parent)


def raw_value(cfg: DictConfig, key: str) -> Any:
    """The value at a dotted key as composed: interpolations kept, containers as plain data."""
    parent_key, _, leaf = key.rpartition(".")
    parent = OmegaConf.select(cfg, parent_key) if parent_key else cfg
    if not isinstance(parent, DictConfig):
        raise KeyError(key)
    node = parent._get_node(leaf)
    if OmegaConf.is_config(node):
        return OmegaConf.to_container(node, resolve=False)  # type: ignore[arg-type]
    return node._value()  # type: ignore[union-attr]


def caught_exception(ret: JobReturn) -> Any:
    """What a failed job raised: ``JobReturn.return_value`` re-raises it, the field does not."""
    return ret._return_value


def journal_durable_ops() -> frozenset[int]:
    """The journal records that start or end a trial or change the study."""
    from optuna.storages.journal._storage import JournalOperation as Op

    return frozenset(
        {
            Op.CREATE_STUDY,
            Op.DELETE_STUDY,
            Op.SET_STUDY_USER_ATTR,
            Op.SET_STUDY_SYSTEM_ATTR,
            Op.CREATE_TRIAL,
            Op.SET_TRIAL_STATE_VALUES,
            Op.DISCARD_TRIALS,
        }
    )


@contextmanager
def journal_locked(backend: Any) -> Iterator[None]:
    """Hold a ``JournalFileBackend``'s own inter-process lock (as its ``append_logs`` does)."""
    backend._lock.acquire()
    try:
        yield
    finally:
        backend._lock.release()


def journal_path(backend: Any) -> str:
    """The file a ``JournalFileBackend`` writes."""
    return str(backend._file_path)


def journal_append(backend: Any, text: str, sync: bool) -> None:
    """Append ``text`` to a ``JournalFileBackend``'s file under its own lock, calling
    ``fsync`` only when ``sync``."""
    with journal_locked(backend), open(journal_path(backend), "ab") as f:
        f.write(text.encode("utf-8"))
        f.flush()
        if sync:
            os.fsync(f.fileno())
