"""Structured config schemas for every group, registered in Hydra's ConfigStore.

A YAML option extends its schema (``defaults: [/schema_<group>_<name>@_here_, _self_]``; the
schemas are plain configs, not groups, so ``--help`` lists only the groups a user picks from),
so a typo or a wrong type fails at composition with the key named; ``validate`` adds the range
checks that a type alone cannot express, before any work starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import MISSING, DictConfig, OmegaConf

from trainer.data.config import HORIZONS as HORIZONS
from trainer.data.config import (
    CsvDataConfig,
    DataConfig,
    FeaturesConfig,
    JoinedDataConfig,
    NpzDataConfig,
    ParquetDataConfig,
    SyntheticDataConfig,
)
from trainer.errors import (
    BATCH_WHY,
    MAX_BATCH,
    MAX_PROCESSES,
    MAX_THREADS,
    MAX_WINDOW_HOURS,
    WINDOW_WHY,
    UserError,
    at_most,
    check_finite,
    check_seed,
    in_range,
    one_of,
    path_text,
)
from trainer.learners.config import (
    EnsembleConfig,
    LightGBMConfig,
    LSTMConfig,
    ModelConfig,
    TransformerConfig,
    XGBoostConfig,
)
from trainer.tracking import TrackingConfig

METRICS = ("f1", "up_recall", "net_sharpe", "net_return")
STRATEGIES = ("threshold", "hysteresis", "vol_target")
TASKS = ("direction", "regression")


@dataclass
class TargetConfig:
    horizon: str = "1h"  # 1h | 4h
    task: str = "direction"  # direction | regression

    def __post_init__(self) -> None:
        one_of("target.horizon", self.horizon, tuple(HORIZONS))
        one_of("target.task", self.task, TASKS)

    @property
    def hours(self) -> int:
        return HORIZONS[self.horizon]


@dataclass
class ObjectiveConfig:
    # f1 | up_recall (skill over the always-up baseline) | net_sharpe | net_return (of the
    # strategy's net returns); each minus the drawdown penalty
    metric: str = "f1"
    drawdown_penalty: float = 1.0  # objective -= penalty * (how far max drawdown is past the limit)
    max_drawdown: float | None = None  # None: -0.10 for 1h, -0.35 for 4h (the guardrails)
    n_thresholds: int = 49  # candidate decision thresholds tried on valid
    # ...between these quantiles of the validation scores (the tails trade too few hours)
    threshold_quantiles: list[float] = field(default_factory=lambda: [0.05, 0.95])

    def __post_init__(self) -> None:
        one_of("objective.metric", self.metric, METRICS)
        in_range(
            "objective.drawdown_penalty",
            self.drawdown_penalty,
            0.0,
            1_000.0,
            "beyond, any drawdown past the limit swamps the metric and overflows",
        )
        if self.max_drawdown is not None and not -1.0 <= self.max_drawdown <= 0.0:
            raise UserError(f"objective.max_drawdown={self.max_drawdown}: must be in [-1, 0]")
        in_range(
            "objective.n_thresholds",
            self.n_thresholds,
            2,
            500,
            "each candidate is scored over every validation hour at once: memory grows as"
            " n_thresholds x validation hours",
        )
        q = self.threshold_quantiles
        if len(q) != 2 or not 0.0 <= q[0] < q[1] <= 1.0:
            raise UserError(
                f"objective.threshold_quantiles={list(q)}: must be [low, high] with"
                " 0 <= low < high <= 1"
            )

    def drawdown_limit(self, horizon: str) -> float:
        if self.max_drawdown is not None:
            return self.max_drawdown
        return -0.10 if horizon == "1h" else -0.35


@dataclass
class CostsConfig:
    fee_bps: float = 5.0  # per unit of position changed (taker fee)
    slippage_bps: float = 2.0
    allow_short: bool = False  # False: long when the signal says up, flat otherwise

    def __post_init__(self) -> None:
        for key in ("fee_bps", "slippage_bps"):
            in_range(f"costs.{key}", getattr(self, key), 0.0, 10_000.0, "10,000 bps: 100% a trade")


@dataclass
class StrategyConfig:
    """How scores become positions (``trainer.trading.positions``), calibrated on valid."""

    name: str = "threshold"  # threshold | hysteresis | vol_target
    # hysteresis: exit threshold = the valid-score quantile `band` below the entry one's;
    # null: calibrated on valid with the threshold, over band_candidates
    band: float | None = None
    band_candidates: list[float] = field(default_factory=lambda: [0.05, 0.1, 0.2, 0.3])
    min_hold_hours: int = 1  # a position, once opened, is held at least this long (any rule)
    target_vol: float = 0.5  # vol_target: annualised volatility a position is sized to
    max_leverage: float = 1.0  # vol_target: the largest size, in units of capital
    vol_window_hours: int = 168  # vol_target: realised volatility over the past week

    def __post_init__(self) -> None:
        one_of("strategy.name", self.name, STRATEGIES)
        if self.band is not None and not 0.0 <= self.band < 1.0:
            raise UserError(f"strategy.band={self.band}: must be in [0, 1) (a quantile gap)")
        if not self.band_candidates or not all(0.0 <= b < 1.0 for b in self.band_candidates):
            raise UserError(
                f"strategy.band_candidates={list(self.band_candidates)}: must be a non-empty"
                " list of quantile gaps in [0, 1)"
            )
        in_range("strategy.min_hold_hours", self.min_hold_hours, 1, MAX_WINDOW_HOURS, WINDOW_WHY)
        at_most(
            "strategy.band_candidates (count)",
            len(self.band_candidates),
            32,
            "each is calibrated on the validation part",
        )
        if not self.target_vol > 0.0:
            raise UserError(f"strategy.target_vol={self.target_vol}: must be > 0")
        if not self.max_leverage > 0.0:
            raise UserError(f"strategy.max_leverage={self.max_leverage}: must be > 0")
        in_range(
            "strategy.vol_window_hours", self.vol_window_hours, 24, MAX_WINDOW_HOURS, WINDOW_WHY
        )

    @property
    def bands(self) -> tuple[float, ...]:
        """The bands calibration tries (hysteresis), else a zero gap."""
        if self.name != "hysteresis":
            return (0.0,)
        return (self.band,) if self.band is not None else tuple(self.band_candidates)


@dataclass
class SplitConfig:
    name: str = "holdout"  # holdout | walk_forward
    train: float = 0.70
    valid: float = 0.15
    test: float = 0.15
    embargo_hours: int | None = None  # None: the label horizon
    # walk_forward: quarterly folds whose test parts tile [start, end]
    start: str = "2023-01-01"
    end: str = "2025-12-31"
    step_months: int = 3

    def __post_init__(self) -> None:
        one_of("split.name", self.name, ("holdout", "walk_forward"))
        for key in ("train", "valid", "test"):
            value = getattr(self, key)
            if not 0.0 < value < 1.0:
                raise UserError(f"split.{key}={value}: must be in (0, 1)")
        total = self.train + self.valid + self.test
        if abs(total - 1.0) > 1e-6:
            raise UserError(f"split.train + split.valid + split.test = {total:g}: must sum to 1")
        if self.embargo_hours is not None:
            in_range("split.embargo_hours", self.embargo_hours, 0, MAX_WINDOW_HOURS, WINDOW_WHY)
        in_range("split.step_months", self.step_months, 1, 120, "ten years a fold at most")


@dataclass
class HardwareConfig:
    name: str = "auto"
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "fp32"  # fp32 | bf16 | fp16 (mixed precision on CUDA only)
    threads: int = 0  # threads per process; 0: all cores (divided among parallel trials)
    batch_size: int | None = None  # overrides the sequence model's batch size when set
    tf32: bool = False
    cudnn_benchmark: bool = False
    n_jobs: int = 1  # trials run in parallel processes (cpu_pool)

    def __post_init__(self) -> None:
        one_of("hardware.device", self.device, ("auto", "cpu", "cuda"))
        one_of("hardware.precision", self.precision, ("fp32", "bf16", "fp16"))
        in_range(
            "hardware.threads",
            self.threads,
            0,
            MAX_THREADS,
            "threads per process: each holds a stack and a buffer; more than the cores only"
            " adds contention",
        )
        in_range(
            "hardware.n_jobs",
            self.n_jobs,
            1,
            MAX_PROCESSES,
            "parallel trial processes, each with its own copy of the data",
        )
        if self.batch_size is not None:
            in_range("hardware.batch_size", self.batch_size, 1, MAX_BATCH, BATCH_WHY)


@dataclass
class TrialConfig:
    """Set by the Optuna sweeper on each job's command line; empty outside a study."""

    study_name: str | None = None
    storage: str | None = None
    number: int | None = None
    # fn(study_name, storage, number) -> the live optuna Trial, or None once it is finished:
    # the sweeper's side of the link, named here so the trainer never imports the sweeper
    link: str = "hydra_plugins.quantsweep_sweeper.link.load_trial"


