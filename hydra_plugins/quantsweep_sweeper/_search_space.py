"""At a sweep's start and each ask: override grammar -> Optuna distributions -> overrides.

Pure functions, tested with a table (tests/test_search_space.py). The grammar is Hydra's
override grammar as hydra-optuna-sweeper reads it:

    interval(a, b)            FloatDistribution(a, b)
    int(interval(a, b))       IntDistribution(a, b)
    tag(log, interval(a, b))  the same with log=True
    choice(x, y, ...), x,y    CategoricalDistribution (lists and dicts become override strings)
    range(a, b[, s])          Int/FloatDistribution over a, a+s, ... < b (Hydra's range
                              excludes b; hydra-optuna-sweeper included it)
    anything else             a fixed override passed to every job
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from optuna.distributions import (
    BaseDistribution,
    CategoricalChoiceType,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
)
from optuna.trial import Trial

from hydra_plugins.quantsweep_sweeper.link import UserError

CONDITION_SEP = "|"  # "model.num_heads|model.d_model=96": a param sampled under a condition


@dataclass(frozen=True)
class SearchSpace:
    """What each trial samples, and the overrides every job gets."""

    distributions: dict[str, BaseDistribution]  # param name (an override key) -> distribution
    fixed: dict[str, str] = field(default_factory=dict)  # key -> override line
    raw: frozenset[str] = frozenset()  # params whose choices are override strings (lists, dicts)
    divides: dict[str, str] = field(default_factory=dict)  # param -> param it must divide

    def to_json(self) -> dict[str, Any]:
        """What is searched, stored with the study and compared on resume.

        The fixed overrides are left out: what they change in the objective (data, model
        settings, costs) is compared through the app's fingerprint instead, so adding
        ``progress=false`` or ``hardware.threads=1`` to a resumed command changes nothing.
        """
        return {
            "params": {k: distribution_to_json(d) for k, d in sorted(self.distributions.items())},
            "divides": dict(sorted(self.divides.items())),
        }


def distribution(override: Override) -> BaseDistribution:
    """The Optuna distribution of one sweep override (``key=interval(...)`` and friends)."""
    key = override.get_key_element()
    value = override.value()
    if isinstance(value, IntervalSweep):
        return _interval(key, value)
    if isinstance(value, RangeSweep):
        return _range(key, override, value)
    if isinstance(value, ChoiceSweep):
        choices: list[Any] = list(override.sweep_iterator())
        if all(_is_primitive(c) for c in choices):
            return CategoricalDistribution(choices)
        return CategoricalDistribution(list(override.sweep_string_iterator()))
    raise UserError(f"hydra.sweeper.params.{key}: {override.input_line!r} is not a search space")


def _interval(key: str, value: IntervalSweep) -> BaseDistribution:
    low, high, log = value.start, value.end, "log" in value.tags
    if low is None or high is None or not low < high:
        raise UserError(f"hydra.sweeper.params.{key}: interval({low}, {high}) needs low < high")
    if log and low <= 0:
        raise UserError(f"hydra.sweeper.params.{key}: a log interval needs low > 0, got {low}")
    if isinstance(low, int) and isinstance(high, int):
        return IntDistribution(low, high, log=log)
    return FloatDistribution(float(low), float(high), log=log)


def _range(key: str, override: Override, value: RangeSweep) -> BaseDistribution:
    values: list[Any] = list(override.sweep_iterator())
    if not values:
        raise UserError(f"hydra.sweeper.params.{key}: {override.input_line!r} is empty")
    if value.shuffle:
        return CategoricalDistribution(values)
    step = value.step if value.step is not None else 1
    if all(isinstance(v, int) for v in (value.start, value.stop, step)):
        if len(values) == 1:
            return CategoricalDistribution(values)
        return IntDistribution(int(values[0]), int(values[-1]), step=int(step))
    if len(values) == 1:
        return CategoricalDistribution(values)
    # The last value of a float range carries rounding error; snap it onto the step grid.
    low, step = float(values[0]), float(step)
    n_steps = round((float(values[-1]) - low) / step)
    return FloatDistribution(low, low + n_steps * step, step=step)


def _is_primitive(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def parse_space(
    params: Mapping[str, str] | None,
    arguments: Sequence[str],
    divides: Mapping[str, str] | None = None,
) -> SearchSpace:
    """The search space of ``hydra.sweeper.params`` with the command line on top.

    A key given on the command line replaces the same key of the config: ``model.max_depth=4``
    pins a searched parameter, ``model.max_depth=3,5`` makes it a choice.
    """
    lines = [f"{k}={v}" for k, v in (params or {}).items()]
    parser = OverridesParser.create()
    try:
        parsed = parser.parse_overrides([*lines, *arguments])
    except Exception as exc:  # Hydra's OverrideParseException, with a multi-line message
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"hydra.sweeper.params: {first}") from None
    distributions: dict[str, BaseDistribution] = {}
    fixed: dict[str, str] = {}
    raw: set[str] = set()
    for override in parsed:
        key = override.get_key_element()
        distributions.pop(key, None)
        fixed.pop(key, None)
        raw.discard(key)
        if override.is_sweep_override():
            dist = distribution(override)
            distributions[key] = dist
            if isinstance(dist, CategoricalDistribution) and not all(
                _is_primitive(c) for c in override.sweep_iterator()
            ):
                raw.add(key)
        else:
            fixed[key] = override.input_line or f"{key}={override.get_value_element_as_str()}"
    divides = dict(divides or {})
    for param, other in divides.items():
        if not isinstance(distributions.get(param), IntDistribution) or other not in distributions:
            raise UserError(
                f"hydra.sweeper.divides.{param}={other}: both must be searched params and"
                f" {param} an int(interval(...)) or range(...)"
            )
    return SearchSpace(distributions, fixed, frozenset(raw), divides)


def divisor_choices(dist: IntDistribution, value: int) -> list[int]:
    """The values of an int distribution that divide ``value`` (num_heads of a d_model)."""
    return [v for v in range(dist.low, dist.high + 1, dist.step) if value % v == 0]


def conditional_name(param: str, other: str, value: Any) -> str:
    """The Optuna name of ``param`` sampled given ``other=value``.

    Optuna fixes a categorical's choices per name, so each value of ``other`` gets its own name;
    ``override_key`` maps it back.
    """
    return f"{param}{CONDITION_SEP}{other}={value}"


def override_key(name: str) -> str:
    return name.split(CONDITION_SEP, 1)[0]


def order_for_sampling(space: SearchSpace) -> list[str]:
    """Params in sampling order: a param that must divide another comes after it."""
    first = [k for k in space.distributions if k not in space.divides]
    return first + [k for k in space.distributions if k in space.divides]


_PLAIN = re.compile(r"^[A-Za-z0-9_./:+-]+$")


def quote(text: str) -> str:
    """A string as an override value that Hydra parses back to the same string."""
    if _PLAIN.match(text) and text not in {"null", "true", "false"} and not _looks_numeric(text):
        return text
    escaped = re.sub(r"(\\+)(?='|$)", lambda m: m.group(1) * 2, text)
    return "'" + escaped.replace("'", "\\'") + "'"


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def format_value(value: CategoricalChoiceType, raw: bool = False) -> str:
    """A sampled value in override syntax (floats keep every digit)."""
    if raw:
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UserError(f"cannot pass the non-finite value {value} as an override")
        return repr(value)
    return quote(str(value))


def param_overrides(space: SearchSpace, params: Mapping[str, Any]) -> list[str]:
    """A trial's sampled params as override lines, under their keys."""
    lines = []
    for name, value in params.items():
        key = override_key(name)
        lines.append(f"{key}={format_value(value, raw=key in space.raw)}")
    return lines


def suggest(trial: Trial, name: str, dist: BaseDistribution) -> Any:
    """Ask the trial for ``name`` from ``dist`` through Optuna's public suggest API."""
    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    raise TypeError(f"{name}: unsupported distribution {dist!r}")


def sample(trial: Trial, space: SearchSpace) -> dict[str, Any]:
    """Suggest every param of the space (conditional ones after what they depend on)."""
    for name in order_for_sampling(space):
        dist = space.distributions[name]
        other = space.divides.get(name)
        if other is None:
            suggest(trial, name, dist)
            continue
        assert isinstance(dist, IntDistribution)  # parse_space checked it
        value = trial.params[other]
        choices = divisor_choices(dist, int(value))
        if not choices:
            raise UserError(
                f"hydra.sweeper.divides.{name}: no value in [{dist.low}, {dist.high}]"
                f" divides {other}={value}"
            )
        trial.suggest_categorical(conditional_name(name, other, value), choices)
    return dict(trial.params)
