"""``@hydra_app("train")``: the entrypoints' ``hydra.main``, composing a plain run once.

``hydra.main`` composes the whole config twice for every command: once only to read
``hydra.mode`` (a config may turn a plain command into a multirun), then again for the run.
For a plain run (no flag on the command line, no sweep value, no ``hydra.mode`` or
``hydra.verbose`` override) this composes once with Hydra's compose API and runs the job with
``run_job``, the function Hydra's own launchers run jobs with: same run directory, ``.hydra/``
files, logging and callbacks. Anything else, and a composed config that asks for a multirun, goes
through ``hydra.main`` unchanged. ``tests/test_hydra_app.py`` checks both paths leave the same
files and call the same callbacks.
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from trainer.config import CONF_DIR

VERSION_BASE = "1.3"
# keys whose effect hydra.main handles outside composition (debug output, the run mode)
_HYDRA_MAIN_KEYS = ("hydra.mode", "hydra.verbose")


def hydra_app(config_name: str) -> Callable[[Callable[..., Any]], Callable[[], None]]:
    """Decorate an entrypoint's task function, as ``hydra.main`` with conf/ would."""

    def decorate(task: Callable[..., Any]) -> Callable[[], None]:
        import hydra

        hydra_main = hydra.main(
            version_base=VERSION_BASE, config_path=str(CONF_DIR), config_name=config_name
        )(task)

        @functools.wraps(task)
        def app() -> None:
            overrides = plain_overrides(sys.argv[1:])
            if overrides is None or not run_once(task, config_name, overrides):
                hydra_main()

        return app

    return decorate


def plain_overrides(argv: Sequence[str]) -> list[str] | None:
    """The command line's overrides when it is a plain run, else None (hydra.main's case)."""
    if any(arg.startswith("-") for arg in argv):  # -m, --help, --cfg, -cd, ...
        return None
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    try:
        parsed = OverridesParser.create().parse_overrides(list(argv))
    except OverrideParseException:
        return None  # hydra.main reports it
    for override in parsed:
        key = override.key_or_group
        if override.is_sweep_override() or key.startswith(_HYDRA_MAIN_KEYS):
            return None
    return list(argv)


def run_once(task: Callable[..., Any], config_name: str, overrides: list[str]) -> bool:
    """Compose and run one job, as ``hydra.main`` would; False, having run nothing, when the
    composed config asks for a multirun."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.utils import configure_log, run_job
    from hydra.types import HydraContext, RunMode

    with initialize_config_dir(
        config_dir=str(CONF_DIR), job_name=job_name(task), version_base=VERSION_BASE
    ):
        cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
        if cfg.hydra.mode == RunMode.MULTIRUN:
            return False
        if cfg.hydra.mode is None:  # what hydra.main adds when no config sets a mode
            cfg.hydra.overrides.hydra.append("hydra.mode=RUN")
            cfg.hydra.mode = RunMode.RUN
        configure_log(cfg.hydra.hydra_logging, cfg.hydra.verbose)
        callbacks = RunCallbacks(cfg)
        callbacks.on_run_start(config=cfg, config_name=config_name)
        loader = GlobalHydra.instance().config_loader()
        ret = run_job(
            hydra_context=HydraContext(config_loader=loader, callbacks=callbacks),  # type: ignore[arg-type]
            task_function=task,
            config=cfg,
            job_dir_key="hydra.run.dir",
            job_subdir_key=None,
        )
        callbacks.on_run_end(config=cfg, config_name=config_name, job_return=ret)
        _ = ret.return_value  # re-raises what the task raised
    return True


def job_name(task: Callable[..., Any]) -> str:
    """``hydra.job.name`` as ``hydra.main`` names it: the task's file stem when it runs as
    ``__main__``, else the last part of its module's name."""
    module = task.__module__
    if module in (None, "__main__"):
        return Path(task.__code__.co_filename).stem
    return str(module).rpartition(".")[2]


class RunCallbacks:
    """The ``hydra.callbacks`` of a config, called as Hydra calls them: in order at a start,
    in reverse at an end; a callback's exception is a warning, as in Hydra."""

    def __init__(self, config: DictConfig) -> None:
        from hydra.utils import instantiate

        nodes = OmegaConf.select(config, "hydra.callbacks") or {}
        self.callbacks = [instantiate(node) for node in nodes.values()]

    def _notify(self, hook: str, reverse: bool = False, **kwargs: Any) -> None:
        for callback in reversed(self.callbacks) if reverse else self.callbacks:
            try:
                getattr(callback, hook)(**kwargs)
            except Exception as exc:
                warnings.warn(
                    f"Callback {type(callback).__name__}.{hook} raised {type(exc).__name__}: {exc}",
                    stacklevel=2,
                )

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._notify("on_run_start", config=config, **kwargs)

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._notify("on_run_end", reverse=True, config=config, **kwargs)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._notify("on_job_start", config=config, **kwargs)

    def on_job_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._notify("on_job_end", reverse=True, config=config, **kwargs)