@dataclass
class TrainConfig:
    model: ModelConfig = MISSING
    data: DataConfig = MISSING
    split: SplitConfig = MISSING
    hardware: HardwareConfig = MISSING
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    target: TargetConfig = field(default_factory=TargetConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    costs: CostsConfig = field(default_factory=CostsConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    trial: TrialConfig = field(default_factory=TrialConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    seed: int = 0
    artifacts_dir: str = "artifacts"
    progress: bool = True  # progress bars and the closing metrics table

    def __post_init__(self) -> None:
        check_seed("seed", self.seed)
        path_text("artifacts_dir", self.artifacts_dir)


MODEL_SCHEMAS: dict[str, type[ModelConfig]] = {
    "xgboost": XGBoostConfig,
    "lightgbm": LightGBMConfig,
    "lstm": LSTMConfig,
    "transformer": TransformerConfig,
    "ensemble": EnsembleConfig,
}
# data.source -> its schema (the option of the same name extends it)
DATA_SCHEMAS: dict[str, type[DataConfig]] = {
    "synthetic": SyntheticDataConfig,
    "csv": CsvDataConfig,
    "parquet": ParquetDataConfig,
    "npz": NpzDataConfig,
    "binance_btc": JoinedDataConfig,
}


CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
T = TypeVar("T")
HELP_GROUPS_RESOLVER = "quantsweep_groups"


def group_listing(*groups: str) -> str:
    """``group: option, option`` lines of ``conf/<group>/*.yaml``: the groups an entrypoint's
    ``--help`` lists (``${quantsweep_groups:model,data,...}`` in its help template), since
    Hydra's own listing shows every group under conf/, other entrypoints' included."""
    return "\n".join(
        f"{g}: {', '.join(sorted(p.stem for p in (CONF_DIR / g).glob('*.yaml')))}"
        for g in sorted(groups)
    )


def register_help_groups() -> None:
    """The resolver the entrypoints' help templates list their groups with (idempotent)."""
    if not OmegaConf.has_resolver(HELP_GROUPS_RESOLVER):
        OmegaConf.register_new_resolver(HELP_GROUPS_RESOLVER, group_listing)


def register() -> None:
    """Put every schema in the ConfigStore (idempotent), and the help listing's resolver.

    Stored as plain configs (``schema_<group>_<name>``), not as config groups, so ``--help``
    lists only the groups a user picks from; each option's yaml names its schema.
    """
    from hydra.core.config_store import ConfigStore

    register_help_groups()
    cs = ConfigStore.instance()
    cs.store(name="train_schema", node=TrainConfig)
    for name, model in MODEL_SCHEMAS.items():
        cs.store(name=f"schema_model_{name}", node=model)
    for name, data in DATA_SCHEMAS.items():
        cs.store(name=f"schema_data_{name}", node=data)
    cs.store(name="schema_split", node=SplitConfig)
    cs.store(name="schema_strategy", node=StrategyConfig)
    cs.store(name="schema_hardware", node=HardwareConfig)
    cs.store(name="schema_features", node=FeaturesConfig)
    cs.store(name="schema_tracking", node=TrackingConfig)


def validate(cfg: DictConfig | TrainConfig) -> TrainConfig:
    """The composed config as typed objects, with every range check run.

    Raises UserError naming the key; OmegaConf's own errors (missing values) are turned into
    the same kind of message.
    """
    return to_typed(cfg, TrainConfig, "a training config")


def to_typed(cfg: Any, schema: type[T], what: str) -> T:
    """A composed config as its schema object (``validate`` of any entrypoint's config): every
    value finite, every range check of the schema run; errors name the key."""
    if isinstance(cfg, schema):
        return cfg
    check_finite(plain(cfg))
    try:
        obj = OmegaConf.to_object(cfg)
    except UserError:
        raise
    except Exception as exc:  # omegaconf's MissingMandatoryValue, ValidationError, ...
        key = getattr(exc, "full_key", None)
        msg = getattr(exc, "msg", str(exc)).splitlines()[0]
        raise UserError(f"config key '{key}': {msg}" if key else f"config: {msg}") from None
    if not isinstance(obj, schema):
        raise UserError(f"config: the composed config is not {what}")
    return obj


def plain(cfg: DictConfig) -> Any:
    """A composed config as plain data for the generic checks; None where it cannot resolve
    (the schema conversion then names the key)."""
    try:
        return OmegaConf.to_container(cfg, resolve=True)
    except Exception:  # an interpolation error: reported by OmegaConf.to_object with its key
        return None


def to_dict(obj: Any) -> Any:
    """A schema object as plain JSON-able data (for metadata files)."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, list | tuple):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj
