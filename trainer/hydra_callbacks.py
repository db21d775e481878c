"""Hydra callbacks of the entrypoints, registered under ``hydra.callbacks`` in conf/train.yaml
and conf/evaluation.yaml. Apart from ``trainer.cli`` so commands that never compose with Hydra
(``python -m trainer.predict``) do not import it."""

from __future__ import annotations

from typing import Any

from hydra.experimental.callback import Callback

from trainer.cli import fail
from trainer.errors import UserError, writable_dir


class CheckOutputs(Callback):
    """The run's (or sweep's) directory, checked before Hydra makes it: a path too long, under
    a file or in a read-only place is one line, not a traceback from Hydra's ``mkdir``."""

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        _check_dir("hydra.run.dir", str(config.hydra.run.dir))

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        _check_dir("hydra.sweep.dir", str(config.hydra.sweep.dir))


def _check_dir(key: str, path: str) -> None:
    try:
        writable_dir(key, path)
    except UserError as exc:
        fail(str(exc))  # SystemExit: Hydra turns a callback's Exception into a mere warning
