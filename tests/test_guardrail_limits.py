"""A guardrail's limit itself: "at least 200 trades" passes with 200, "hit rate >= 0.52" with
0.52, "drawdown no worse than -0.10" with -0.10; the strict ones (DSR > min, PBO < max) fail
exactly at theirs. An unmeasured guardrail records its limit and rule, and fails."""

from __future__ import annotations

import json

import pytest

from evaluation.config import GuardrailsConfig
from evaluation.guardrails import Guardrail, all_passed, check, guardrail

CFG = GuardrailsConfig(min_dsr=0.95, max_pbo=0.2)
AT_LIMITS = {"n_trades": 200, "hit_rate": 0.52, "max_drawdown": -0.10}


def _by_name(guards: list[Guardrail]) -> dict[str, Guardrail]:
    return {g.name: g for g in guards}


def test_plan_limits_pass_when_met_exactly() -> None:
    g = _by_name(check(AT_LIMITS, "1h", CFG, dsr=0.96, pbo=0.1))
    for name in ("n_trades", "hit_rate", "max_drawdown"):
        assert g[name].passed and g[name].margin == 0, name
    assert all_passed(list(g.values()))


def test_four_hour_drawdown_limit_passes_when_met_exactly() -> None:
    g = _by_name(check({**AT_LIMITS, "max_drawdown": -0.35}, "4h", CFG, dsr=0.96, pbo=0.1))
    assert g["max_drawdown"].passed and g["max_drawdown"].limit == -0.35


def test_deflated_sharpe_and_pbo_fail_exactly_at_their_limits() -> None:
    g = _by_name(check(AT_LIMITS, "1h", CFG, dsr=0.95, pbo=0.2))
    assert not g["deflated_sharpe"].passed and g["deflated_sharpe"].rule == ">"
    assert not g["pbo"].passed and g["pbo"].rule == "<"
    assert g["deflated_sharpe"].margin == 0 and g["pbo"].margin == 0
    assert not all_passed(list(g.values()))


@pytest.mark.parametrize(
    ("rule", "value", "passed", "margin"),
    [
        (">=", 3.0, True, 1.0),
        (">=", 1.0, False, -1.0),
        (">", 2.0, False, 0.0),
        ("<=", 2.0, True, 0.0),
        ("<=", 3.0, False, -1.0),
        ("<", 1.0, True, 1.0),
        ("<", 2.0, False, 0.0),
    ],
)
def test_each_rule_compares_value_to_limit_and_signs_the_margin(
    rule: str, value: float, passed: bool, margin: float
) -> None:
    g = guardrail("x", value, rule, 2.0)
    assert (g.name, g.value, g.limit, g.rule) == ("x", value, 2.0, rule)
    assert g.passed is passed and g.margin == margin


def test_an_unmeasured_guardrail_fails_keeping_its_limit_and_rule() -> None:
    g = guardrail("deflated_sharpe", None, ">", 0.95)
    assert g.to_json() == {
        "name": "deflated_sharpe",
        "value": None,
        "limit": 0.95,
        "rule": ">",
        "passed": False,
        "margin": None,
    }
    json.dumps(g.to_json())  # goes into report.json as it is


def test_no_guardrail_at_all_is_not_a_pass() -> None:
    assert not all_passed([])
