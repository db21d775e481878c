"""Each trial's job of a sweep: through the configured Hydra launcher, or in-process.

Hydra's BasicLauncher composes every job's config from scratch (about 0.1 s here) and its
BasicSweeper composes it once more to validate the batch. A trial's overrides only change
values (sampled params and the ``trial.*`` link), never which config files are composed, so
with the basic launcher we compose the fixed part once and apply each trial's overrides to a
copy, as Hydra's own composition applies value overrides last; then call Hydra's ``run_job``
as BasicLauncher does. Anything else (a group choice among the params, ``+``/``~``
overrides, another launcher) goes through ``launcher.launch``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Protocol

from hydra._internal.config_loader_impl import get_overrides_dirname
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from hydra.core.utils import JobReturn, configure_log, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict


class Jobs(Protocol):
    def run(self, fixed: Sequence[str], varying: Sequence[str], job_num: int) -> JobReturn: ...


class LauncherJobs:
    """One job per ``launch`` call: workers call it concurrently, so none waits for a batch."""

    def __init__(self, launcher: Launcher) -> None:
        self.launcher = launcher

    def run(self, fixed: Sequence[str], varying: Sequence[str], job_num: int) -> JobReturn:
        (ret,) = self.launcher.launch([[*fixed, *varying]], initial_job_idx=job_num)
        return ret


class InProcessJobs:
    """BasicLauncher's work for one job, from a config composed once per fixed override set."""

    def __init__(
        self,
        hydra_context: HydraContext,
        task_function: TaskFunction,
        master: DictConfig,
        fallback: Launcher,
    ) -> None:
        self.hydra_context = hydra_context
        self.task_function = task_function
        self.master = master
        self.fallback = LauncherJobs(fallback)
        self.parser = OverridesParser.create(config_loader=hydra_context.config_loader)
        self._templates: dict[tuple[str, ...], DictConfig] = {}

    def template(self, fixed: Sequence[str]) -> DictConfig:
        key = tuple(fixed)
        if key not in self._templates:
            loader = self.hydra_context.config_loader
            self._templates[key] = loader.load_sweep_config(self.master, list(fixed))
        return self._templates[key]

    def compose(
        self, fixed: Sequence[str], varying: Sequence[str], job_num: int
    ) -> DictConfig | None:
        """The job's config, or None when an override needs a full composition."""
        template = self.template(fixed)
        parsed = self.parser.parse_overrides(list(varying))
        choices = set(template.hydra.runtime.choices.keys())
        if not all(_is_value_change(o, choices) for o in parsed):
            return None
        cfg = copy.deepcopy(template)
        for override in parsed:
            OmegaConf.update(cfg, override.key_or_group, override.value(), merge=True)
        lines = [(o.input_line or "", o.is_hydra_override()) for o in parsed]
        task = [*template.hydra.overrides.task, *(line for line, hydra in lines if not hydra)]
        hydra = [*template.hydra.overrides.hydra, *(line for line, hydra in lines if hydra)]
        app = self.parser.parse_overrides(task)
        conf = cfg.hydra.job.config.override_dirname
        with open_dict(cfg):
            cfg.hydra.overrides.task = task
            cfg.hydra.overrides.hydra = hydra
            cfg.hydra.job.override_dirname = get_overrides_dirname(
                overrides=app,
                exclude_keys=list(conf.exclude_keys),
                item_sep=conf.item_sep,
                kv_sep=conf.kv_sep,
            )
            cfg.hydra.job.id = job_num
            cfg.hydra.job.num = job_num
        OmegaConf.copy_cache(from_config=self.master, to_config=cfg)
        return cfg

    def run(self, fixed: Sequence[str], varying: Sequence[str], job_num: int) -> JobReturn:
        cfg = self.compose(fixed, varying, job_num)
        if cfg is None:
            return self.fallback.run(fixed, varying, job_num)
        setup_globals()
        try:
            return run_job(
                hydra_context=self.hydra_context,
                task_function=self.task_function,
                config=cfg,
                job_dir_key="hydra.sweep.dir",
                job_subdir_key="hydra.sweep.subdir",
            )
        finally:
            configure_log(self.master.hydra.hydra_logging, self.master.hydra.verbose)


def _is_value_change(override: Override, groups: set[str]) -> bool:
    return (
        override.type == OverrideType.CHANGE
        and override.package is None
        and not override.is_sweep_override()
        and override.key_or_group not in groups
    )
