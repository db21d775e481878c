"""Structured config schema of ``python -m evaluation`` (conf/evaluation.yaml extends it).

A typo or a wrong type fails at composition with the key named; ``__post_init__`` adds the
range checks a type cannot express, so both happen before any model is trained.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from hydra.core.config_store import ConfigStore

from trainer.config import register_help_groups
from trainer.data.config import check_date
from trainer.errors import (
    MAX_WINDOW_HOURS,
    WINDOW_WHY,
    UserError,
    at_least,
    at_most,
    in_range,
    one_of,
    path_text,
    plain_name,
)
from trainer.tracking import TrackingConfig

STRATEGIES = ("1h", "4h", "1h+4h")


@dataclass
class WalkForwardConfig:
    # null: 2023-01-01..2025-12-31 when the data covers it, else the data's last whole steps
    # (see ``walk_forward.infer_steps``). An explicit period the data does not cover is an error.
    start: str | None = None
    end: str | None = None
    step_months: int = 3  # one fold per quarter
    infer_steps: int = 12  # folds taken from the end of the data when the default period is absent
    train: float = 0.70
    valid: float = 0.15
    test: float = 0.15
    embargo_hours: int | None = None  # null: the longest label horizon evaluated

    def __post_init__(self) -> None:
        check_date("walk_forward.start", self.start)
        check_date("walk_forward.end", self.end)
        in_range("walk_forward.step_months", self.step_months, 1, 120, "ten years a fold at most")
        in_range(
            "walk_forward.infer_steps",
            self.infer_steps,
            1,
            200,
            "each fold trains a model per strategy horizon",
        )
        for key in ("train", "valid", "test"):
            value = getattr(self, key)
            if not 0.0 < value < 1.0:
                raise UserError(f"walk_forward.{key}={value}: must be in (0, 1)")
        total = self.train + self.valid + self.test
        if abs(total - 1.0) > 1e-6:
            raise UserError(f"walk_forward.train + valid + test = {total:g}: must sum to 1")
        if self.embargo_hours is not None:
            in_range(
                "walk_forward.embargo_hours", self.embargo_hours, 0, MAX_WINDOW_HOURS, WINDOW_WHY
            )


@dataclass
class StressWindow:
    start: str = "2022-11-06"
    end: str = "2022-11-20"  # inclusive (the whole day)
    enabled: bool = True
    label: str = ""


def _default_windows() -> dict[str, StressWindow]:
    return {
        "ftx": StressWindow("2022-11-06", "2022-11-20", True, "FTX collapse"),
        "banking": StressWindow("2023-03-08", "2023-03-20", True, "US banking shock"),
        "covid": StressWindow("2020-03-09", "2020-03-23", False, "COVID crash"),
        "may_2021": StressWindow("2021-05-12", "2021-05-26", False, "May 2021 sell-off"),
        "luna": StressWindow("2022-05-07", "2022-05-20", False, "LUNA collapse"),
    }


@dataclass
class StressConfig:
    enabled: bool = True
    windows: dict[str, StressWindow] = field(default_factory=_default_windows)

    def __post_init__(self) -> None:
        at_most("stress.windows", len(self.windows), 64, "each window trains its own models")
        for name, w in self.windows.items():
            check_date(f"stress.windows.{name}.start", w.start)
            check_date(f"stress.windows.{name}.end", w.end)
            if pd.Timestamp(w.end) < pd.Timestamp(w.start):
                raise UserError(f"stress.windows.{name}: end {w.end} is before start {w.start}")


@dataclass
class BacktestConfig:
    strategies: list[str] = field(default_factory=lambda: list(STRATEGIES))
    fee_bps: float | None = None  # null: the run's costs.fee_bps
    slippage_bps: float | None = None  # null: the run's costs.slippage_bps
    allow_short: bool | None = None  # null: the run's costs.allow_short
    baseline: str | None = None  # a previous report directory; null: the momentum rule
    momentum_hours: int = 24  # baseline: long when the past N hours' return is > 0

    def __post_init__(self) -> None:
        for s in self.strategies:
            one_of("backtest.strategies[]", s, STRATEGIES)
        if not self.strategies:
            raise UserError(f"backtest.strategies: empty; use some of {', '.join(STRATEGIES)}")
        for key in ("fee_bps", "slippage_bps"):
            value = getattr(self, key)
            if value is not None:
                in_range(f"backtest.{key}", value, 0.0, 10_000.0, "10,000 bps: 100% a trade")
        in_range("backtest.momentum_hours", self.momentum_hours, 1, MAX_WINDOW_HOURS, WINDOW_WHY)


@dataclass
class GuardrailsConfig:
    min_trades: int = 200
    min_hit_rate: float = 0.52
    max_drawdown_1h: float = -0.10  # worst drawdown allowed for strategies trading hourly
    max_drawdown_4h: float = -0.35
    min_dsr: float | None = None  # e.g. 0.95; null: off
    max_pbo: float | None = None  # e.g. 0.2; null: off

    def __post_init__(self) -> None:
        at_least("guardrails.min_trades", self.min_trades, 0)
        in_range("guardrails.min_hit_rate", self.min_hit_rate, 0.0, 1.0)
        in_range("guardrails.max_drawdown_1h", self.max_drawdown_1h, -1.0, 0.0)
        in_range("guardrails.max_drawdown_4h", self.max_drawdown_4h, -1.0, 0.0)
        if self.min_dsr is not None:
            in_range("guardrails.min_dsr", self.min_dsr, 0.0, 1.0)
        if self.max_pbo is not None:
            in_range("guardrails.max_pbo", self.max_pbo, 0.0, 1.0)


@dataclass
class OverfittingConfig:
    enabled: bool = True
    n_blocks: int = 16  # CSCV blocks (even): C(16, 8) = 12870 train/test combinations
    study_dir: str | None = None  # null: found from the run (a study's best/ knows its study)

    def __post_init__(self) -> None:
        in_range(
            "overfitting.n_blocks",
            self.n_blocks,
            2,
            16,
            "every one of the C(n, n/2) train/test splits is held in memory with a row per"
            " trial: 16 gives 12,870 splits, 18 gives 48,620, 40 needed over 24 GB",
        )
        if self.n_blocks % 2:
            raise UserError(f"overfitting.n_blocks={self.n_blocks}: must be even")


@dataclass
class PromotionConfig:
    # A run is promoted only from the data it was trained on; true: promote the recipe refit
    # on other data on purpose (recorded in the manifest).
    allow_other_data: bool = False


@dataclass
class EvaluationConfig:
    run: str | None = None  # a run directory, a study's best/ or artifacts/promoted/<target>
    # forward=PATH: the saved model as it is on every hour after its data (never promotes)
    forward: str | None = None
    verify: str | None = None  # re-train this run (or a report's run) and compare its metrics
    name: str | None = None  # report name under reports_dir; null: from the run's path
    # Overrides of the run's composed config, in Hydra's grammar (data=csv, model.max_depth=3).
    # On the command line they can also be given bare: `python -m evaluation run=P data=csv`.
    overrides: list[str] = field(default_factory=list)
    walk_forward: WalkForwardConfig = field(default_factory=WalkForwardConfig)
    stress: StressConfig = field(default_factory=StressConfig)
    backtest: BacktestConfig = field(default_factory=BacktestConfig)
    guardrails: GuardrailsConfig = field(default_factory=GuardrailsConfig)
    overfitting: OverfittingConfig = field(default_factory=OverfittingConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    promote: bool = True  # refit and publish to <artifacts_dir>/promoted/<target>/ when all pass
    promotion: PromotionConfig = field(default_factory=PromotionConfig)
    artifacts_dir: str = "artifacts"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.name is not None:
            plain_name("name", self.name)
        for key, value in (
            ("run", self.run),
            ("verify", self.verify),
            ("artifacts_dir", self.artifacts_dir),
            ("backtest.baseline", self.backtest.baseline),
            ("overfitting.study_dir", self.overfitting.study_dir),
        ):
            if value is not None:
                path_text(key, value)


def register() -> None:
    register_help_groups()
    ConfigStore.instance().store(name="evaluation_schema", node=EvaluationConfig)
    ConfigStore.instance().store(name="schema_tracking", node=TrackingConfig)
