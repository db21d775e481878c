"""Structured config of ``python -m evaluation.campaign`` (conf/campaign_run.yaml and the
``campaign`` group, e.g. conf/campaign/phase2.yaml).

A typo or a wrong type fails at composition with the key named; ``__post_init__`` adds the
checks a type cannot express, so both happen before any study starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore

from trainer.config import HORIZONS, TASKS, register_help_groups
from trainer.errors import UserError, at_least, one_of
from trainer.tracking import TrackingConfig

PRUNERS = ("median", "hyperband", "wilcoxon", "threshold", "none")
DEVICES = ("auto", "cuda", "cpu")
METHODS = ("stacking", "blending")
MEMBER_KINDS = ("tree", "sequence")  # a model's `family`
SORT_KEYS = ("objective", "net_return", "sharpe", "break_even_bps")
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")  # names directories and studies


def _name(key: str, value: str) -> None:
    if not NAME.fullmatch(value):
        raise UserError(f"{key}={value!r}: use letters, digits, '_', '.', '+' or '-'")


@dataclass
class HardwareChoice:
    """The `hardware` option of a study, by whether this machine has a CUDA device."""

    cuda: str = "auto"  # conf/hardware/<cuda>.yaml when CUDA is present
    cpu: str = "auto"  # conf/hardware/<cpu>.yaml otherwise
    # Overrides added only on the CPU: the documented CPU-sweep settings of sequence models
    cpu_overrides: list[str] = field(default_factory=list)


@dataclass
class EntryConfig:
    """One study of the plan: a model family, a target, its search space and its budget."""

    model: str = "xgboost"  # conf/model/<model>.yaml
    horizon: str = "1h"
    task: str = "direction"
    search: str | None = None  # conf/search/<search>.yaml; null: the model's family
    budget: int | None = None  # complete + pruned trials; null: campaign.budget
    pruner: str | None = None  # null: campaign.pruner
    hardware: HardwareChoice = field(default_factory=HardwareChoice)
    overrides: list[str] = field(default_factory=list)  # of the trainer's config, any key

    def check(self, where: str) -> None:
        one_of(f"{where}.horizon", self.horizon, tuple(HORIZONS))
        one_of(f"{where}.task", self.task, TASKS)
        if self.budget is not None:
            at_least(f"{where}.budget", self.budget, 1)
        if self.pruner is not None:
            one_of(f"{where}.pruner", self.pruner, PRUNERS)


@dataclass
class EnsembleEntryConfig:
    """A hybrid ensemble of the best study of each member kind at one target."""

    method: str = "stacking"  # stacking | blending (conf/model/ensemble.yaml)
    horizon: str = "1h"
    task: str = "direction"
    # One member per kind: the entry of that model family with the best study objective
    members: list[str] = field(default_factory=lambda: list(MEMBER_KINDS))
    hardware: HardwareChoice = field(default_factory=HardwareChoice)
    overrides: list[str] = field(default_factory=list)  # e.g. model.meta_learner=tree

    def check(self, where: str) -> None:
        one_of(f"{where}.method", self.method, METHODS)
        one_of(f"{where}.horizon", self.horizon, tuple(HORIZONS))
        one_of(f"{where}.task", self.task, TASKS)
        for kind in self.members:
            one_of(f"{where}.members[]", kind, MEMBER_KINDS)
        if len(set(self.members)) != len(self.members) or len(self.members) < 2:
            raise UserError(
                f"{where}.members={list(self.members)}: two or more distinct kinds of"
                f" {', '.join(MEMBER_KINDS)}"
            )


@dataclass
class CampaignPlan:
    """The ``campaign`` group: which studies, evaluations and ensembles a campaign runs."""

    name: str = "phase2"  # artifacts/campaigns/<name>/; prefixes its study and report names
    budget: int = 150  # trials per study unless the entry sets its own
    pruner: str = "median"
    device: str = "auto"  # auto: CUDA when a device is present | cuda | cpu
    baseline: str | None = None  # a Phase 1 report directory (artifacts/reports/<name>)
    only: list[str] = field(default_factory=list)  # entries and ensembles to run; empty: all
    # `python -m evaluation` settings of every evaluation (same hours and costs for all rows)
    evaluation: list[str] = field(default_factory=list)
    own_strategy_only: bool = True  # evaluate each entry's own horizon only (half the fits)
    sort_by: str = "objective"
    top_n: int = 5  # equity curves overlaid in the figure
    entries: dict[str, EntryConfig] = field(default_factory=dict)
    ensembles: dict[str, EnsembleEntryConfig] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _name("campaign.name", self.name)
        at_least("campaign.budget", self.budget, 1)
        one_of("campaign.pruner", self.pruner, PRUNERS)
        one_of("campaign.device", self.device, DEVICES)
        one_of("campaign.sort_by", self.sort_by, SORT_KEYS)
        at_least("campaign.top_n", self.top_n, 0)
        for key, entry in self.entries.items():
            _name(f"campaign.entries.{key}", key)
            entry.check(f"campaign.entries.{key}")
        for key, ensemble in self.ensembles.items():
            _name(f"campaign.ensembles.{key}", key)
            ensemble.check(f"campaign.ensembles.{key}")
        both = set(self.entries) & set(self.ensembles)
        if both:
            raise UserError(
                f"campaign: {sorted(both)[0]} is both an entry and an ensemble; rename one"
            )
        known = [*self.entries, *self.ensembles]
        for name in self.only:
            if name not in known:
                raise UserError(
                    f"campaign.only: no entry or ensemble {name!r} (one of"
                    f" {', '.join(known) or 'none'})"
                )


@dataclass
class CampaignRunConfig:
    campaign: CampaignPlan = field(default_factory=CampaignPlan)
    # Overrides of every study's trainer config (data=binance_btc data.root=...); bare on the
    # command line they land here
    overrides: list[str] = field(default_factory=list)
    # compare=[REPORT,...]: a leaderboard of existing evaluation reports, no campaign
    compare: list[str] | None = None
    name: str | None = None  # leaderboard directory name; null: campaign.name, or "compare"
    artifacts_dir: str = "artifacts"
    progress: bool = True
    tracking: TrackingConfig = field(default_factory=TrackingConfig)  # the leaderboard's run

    def __post_init__(self) -> None:
        if self.name is not None:
            _name("name", self.name)


def register() -> None:
    register_help_groups()
    ConfigStore.instance().store(name="campaign_run_schema", node=CampaignRunConfig)
    ConfigStore.instance().store(name="schema_tracking", node=TrackingConfig)  # conf/tracking/
