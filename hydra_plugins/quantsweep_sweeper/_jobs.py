"""Each trial's job of a sweep: through the configured Hydra launcher, or in-process.

Hydra's BasicLauncher composes every job's config from scratch, and its ``run_job``
deep-copies the whole config four times and renders three YAML files with a pure-Python
dumper: together a large share of a short pruned trial.
A trial's overrides only change values (sampled params and the ``trial.*`` link), never which
config files are composed, so with the basic launcher we compose the fixed part once, keep it,
and per job only set the trial's values on it, then do what ``run_job`` does (output dir,
``HydraConfig``, logging, ``.hydra/*.yaml``, callbacks, env) without the copies. Anything else
(a group choice among the params, ``+``/``~`` overrides, a hydra override, another launcher)
goes through ``launcher.launch``.
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from hydra.core.utils import (
    JobReturn,
    JobRuntime,
    JobStatus,
    configure_log,
    env_override,
    setup_globals,
)
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from hydra_plugins.quantsweep_sweeper._internals import (
    attach_parent,
    flush_loggers,
    overrides_dirname,
    raw_value,
    yaml_needs_quotes,
)


class Jobs(Protocol):
    def run(self, fixed: Sequence[str], varying: Sequence[str], job_num: int) -> JobReturn: ...


class LauncherJobs:
    """One job per ``launch`` call: workers call it concurrently, so none waits for a batch."""

    def __init__(self, launcher: Launcher) -> None:
        self.launcher = launcher

    def run(self, fixed: Sequence[str], varying: Sequence[str], job_num: int) -> JobReturn:
        (ret,) = self.launcher.launch([[*fixed, *varying]], initial_job_idx=job_num)
        return ret


class _Dumper(yaml.CSafeDumper):
    """libyaml with OmegaConf's rule for strings: quote those that would load as another type."""


def _represent_str(dumper: yaml.CSafeDumper, data: str) -> yaml.ScalarNode:
    style = "'" if yaml_needs_quotes(data) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _represent_str)


def to_yaml(data: Any) -> str:
    """``OmegaConf.to_yaml`` of a plain container, with libyaml's C emitter."""
    return yaml.dump(
        data, Dumper=_Dumper, default_flow_style=False, allow_unicode=True, sort_keys=False
    )


@dataclass
class _Template:
    """The config of one fixed override set, composed once and re-used by every job.

    ``full`` is what Hydra's job config is (task keys and the ``hydra`` node); ``task`` is the
    task function's view of it (no ``hydra`` node, still typed by the schemas); ``view`` is the
    ``HydraConfig`` singleton's node, whose interpolations resolve against ``full``. Jobs run one
    at a time in this process, so each job sets its values on these in place.
    """

    full: DictConfig
    task: DictConfig
    view: DictConfig
    hydra_yaml: dict[str, Any]  # the hydra node as a container, for .hydra/hydra.yaml
    fixed: list[str]  # the fixed part's task overrides; each job appends its own
    fixed_parsed: list[Override]  # the same, parsed (for each job's override_dirname)
    choices: frozenset[str]  # the config groups: a job that picks an option needs composing
    # the composed value of every key a job has set, restored before a job that does not set it
    composed: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, full: DictConfig, parser: OverridesParser) -> _Template:
        task = copy.deepcopy(full)
        with read_write(task), open_dict(task):
            del task["hydra"]
        # Jobs get ``task`` itself, not a copy: read-only, so a job cannot change
        # what the next one is given.
        OmegaConf.set_readonly(task, True)
        view = OmegaConf.masked_copy(full, "hydra")
        attach_parent(view.hydra, full)
        OmegaConf.set_readonly(view.hydra, True)
        hydra_yaml = cast(
            dict[str, Any], OmegaConf.to_container(view, resolve=False, enum_to_str=True)
        )
        fixed = list(full.hydra.overrides.task)
        choices = frozenset(full.hydra.runtime.choices.keys())
        return cls(full, task, view, hydra_yaml, fixed, parser.parse_overrides(fixed), choices)

    def has(self, key: str) -> bool:
        found = OmegaConf.select(self.task, key, default=_ABSENT, throw_on_resolution_failure=False)
        return found is not _ABSENT

    def set_values(self, values: dict[str, Any]) -> None:
        """The job's values on ``full`` and ``task``; other keys back to their composed value."""
        for key in values:
            if key not in self.composed:
                self.composed[key] = raw_value(self.task, key)
        restore = {k: v for k, v in self.composed.items() if k not in values}
        for cfg in (self.full, self.task):
            with read_write(cfg):
                for key, value in restore.items():
                    OmegaConf.update(cfg, key, value, merge=False)
                for key, value in values.items():  # as Hydra applies a value override
                    OmegaConf.update(cfg, key, value, merge=True)


class InProcessJobs:
    """BasicLauncher's work for one job, from a config composed once per fixed override set."""

    def __init__(
        self,
        hydra_context: HydraContext,
        task_function: TaskFunction,
        master: DictConfig,
        fallback: Launcher | None,
    ) -> None:
        self.hydra_context = hydra_context
        self.task_function = task_function
        self.master = master
        self.fallback = LauncherJobs(fallback) if fallback is not None else None
        self.parser = OverridesParser.create(config_loader=hydra_context.config_loader)
        self._templates: dict[tuple[str, ...], _Template] = {}
        # keyword arguments of every task function call: what ``hydra.sweeper.warmup`` returned
        # for this process (the trainer's per-process trial cache); set with ``share``
        self.task_kwargs: dict[str, Any] = {}

    def share(self, task_kwargs: dict[str, Any]) -> None:
        """Hand ``task_kwargs`` to every job's task function call, including the jobs the
        fallback launcher composes in full (a seed reproduction's ``hydra.sweep.subdir``):
        without them those jobs rebuilt the trial cache's data from scratch."""
        self.task_kwargs = dict(task_kwargs)
        if self.fallback is not None:
            bound = functools.partial(self.task_function, **self.task_kwargs)
            self.fallback.launcher.setup(
                hydra_context=self.hydra_context, task_function=bound, config=self.master
            )

    def template(self, fixed: Sequence[str]) -> _Template:
        key = tuple(fixed)
        if key not in self._templates:
            loader = self.hydra_context.config_loader
            full = loader.load_sweep_config(self.master, list(fixed))
            self._templates[key] = _Template.of(full, self.parser)
        return self._templates[key]

    def value_overrides(
        self, fixed: Sequence[str], varying: Sequence[str]
    ) -> list[Override] | None:
        """The job's overrides, parsed, if they only set values of keys the config has."""
        template = self.template(fixed)
        parsed = self.parser.parse_overrides(list(varying))
        choices = template.choices
        if all(_is_value_change(o, choices) and template.has(o.key_or_group) for o in parsed):
            return parsed
        return None

    def run(self, fixed: Sequence[str], varying: Sequence[str], job_num: int) -> JobReturn:
        parsed = self.value_overrides(fixed, varying)
        if parsed is None:
            if self.fallback is None:
                raise RuntimeError(f"job {job_num}: {list(varying)} needs a full composition")
            return self.fallback.run(fixed, varying, job_num)
        template = self.template(fixed)
        output_dir = self._set_job(template, parsed, job_num)
        setup_globals()
        try:
            return self._execute(template, output_dir)
        finally:
            configure_log(self.master.hydra.hydra_logging, self.master.hydra.verbose)

    def _set_job(self, t: _Template, parsed: list[Override], job_num: int) -> Path:
        """Put the job's values on the template; returns its output directory."""
        t.set_values({o.key_or_group: o.value() for o in parsed})
        task = [*t.fixed, *(o.input_line or "" for o in parsed)]
        conf = t.full.hydra.job.config.override_dirname
        dirname = overrides_dirname(
            overrides=[*t.fixed_parsed, *parsed],
            exclude_keys=list(conf.exclude_keys),
            item_sep=conf.item_sep,
            kv_sep=conf.kv_sep,
        )
        job = {"id": job_num, "num": job_num, "override_dirname": dirname}
        # ``full`` is the root interpolations resolve against (${hydra.job.num} in the sweep
        # subdir), ``view`` is what HydraConfig.get() returns: both carry the job's fields.
        for node in (t.full, t.view):
            with read_write(node.hydra), open_dict(node.hydra):
                for key, value in job.items():
                    node.hydra.job[key] = value
        sweep = t.full.hydra.sweep
        output_dir = Path(os.path.abspath(os.path.join(str(sweep.dir), str(sweep.subdir))))
        for node in (t.full, t.view):
            with read_write(node.hydra), open_dict(node.hydra):
                node.hydra.runtime.output_dir = str(output_dir)
        with read_write(t.view.hydra):
            t.view.hydra.overrides.task = task
        hydra_yaml = t.hydra_yaml["hydra"]
        hydra_yaml["overrides"]["task"] = task
        hydra_yaml["job"].update(job)
        hydra_yaml["runtime"]["output_dir"] = str(output_dir)
        return output_dir

    def _execute(self, t: _Template, output_dir: Path) -> JobReturn:
        """Hydra's ``run_job`` for a config already set up: same files, state and callbacks."""
        callbacks = self.hydra_context.callbacks
        singleton = HydraConfig.instance()
        previous, old_cwd = singleton.cfg, os.getcwd()
        singleton.cfg = t.view  # type: ignore[assignment]
        chdir = bool(t.full.hydra.job.chdir)
        try:
            ret = JobReturn()
            ret.cfg = task_cfg = t.task
            ret.hydra_cfg = t.view
            ret.overrides = list(t.hydra_yaml["hydra"]["overrides"]["task"])
            output_dir.mkdir(parents=True, exist_ok=True)
            if chdir:
                os.chdir(output_dir)
            ret.working_dir = os.getcwd()
            configure_log(t.full.hydra.job_logging, t.full.hydra.verbose)
            if t.full.hydra.output_subdir is not None:
                self._save(t, task_cfg, output_dir / str(t.full.hydra.output_subdir))
            env = OmegaConf.to_container(t.full.hydra.job.env_set, resolve=True)
            with env_override(env):  # type: ignore[arg-type]
                callbacks.on_job_start(config=t.full, task_function=self.task_function)
                try:
                    ret.return_value = self.task_function(task_cfg, **self.task_kwargs)
                    ret.status = JobStatus.COMPLETED
                except Exception as exc:
                    ret.return_value = exc
                    ret.status = JobStatus.FAILED
            ret.task_name = JobRuntime.instance().get("name")
            flush_loggers()
            callbacks.on_job_end(config=t.full, job_return=ret)
            return ret
        finally:
            singleton.cfg = previous
            if chdir:
                os.chdir(old_cwd)

    def _save(self, t: _Template, task_cfg: DictConfig, directory: Path) -> None:
        """``.hydra/config.yaml``, ``hydra.yaml`` and ``overrides.yaml``, as ``run_job`` writes."""
        directory.mkdir(parents=True, exist_ok=True)
        files = {
            "config.yaml": OmegaConf.to_container(task_cfg, resolve=False, enum_to_str=True),
            "hydra.yaml": t.hydra_yaml,
            "overrides.yaml": t.hydra_yaml["hydra"]["overrides"]["task"],
        }
        for name, data in files.items():
            (directory / name).write_text(to_yaml(data), encoding="utf-8")


_ABSENT = object()


def _is_value_change(override: Override, groups: frozenset[str]) -> bool:
    return (
        override.type == OverrideType.CHANGE
        and override.package is None
        and not override.is_sweep_override()
        and not override.is_hydra_override()
        and override.key_or_group not in groups
    )
