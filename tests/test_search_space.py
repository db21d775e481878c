"""The sweeper's search-space grammar: override strings -> Optuna distributions -> overrides."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from hydra_plugins.quantsweep_sweeper._search_space import (
    conditional_name,
    distribution,
    divisor_choices,
    format_value,
    override_key,
    param_overrides,
    parse_space,
    quote,
    sample,
)
from tests.conftest import CONF
from trainer.errors import UserError

PARSER = OverridesParser.create()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("x=interval(0.0, 0.3)", FloatDistribution(0.0, 0.3)),
        ("x=interval(1, 10)", FloatDistribution(1.0, 10.0)),  # Hydra's interval is float
        ("x=int(interval(3, 9))", IntDistribution(3, 9)),
        ("x=tag(log, interval(0.01, 0.2))", FloatDistribution(0.01, 0.2, log=True)),
        ("x=int(tag(log, interval(8, 256)))", IntDistribution(8, 256, log=True)),
        ("x=tag(log, int(interval(8, 256)))", IntDistribution(8, 256, log=True)),
        ("x=choice(64, 96, 128)", CategoricalDistribution([64, 96, 128])),
        ("x=1,2,3", CategoricalDistribution([1, 2, 3])),
        ("x=choice(stacking, blending)", CategoricalDistribution(["stacking", "blending"])),
        ("x=range(1, 4)", IntDistribution(1, 3)),  # Hydra's range excludes its stop
        ("x=range(2, 11, 4)", IntDistribution(2, 10, step=4)),
        ("x=range(0.1, 0.5, 0.1)", FloatDistribution(0.1, 0.4, step=0.1)),
        ("x=range(5, 6)", CategoricalDistribution([5])),
        ("x=shuffle(range(1, 4))", CategoricalDistribution([1, 2, 3])),
        (
            "x=choice([{name:a,model:xgboost}], [{name:b,model:lstm}])",
            CategoricalDistribution(["[{name:a,model:xgboost}]", "[{name:b,model:lstm}]"]),
        ),
    ],
)
def test_each_grammar_form_becomes_its_optuna_distribution(line: str, expected: object) -> None:
    dist = distribution(PARSER.parse_override(line))
    if isinstance(expected, FloatDistribution) and expected.step is not None:
        assert isinstance(dist, FloatDistribution)
        assert dist.low == expected.low and dist.step == expected.step
        assert dist.high == pytest.approx(expected.high)
    elif isinstance(expected, CategoricalDistribution) and "shuffle" in line:
        assert isinstance(dist, CategoricalDistribution)
        assert sorted(dist.choices) == sorted(expected.choices)  # type: ignore[type-var]
    else:
        assert dist == expected


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("x=interval(0.3, 0.1)", "low < high"),
        ("x=tag(log, interval(0.0, 1.0))", "low > 0"),
        ("x=range(3, 1)", "empty"),
    ],
)
def test_impossible_spaces_are_user_errors_naming_the_key(line: str, key: str) -> None:
    with pytest.raises(UserError, match=key) as info:
        distribution(PARSER.parse_override(line))
    assert "hydra.sweeper.params.x" in str(info.value)


def test_command_line_pins_or_replaces_a_configured_param() -> None:
    params = {"model.max_depth": "int(interval(3, 9))", "model.subsample": "interval(0.6, 1.0)"}
    space = parse_space(params, ["model.max_depth=4", "model.subsample=0.7,0.8", "model=lstm"])
    assert "model.max_depth" not in space.distributions
    assert space.fixed == {"model.max_depth": "model.max_depth=4", "model": "model=lstm"}
    assert space.distributions["model.subsample"] == CategoricalDistribution([0.7, 0.8])


def test_a_bad_override_in_params_is_one_user_error() -> None:
    with pytest.raises(UserError, match=r"hydra\.sweeper\.params"):
        parse_space({"x": "interval(0, "}, [])


def test_divides_needs_two_searched_params_one_an_int() -> None:
    with pytest.raises(UserError, match="divides"):
        parse_space({"a": "interval(1.0, 4.0)", "b": "choice(8, 16)"}, [], {"a": "b"})
    with pytest.raises(UserError, match="divides"):
        parse_space({"a": "int(interval(1, 4))"}, [], {"a": "b"})


@pytest.mark.parametrize(
    ("value", "expected"),
    [(64, [2, 4, 8]), (96, [2, 3, 4, 6, 8]), (160, [2, 4, 5, 8]), (224, [2, 4, 7, 8]), (9, [3])],
)
def test_divisor_choices_keep_only_values_that_divide(value: int, expected: list[int]) -> None:
    assert divisor_choices(IntDistribution(2, 8), value) == expected


@pytest.mark.parametrize(
    "text",
    [
        "plain",
        "/abs/path/journal.log",
        "with space",
        "it's",
        "a,b=c",
        "ends\\",
        "postgresql://u:p@h/db?x=1",
        "1.5",
        "null",
        "true",
    ],
)
def test_quoted_strings_parse_back_to_themselves(text: str) -> None:
    value = PARSER.parse_override(f"k={quote(text)}").value()
    assert value == text


@pytest.mark.parametrize(
    ("value", "parsed"),
    [(3, 3), (0.1 + 0.2, 0.1 + 0.2), (1e-05, 1e-05), (True, True), (None, None), ("tree", "tree")],
)
def test_formatted_values_parse_back_exactly(value: object, parsed: object) -> None:
    assert PARSER.parse_override(f"k={format_value(value)}").value() == parsed  # type: ignore[arg-type]


def test_conditional_names_map_back_to_their_override_key() -> None:
    name = conditional_name("model.num_heads", "model.d_model", 96)
    assert override_key(name) == "model.num_heads"
    space = parse_space({"model.use": "choice([{name:a}], [{name:b}])"}, [])
    lines = param_overrides(space, {name: 6, "model.use": "[{name:a}]"})
    assert lines == ["model.num_heads=6", "model.use=[{name:a}]"]


def _family_space(family: str) -> dict[str, object]:
    data = yaml.safe_load((CONF / "search" / f"{family}.yaml").read_text())
    sweeper: dict[str, object] = data["hydra"]["sweeper"]
    return sweeper


def test_transformer_space_only_samples_head_counts_that_divide_d_model(tmp_path: Path) -> None:
    conf = _family_space("transformer")
    space = parse_space(conf["params"], [], conf["divides"])  # type: ignore[arg-type]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    heads_seen = set()
    for _ in range(60):
        trial = study.ask()
        params = sample(trial, space)
        study.tell(trial, 0.0)
        keyed = {override_key(k): v for k, v in params.items()}
        assert keyed["model.d_model"] % keyed["model.num_heads"] == 0
        assert 2 <= keyed["model.num_heads"] <= 8
        heads_seen.add(keyed["model.num_heads"])
    assert {3, 6} <= heads_seen  # not just powers of two


@pytest.mark.parametrize(
    ("family", "ranges"),
    [
        (
            "xgboost",
            {
                "model.max_depth": IntDistribution(3, 9),
                "model.learning_rate": FloatDistribution(0.01, 0.2, log=True),
                "model.subsample": FloatDistribution(0.6, 1.0),
                "model.colsample_bytree": FloatDistribution(0.5, 1.0),
                "model.min_child_weight": FloatDistribution(1.0, 10.0),
            },
        ),
        (
            "lstm",
            {
                "model.hidden_dim": IntDistribution(64, 256),
                "model.num_layers": IntDistribution(1, 3),
                "model.dropout": FloatDistribution(0.0, 0.3),
                "model.sequence_len": IntDistribution(32, 64),
            },
        ),
    ],
)
def test_family_spaces_hold_the_plans_ranges(family: str, ranges: dict[str, object]) -> None:
    conf = _family_space(family)
    space = parse_space(conf["params"], [])  # type: ignore[arg-type]
    assert space.distributions == ranges
