"""The campaign's plan resolved into steps, every config checked before any work starts.

``resolve(conf)`` composes each entry's trainer config exactly as ``python -m trainer`` would
(so a missing model, search space or hardware option, or a bad key, is one clear error naming
the entry), checks that every ensemble has a candidate of each member kind, that the baseline
is a report, and that the evaluation settings compose. Nothing here trains or evaluates.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluation.campaign.config import CampaignRunConfig, EntryConfig, HardwareChoice
from evaluation.campaign.leaderboard import check_report_dir
from trainer.data.config import DataConfig
from trainer.errors import UserError


@dataclass(frozen=True)
class StudyStep:
    """One entry: its study (``python -m trainer ... -m``) and the evaluation of its best."""

    name: str
    model: str
    family: str  # the model's family: tree | sequence
    horizon: str
    task: str
    budget: int
    pruner: str
    hardware: str
    settings: tuple[str, ...]  # the device's extra overrides (the CPU-sweep settings)
    own: tuple[str, ...]  # the entry's own overrides
    overrides: tuple[str, ...]  # every trainer override of the study, no hydra.* ones
    data: DataConfig
    study_name: str
    study_dir: Path
    report_name: str

    def sweep_args(self, sweep_dir: Path, artifacts_dir: str) -> list[str]:
        return [
            *self.overrides,
            f"artifacts_dir={artifacts_dir}",
            f"hydra.sweeper.study_name={self.study_name}",
            f"hydra.sweeper.n_trials={self.budget}",
            f"hydra.sweeper.pruner={self.pruner}",
            f"hydra.sweep.dir={sweep_dir}",
            "-m",
        ]

    def model_overrides(self) -> dict[str, str]:
        """``model.<key>=value`` overrides of the study (settings, entry, user), as strings."""
        out: dict[str, str] = {}
        for text in self.overrides:
            key, _, value = text.partition("=")
            if key.startswith("model."):
                out[key.removeprefix("model.")] = value
        return out


@dataclass(frozen=True)
class EnsembleStep:
    """A hybrid ensemble: members chosen among the studies once they finish."""

    name: str
    method: str
    horizon: str
    task: str
    kinds: tuple[str, ...]
    hardware: str
    overrides: tuple[str, ...]  # of the ensemble run (its own, then the user's)
    data: DataConfig
    run_dir: Path
    report_name: str


@dataclass(frozen=True)
class Plan:
    name: str
    board_dir: Path
    artifacts_dir: str
    on_cuda: bool
    studies: list[StudyStep]
    ensembles: list[EnsembleStep]
    evaluation: tuple[str, ...]  # `python -m evaluation` settings of every evaluation
    own_strategy_only: bool
    baseline: Path | None
    sort_by: str
    top_n: int
    user_overrides: tuple[str, ...] = field(default_factory=tuple)

    def evaluation_args(self, run: Path, report_name: str, horizon: str) -> list[str]:
        args = [f"run={run}", f"name={report_name}", f"artifacts_dir={self.artifacts_dir}"]
        args += list(self.evaluation)
        if self.own_strategy_only:
            args.append(f"backtest.strategies=[{horizon}]")
        return args


def cuda_present() -> bool:
    """Whether torch sees a CUDA device. Without an NVIDIA or AMD driver on Linux the answer
    is no, known without importing torch (a second or two)."""
    if sys.platform.startswith("linux") and not (
        os.path.exists("/proc/driver/nvidia") or os.path.exists("/dev/kfd")
    ):
        return False
    from trainer.hardware import cuda_available

    return cuda_available()


def _device_matters(choices: list[HardwareChoice]) -> bool:
    return any(c.cuda != c.cpu or c.cpu_overrides for c in choices)


def resolve(conf: CampaignRunConfig) -> Plan:
    plan = conf.campaign
    chosen = set(plan.only) or {*plan.entries, *plan.ensembles}
    entries = {k: e for k, e in plan.entries.items() if k in chosen}
    ensembles = {k: e for k, e in plan.ensembles.items() if k in chosen}
    if not entries and not ensembles:
        raise UserError("campaign: no entries to run (campaign.entries is empty)")
    if plan.device == "cuda":
        if not cuda_present():
            raise UserError("campaign.device=cuda: no CUDA device found; use auto or cpu")
        on_cuda = True
    elif plan.device == "cpu":
        on_cuda = False
    else:
        choices = [e.hardware for e in entries.values()] + [e.hardware for e in ensembles.values()]
        on_cuda = _device_matters(choices) and cuda_present()
    name = conf.name or plan.name
    board_dir = Path(conf.artifacts_dir) / "campaigns" / name
    user = tuple(conf.overrides)
    with _composer() as compose:
        studies = [
            _study_step(key, e, plan.name, plan.budget, plan.pruner, on_cuda, user, conf, compose)
            for key, e in entries.items()
        ]
        ens_steps = []
        for key, e in ensembles.items():
            where = f"campaign.ensembles.{key}"
            hardware = e.hardware.cuda if on_cuda else e.hardware.cpu
            own = tuple(e.overrides) + (() if on_cuda else tuple(e.hardware.cpu_overrides))
            base = [
                "model=ensemble",
                f"model.method={e.method}",
                f"target.horizon={e.horizon}",
                f"target.task={e.task}",
                f"hardware={hardware}",
            ]
            composed = compose("train", [*base, *own, *user], where)
            for kind in e.members:
                if not any(
                    s.family == kind and s.horizon == e.horizon and s.task == e.task
                    for s in studies
                ):
                    raise UserError(
                        f"{where}: no {kind} entry for target {e.horizon} {e.task} among the"
                        f" campaign's entries ({', '.join(s.name for s in studies) or 'none'});"
                        f" add one to campaign.only or drop the ensemble"
                    )
            ens_steps.append(
                EnsembleStep(
                    name=key,
                    method=e.method,
                    horizon=e.horizon,
                    task=e.task,
                    kinds=tuple(e.members),
                    hardware=hardware,
                    overrides=(*base, *own, *user),
                    data=composed.data,
                    run_dir=board_dir / "ensembles" / key,
                    report_name=f"{plan.name}-{key}",
                )
            )
        _check_evaluation(list(plan.evaluation), compose)
    baseline = None
    if plan.baseline:
        baseline = Path(plan.baseline)
        check_report_dir(baseline, "campaign.baseline")
    return Plan(
        name=name,
        board_dir=board_dir,
        artifacts_dir=conf.artifacts_dir,
        on_cuda=on_cuda,
        studies=studies,
        ensembles=ens_steps,
        evaluation=tuple(plan.evaluation),
        own_strategy_only=plan.own_strategy_only,
        baseline=baseline,
        sort_by=plan.sort_by,
        top_n=plan.top_n,
        user_overrides=user,
    )


def _study_step(
    key: str,
    entry: EntryConfig,
    campaign: str,
    budget: int,
    pruner: str,
    on_cuda: bool,
    user: tuple[str, ...],
    conf: CampaignRunConfig,
    compose: Any,
) -> StudyStep:
    where = f"campaign.entries.{key}"
    hardware = entry.hardware.cuda if on_cuda else entry.hardware.cpu
    settings = () if on_cuda else tuple(entry.hardware.cpu_overrides)
    base = [
        f"model={entry.model}",
        f"target.horizon={entry.horizon}",
        f"target.task={entry.task}",
        f"hardware={hardware}",
    ]
    if entry.search is not None:
        base.append(f"search={entry.search}")
    overrides = (*base, *settings, *entry.overrides, *user)
    composed = compose("train", list(overrides), where)
    study_name = f"{campaign}-{key}"
    return StudyStep(
        name=key,
        model=entry.model,
        family=str(composed.model.family),
        horizon=entry.horizon,
        task=entry.task,
        budget=entry.budget or budget,
        pruner=entry.pruner or pruner,
        hardware=hardware,
        settings=settings,
        own=tuple(entry.overrides),
        overrides=overrides,
        data=composed.data,
        study_name=study_name,
        study_dir=Path(conf.artifacts_dir) / "studies" / study_name,
        report_name=study_name,
    )


class _composer:
    """A Hydra compose context over conf/: ``compose(config_name, overrides, where)`` returns
    the validated schema object or raises one UserError naming ``where``. Inside ``python -m
    evaluation.campaign`` Hydra already knows conf/; tests call ``resolve`` without it."""

    def __enter__(self) -> Any:
        from hydra import initialize_config_dir
        from hydra.core.global_hydra import GlobalHydra

        from evaluation.config import register as register_evaluation
        from evaluation.source import CONF_DIR
        from trainer.config import register as register_train

        register_train()
        register_evaluation()
        self._context: Any = None
        if not GlobalHydra.instance().is_initialized():
            self._context = initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3")
            self._context.__enter__()
        return _compose

    def __exit__(self, *exc: Any) -> None:
        if self._context is not None:
            self._context.__exit__(*exc)


def _compose(config_name: str, overrides: list[str], where: str) -> Any:
    from hydra import compose
    from hydra.errors import HydraException, MissingConfigException
    from omegaconf.errors import OmegaConfBaseException

    from trainer.cli import _missing_option, describe_config_error
    from trainer.config import validate

    try:
        cfg = compose(config_name, overrides=overrides)
        if config_name == "train":
            return validate(cfg)
        from evaluation.cli import to_schema

        return to_schema(cfg)
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None
    except MissingConfigException as exc:
        raise UserError(f"{where}: {_missing_option(exc)}") from None
    except (HydraException, OmegaConfBaseException) as exc:
        raise UserError(f"{where}: {describe_config_error(exc)}") from None


def _check_evaluation(settings: list[str], compose: Any) -> None:
    from evaluation.cli import route_overrides

    compose("evaluation", route_overrides(settings), "campaign.evaluation")
