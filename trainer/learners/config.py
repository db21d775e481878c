"""Schemas of the `model` config group: one dataclass per learner family.

Ranges follow the modeling plan's search spaces; a value outside them is a config error
before any work starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from omegaconf import MISSING, OmegaConf

from trainer.errors import (
    BATCH_WHY,
    MAX_BATCH,
    MAX_ROUNDS,
    ROUNDS_WHY,
    UserError,
    at_least,
    at_most,
    in_range,
    one_of,
)

WIDTH_WHY = "parameters and activation memory grow with the network's size"


@dataclass
class ModelConfig:
    name: str = MISSING
    family: str = MISSING  # tree | sequence | ensemble


@dataclass
class XGBoostConfig(ModelConfig):
    name: str = "xgboost"
    family: str = "tree"
    n_estimators: int = 300
    max_depth: int = 5
    learning_rate: float = 0.05
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    min_child_weight: float = 5.0
    reg_lambda: float = 1.0
    early_stopping_rounds: int = 50  # on the validation loss; 0 disables
    report_every: int = 10  # rounds between reports of the validation objective to a trial

    def __post_init__(self) -> None:
        in_range("model.n_estimators", self.n_estimators, 1, MAX_ROUNDS, ROUNDS_WHY)
        in_range("model.max_depth", self.max_depth, 1, 16, "tree size doubles with each level")
        in_range("model.learning_rate", self.learning_rate, 1e-5, 1.0)
        in_range("model.subsample", self.subsample, 0.05, 1.0)
        in_range("model.colsample_bytree", self.colsample_bytree, 0.05, 1.0)
        at_least("model.min_child_weight", self.min_child_weight, 0.0)
        at_least("model.reg_lambda", self.reg_lambda, 0.0)
        in_range(
            "model.early_stopping_rounds", self.early_stopping_rounds, 0, MAX_ROUNDS, ROUNDS_WHY
        )
        at_least("model.report_every", self.report_every, 1)


@dataclass
class LightGBMConfig(ModelConfig):
    name: str = "lightgbm"
    family: str = "tree"
    n_estimators: int = 300
    num_leaves: int = 31
    max_depth: int = -1  # -1: no limit beyond num_leaves
    learning_rate: float = 0.05
    bagging_fraction: float = 0.8
    bagging_freq: int = 1
    feature_fraction: float = 0.8
    min_child_samples: int = 50
    reg_lambda: float = 1.0
    early_stopping_rounds: int = 50
    report_every: int = 10

    def __post_init__(self) -> None:
        in_range("model.n_estimators", self.n_estimators, 1, MAX_ROUNDS, ROUNDS_WHY)
        in_range("model.num_leaves", self.num_leaves, 2, 4096, "tree size grows with its leaves")
        if self.max_depth != -1:
            in_range("model.max_depth", self.max_depth, 1, 32)
        in_range("model.learning_rate", self.learning_rate, 1e-5, 1.0)
        in_range("model.bagging_fraction", self.bagging_fraction, 0.05, 1.0)
        at_least("model.bagging_freq", self.bagging_freq, 0)
        in_range("model.feature_fraction", self.feature_fraction, 0.05, 1.0)
        at_least("model.min_child_samples", self.min_child_samples, 1)
        at_least("model.reg_lambda", self.reg_lambda, 0.0)
        in_range(
            "model.early_stopping_rounds", self.early_stopping_rounds, 0, MAX_ROUNDS, ROUNDS_WHY
        )
        at_least("model.report_every", self.report_every, 1)


@dataclass
class SequenceConfig(ModelConfig):
    family: str = "sequence"
    sequence_len: int = 48  # hours of features each prediction sees
    dropout: float = 0.1
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 256
    # gradient accumulation: forward/backward this many windows at a time (None or 0: the whole
    # batch); the optimiser still steps once per batch, so only activation memory changes
    micro_batch_size: int | None = None
    max_epochs: int = 10
    patience: int = 3  # epochs without a better validation objective before stopping
    train_stride: int = 1  # hours between consecutive training windows (>1 to sweep on a CPU)
    max_batches_per_epoch: int | None = None  # a cap per epoch (each epoch reshuffles)
    input_norm: str = "zscore"  # zscore (train statistics) | layernorm
    grad_clip: float = 1.0  # max gradient norm; recurrent nets spike without it

    def _check_common(self) -> None:
        in_range(
            "model.sequence_len",
            self.sequence_len,
            2,
            512,
            "hours each window holds: memory and time grow with it (attention: with its square)",
        )
        in_range("model.dropout", self.dropout, 0.0, 0.9)
        in_range("model.learning_rate", self.learning_rate, 1e-6, 1.0)
        at_least("model.weight_decay", self.weight_decay, 0.0)
        in_range("model.batch_size", self.batch_size, 1, MAX_BATCH, BATCH_WHY)
        if self.micro_batch_size is not None:
            in_range("model.micro_batch_size", self.micro_batch_size, 0, MAX_BATCH, BATCH_WHY)
        in_range("model.max_epochs", self.max_epochs, 1, MAX_ROUNDS, ROUNDS_WHY)
        in_range("model.patience", self.patience, 1, MAX_ROUNDS, ROUNDS_WHY)
        at_least("model.train_stride", self.train_stride, 1)
        if self.max_batches_per_epoch is not None:
            at_least("model.max_batches_per_epoch", self.max_batches_per_epoch, 1)
        one_of("model.input_norm", self.input_norm, ("zscore", "layernorm"))
        if not self.grad_clip > 0:
            raise UserError(f"model.grad_clip={self.grad_clip}: must be > 0")


@dataclass
class LSTMConfig(SequenceConfig):
    name: str = "lstm"
    hidden_dim: int = 128
    num_layers: int = 2

    def __post_init__(self) -> None:
        self._check_common()
        in_range("model.hidden_dim", self.hidden_dim, 1, 4096, WIDTH_WHY)
        in_range("model.num_layers", self.num_layers, 1, 8, WIDTH_WHY)


@dataclass
class TransformerConfig(SequenceConfig):
    name: str = "transformer"
    d_model: int = 128
    num_heads: int = 4
    num_layers: int = 2
    feedforward_dim: int = 256

    def __post_init__(self) -> None:
        self._check_common()
        in_range("model.d_model", self.d_model, 1, 4096, WIDTH_WHY)
        in_range("model.num_heads", self.num_heads, 1, 64, WIDTH_WHY)
        in_range("model.num_layers", self.num_layers, 1, 16, WIDTH_WHY)
        in_range("model.feedforward_dim", self.feedforward_dim, 1, 16384, WIDTH_WHY)
        if self.d_model % self.num_heads:
            raise UserError(
                f"model.num_heads={self.num_heads} does not divide model.d_model={self.d_model}:"
                " pick a head count that divides d_model"
            )


# families an ensemble may train inside the run (no nested ensembles)
MEMBER_MODELS = ("xgboost", "lightgbm", "lstm", "transformer")
MEMBER_NAME = re.compile(r"[A-Za-z0-9_-]+")


@dataclass
class MemberConfig:
    """An ensemble member: a model family trained in the run, or a path to a saved run."""

    name: str = MISSING  # unique; names the member's subdirectory and its column in reports
    model: str | None = None  # a model family (xgboost, lightgbm, lstm, transformer) fitted here
    path: str | None = None  # a run directory or a study's best/, used as saved (not refitted)
    # model.<key>=value for a `model` member, on top of that family's schema defaults; values are
    # strings parsed like command-line overrides ("3", "0.1", "null") and range-checked
    overrides: dict[str, str] = field(default_factory=dict)

    def check(self, where: str) -> None:
        if not MEMBER_NAME.fullmatch(self.name):
            raise UserError(
                f"{where}.name={self.name!r}: use letters, digits, '_' or '-'"
                " (it names a directory)"
            )
        if (self.model is None) == (self.path is None):
            raise UserError(f"{where} ({self.name}): set exactly one of 'model' or 'path'")
        if self.model is not None:
            one_of(f"{where}.model", self.model, MEMBER_MODELS)
        if self.path is not None and self.overrides:
            raise UserError(
                f"{where} ({self.name}): 'overrides' apply to 'model' members only; a 'path'"
                " member is used as it was saved"
            )


@dataclass
class EnsembleConfig(ModelConfig):
    name: str = "ensemble"
    family: str = "ensemble"
    method: str = "stacking"  # stacking (a meta-learner) | blending (non-negative weights, sum 1)
    meta_learner: str = "logistic"  # stacking: logistic (ridge for regression) | tree (LightGBM)
    meta_c: float = (
        1.0  # inverse L2 strength of the logistic/ridge meta-learner, on z-scored inputs
    )
    # The last meta_fraction of train (after an embargo of the horizon) fits the combiner on the
    # predictions of members fitted on the rest; valid stays out-of-sample for both.
    meta_fraction: float = 0.25
    use: str = ""  # "+"-joined member names to combine (e.g. xgb+lstm); empty: every member
    members: list[MemberConfig] = field(default_factory=list)

    def __post_init__(self) -> None:
        one_of("model.method", self.method, ("stacking", "blending"))
        one_of("model.meta_learner", self.meta_learner, ("logistic", "tree"))
        at_least("model.meta_c", self.meta_c, 1e-6)
        in_range("model.meta_fraction", self.meta_fraction, 0.05, 0.5)
        if not self.members:
            raise UserError("model.members: empty; list at least one member (model: or path:)")
        at_most("model.members", len(self.members), 32, "each member is a model trained in the run")
        names = [m.name for m in self.members]
        for i, member in enumerate(self.members):
            member.check(f"model.members[{i}]")
            if member.model is not None:
                member_params(member)  # a bad override fails now, not after the data is built
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise UserError(f"model.members: names must be unique; repeated: {duplicates}")
        unknown = [n for n in self.used_names() if n not in names]
        if unknown:
            raise UserError(
                f"model.use={self.use!r}: no member named {', '.join(unknown)};"
                f" members are {', '.join(names)}. Set model.use to the '+'-joined names to"
                " combine, or model.use='' for all (needed when model.members is replaced)"
            )

    def used_names(self) -> list[str]:
        """The members combined, in the order listed under ``members``."""
        if not self.use:
            return [m.name for m in self.members]
        return [n for n in self.use.split("+") if n]

    def used_members(self) -> list[MemberConfig]:
        wanted = set(self.used_names())
        return [m for m in self.members if m.name in wanted]


SCHEMAS: dict[str, type[ModelConfig]] = {
    "xgboost": XGBoostConfig,
    "lightgbm": LightGBMConfig,
    "lstm": LSTMConfig,
    "transformer": TransformerConfig,
}


def member_params(member: MemberConfig) -> ModelConfig:
    """The hyperparameters of a ``model:`` member: schema defaults + overrides, validated."""
    assert member.model is not None
    where = f"model.members ({member.name}) overrides"
    for key in ("name", "family"):
        if key in member.overrides:
            raise UserError(f"{where}: '{key}' is fixed by model={member.model}; remove it")
    try:
        # from_dotlist parses values as a command line does: "3" -> 3, "null" -> None
        values = OmegaConf.from_dotlist([f"{k}={v}" for k, v in member.overrides.items()])
        merged = OmegaConf.merge(OmegaConf.structured(SCHEMAS[member.model]), values)
        params = OmegaConf.to_object(merged)
    except UserError as exc:  # a range check of the family's schema
        raise UserError(f"{where}: {exc}") from None
    except Exception as exc:  # omegaconf: unknown key, wrong type, unparsable value
        bad_key = getattr(exc, "full_key", None)
        msg = getattr(exc, "msg", str(exc)).splitlines()[0]
        raise UserError(f"{where}: {bad_key}: {msg}" if bad_key else f"{where}: {msg}") from None
    assert isinstance(params, ModelConfig)
    return params
