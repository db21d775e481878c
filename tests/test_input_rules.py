"""The rules every config key follows, checked over every key they apply to (in-process).

Each rule is one check in the schema layer (``trainer.errors`` helpers called from the
schemas and ``validate``), so a new key is covered without a new test; the subprocess side
(one line, exit code 2) is in ``tests/test_bad_inputs.py``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from evaluation.cli import to_schema
from evaluation.config import EvaluationConfig
from evaluation.config import register as register_evaluation
from tests.conftest import CONF
from trainer.config import TrainConfig, validate
from trainer.errors import UserError
from trainer.learners.config import (
    EnsembleConfig,
    LightGBMConfig,
    LSTMConfig,
    TransformerConfig,
    XGBoostConfig,
)

MODELS = {
    "xgboost": XGBoostConfig,
    "lightgbm": LightGBMConfig,
    "lstm": LSTMConfig,
    "transformer": TransformerConfig,
    "ensemble": EnsembleConfig,
}


def _is_float(tp: Any) -> bool:
    if tp is float:
        return True
    args = typing.get_args(tp)
    return isinstance(tp, types.UnionType) and float in args


def float_keys(schema: type, prefix: str = "") -> Iterator[str]:
    """Every float (or optional float) field of a schema, dotted, nested schemas included;
    a list of floats gives its first item."""
    hints = typing.get_type_hints(schema)
    for f in dataclasses.fields(schema):
        tp, key = hints[f.name], f"{prefix}{f.name}"
        if _is_float(tp):
            yield key
        elif typing.get_origin(tp) is list and typing.get_args(tp) == (float,):
            yield f"{key}[0]"
        elif dataclasses.is_dataclass(tp) and isinstance(tp, type):
            yield from float_keys(tp, f"{key}.")


def _train_cases() -> Iterator[tuple[str, str]]:
    for model, schema in MODELS.items():
        for key in float_keys(schema):
            yield model, f"model.{key}"
    for key in float_keys(TrainConfig):
        if not key.startswith(("model.", "data.")):
            yield "xgboost", key
    yield "xgboost", "data.signal_strength"


TRAIN_CASES = list(_train_cases())
EVALUATION_CASES = list(float_keys(EvaluationConfig))


@pytest.fixture(scope="module")
def composed() -> Callable[[str], DictConfig]:
    from trainer.config import register

    register()
    cache: dict[str, DictConfig] = {}

    def get(model: str) -> DictConfig:
        if model not in cache:
            with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
                cache[model] = compose("train", overrides=[f"model={model}"])
        return cache[model].copy()

    return get


def _set(cfg: DictConfig, key: str, value: float) -> None:
    if key.endswith("[0]"):
        node = OmegaConf.select(cfg, key[:-3])
        node[0] = value
    else:
        OmegaConf.update(cfg, key, value, merge=False)


def test_every_float_key_of_a_schema_is_listed() -> None:
    # guards the enumeration itself: a typo in float_keys would make the table empty
    keys = {k for _, k in TRAIN_CASES}
    assert {"costs.fee_bps", "objective.drawdown_penalty", "model.min_child_weight"} <= keys
    assert "objective.threshold_quantiles[0]" in keys
    assert {"backtest.fee_bps", "guardrails.min_hit_rate"} <= set(EVALUATION_CASES)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")], ids=str)
@pytest.mark.parametrize(("model", "key"), TRAIN_CASES, ids=lambda v: str(v))
def test_every_float_key_of_a_run_refuses_nan_and_inf_naming_the_key(
    composed: Callable[[str], DictConfig], model: str, key: str, bad: float
) -> None:
    cfg = composed(model)
    _set(cfg, key, bad)
    with pytest.raises(UserError, match=r"not a finite number") as err:
        validate(cfg)
    assert str(err.value).startswith(f"{key}=")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")], ids=str)
@pytest.mark.parametrize("key", EVALUATION_CASES)
def test_every_float_key_of_an_evaluation_refuses_nan_and_inf(key: str, bad: float) -> None:
    register_evaluation()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("evaluation", overrides=["run=x"])
    _set(cfg, key, bad)
    with pytest.raises(UserError, match=rf"^{key.replace('[', '.').replace(']', '.')}=.*finite"):
        to_schema(cfg)


def test_a_float_given_to_an_ensemble_member_refuses_nan() -> None:
    from trainer.learners.config import MemberConfig

    member = MemberConfig(name="x", model="xgboost", overrides={"min_child_weight": "nan"})
    with pytest.raises(UserError, match="min_child_weight=nan: not a finite number"):
        EnsembleConfig(members=[member])


@pytest.mark.parametrize(
    ("key", "value", "accepted"),
    [
        ("seed", 0, True),
        ("seed", 2**32 - 1, True),
        ("seed", -1, False),
        ("seed", 2**32, False),
        ("seed", 2**40, False),
        ("seed", 2**63, False),
        ("data.seed", 7, True),
        ("data.seed", -3, False),
        ("data.seed", 2**33, False),
    ],
)
def test_seeds_are_accepted_in_one_range(
    composed: Callable[[str], DictConfig], key: str, value: int, accepted: bool
) -> None:
    cfg = composed("xgboost")
    OmegaConf.update(cfg, key, value, merge=False)
    if accepted:
        conf = validate(cfg)
        assert (conf.seed if key == "seed" else getattr(conf.data, "seed", None)) == value
    else:
        with pytest.raises(UserError, match=rf"^{key}={value}: a seed must be an integer in"):
            validate(cfg)


def test_the_largest_seed_trains_and_metadata_records_it_as_given(
    compose_cfg: Callable[..., DictConfig], tmp_path: Any
) -> None:
    import json

    from trainer.train import train

    train(compose_cfg(f"seed={2**32 - 1}", "model.n_estimators=5"), tmp_path)
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["seed"] == meta["seeds"]["numpy"] == 2**32 - 1


def test_reproduce_seeds_wrap_inside_the_seed_range() -> None:
    from optuna.trial import create_trial

    from hydra_plugins.quantsweep_sweeper._finish import reproduce_seed_list

    best = create_trial(value=1.0, user_attrs={"seed": 2**32 - 2})
    assert reproduce_seed_list(best, 0, 3) == [2**32 - 1, 0, 1]


# Keys that set memory or time, each with the smallest value past its upper bound.
RUN_BOUNDS = [
    ("xgboost", "objective.n_thresholds", 501),
    ("xgboost", "hardware.threads", 100_000),
    ("xgboost", "hardware.n_jobs", 257),
    ("xgboost", "hardware.batch_size", 65_537),
    ("xgboost", "model.n_estimators", 100_001),
    ("xgboost", "model.early_stopping_rounds", 100_001),
    ("xgboost", "model.max_depth", 17),
    ("lightgbm", "model.n_estimators", 100_001),
    ("lightgbm", "model.num_leaves", 4097),
    ("lstm", "model.sequence_len", 513),
    ("lstm", "model.batch_size", 65_537),
    ("lstm", "model.micro_batch_size", 65_537),
    ("lstm", "model.max_epochs", 100_001),
    ("lstm", "model.hidden_dim", 4097),
    ("transformer", "model.d_model", 4097),
    ("transformer", "model.feedforward_dim", 16_385),
    ("xgboost", "split.step_months", 121),
    ("xgboost", "costs.fee_bps", 1e300),
    ("xgboost", "costs.slippage_bps", 10_001),
    ("xgboost", "objective.drawdown_penalty", 1e308),
    ("xgboost", "split.embargo_hours", 8761),
    ("xgboost", "data.max_ffill_hours", 169),
    ("xgboost", "features.price.zscore_windows[0]", 8761),
    ("xgboost", "features.funding.delta_windows[0]", 10**9),
]
EVALUATION_BOUNDS = [
    ("overfitting.n_blocks", 18),
    ("overfitting.n_blocks", 40),
    ("walk_forward.infer_steps", 201),
    ("walk_forward.step_months", 121),
    ("walk_forward.embargo_hours", 8761),
    ("backtest.momentum_hours", 8761),
    ("backtest.fee_bps", 10_001.0),
]
BOUNDED = r": must be (<= \S+|in \[\S+, \S+\]) \(.+\)$"  # the bound, then why it exists


@pytest.mark.parametrize(("model", "key", "value"), RUN_BOUNDS, ids=lambda v: str(v))
def test_keys_that_set_memory_or_time_have_an_upper_bound_with_its_reason(
    composed: Callable[[str], DictConfig], model: str, key: str, value: int
) -> None:
    cfg = composed(model)
    _set(cfg, key, value)
    with pytest.raises(UserError, match=BOUNDED) as err:
        validate(cfg)
    assert str(err.value).startswith(key.split("[")[0])


@pytest.mark.parametrize(("key", "value"), EVALUATION_BOUNDS, ids=lambda v: str(v))
def test_evaluation_keys_that_set_memory_or_time_have_an_upper_bound(key: str, value: int) -> None:
    register_evaluation()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("evaluation", overrides=["run=x", f"{key}={value}"])
    with pytest.raises(UserError, match=rf"^{key}={value}" + BOUNDED):
        to_schema(cfg)


@pytest.mark.parametrize(
    ("key", "value"),
    [("n_trials", 100_001), ("reproduce_seeds", 101), ("n_jobs", 257), ("grace_period", 1e6)],
)
def test_sweeper_keys_that_set_memory_or_time_have_an_upper_bound(key: str, value: float) -> None:
    from hydra_plugins.quantsweep_sweeper._impl import _check_settings

    settings: dict[str, Any] = {
        "direction": "maximize",
        "n_trials": 10,
        "n_jobs": 1,
        "reproduce_seeds": 3,
        "max_consecutive_failures": 3,
        "heartbeat_interval": 10.0,
        "grace_period": 60.0,
    }
    settings[key] = value
    with pytest.raises(UserError, match=rf"^hydra.sweeper.{key}=\S+" + BOUNDED):
        _check_settings(**settings)


# (name, accepted as a directory name)
NAMES = [
    ("xgboost-1h-direction", True),
    ("btc_v2.1", True),
    ("a" * 200, True),
    (".", False),
    ("..", False),
    ("../escape", False),
    ("a/b", False),
    (".hidden", False),
    ("-flag", False),
    ("", False),
    ("a" * 201, False),
    ("tab\there", False),
]


@pytest.mark.parametrize(("name", "ok"), NAMES, ids=[n[:20] for n, _ in NAMES])
def test_names_that_become_directories_are_plain_names(name: str, ok: bool) -> None:
    from trainer.errors import plain_name

    if ok:
        plain_name("name", name)
        EvaluationConfig(name=name)
    else:
        with pytest.raises(UserError, match="must be a plain name"):
            EvaluationConfig(name=name)


def test_output_directories_are_checked_for_writability_without_leaving_anything(
    tmp_path: Any,
) -> None:
    from trainer.errors import writable_dir

    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    cases = [
        (str(tmp_path / "new" / "deep"), None),
        (str(tmp_path), None),
        (str(a_file), "is a file, not a directory"),
        (str(a_file / "below"), "is a file, not a directory"),
        ("/sys/quantsweep/out", "cannot write in /sys"),
        ("/proc/quantsweep", "cannot write in /proc"),
        ("x" * 5000, "longer than a path may be"),
        (str(tmp_path / ("y" * 256)), "longer than a file name may be"),
        ("a\0b", "NUL"),
    ]
    for path, problem in cases:
        if problem is None:
            writable_dir("artifacts_dir", path)
        else:
            with pytest.raises(UserError, match=problem):
                writable_dir("artifacts_dir", path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]  # nothing made or left


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("data.path", "x" * 100_000),
        ("artifacts_dir", "a/" + "b" * 300),
        ("data.root", "r" * 5000),
        ("artifacts_dir", ""),
    ],
)
def test_path_keys_refuse_what_no_file_system_takes(
    composed: Callable[[str], DictConfig], key: str, value: str
) -> None:
    cfg = composed("xgboost")
    if key == "data.path":
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose("train", overrides=["data=csv", f"data.path={value}"])
    elif key == "data.root":
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose("train", overrides=["data=binance_btc", f"data.root={value}"])
    else:
        OmegaConf.update(cfg, key, value, merge=False)
    with pytest.raises(UserError, match=rf"^{key}=.*(longer than|chars\)|empty; name a path)"):
        validate(cfg)
