"""Guardrails: value, limit, pass/fail and margin; DSR/PBO only when switched on."""

from __future__ import annotations

import pytest

from evaluation.config import GuardrailsConfig
from evaluation.guardrails import all_passed, check

GOOD = {"n_trades": 500, "hit_rate": 0.55, "max_drawdown": -0.08}


def _by_name(guards: list) -> dict:
    return {g.name: g for g in guards}


def test_plan_defaults_pass_a_good_hourly_strategy_with_positive_margins() -> None:
    guards = check(GOOD, "1h", GuardrailsConfig())
    assert all_passed(guards)
    g = _by_name(guards)
    assert g["n_trades"].margin == 300
    assert g["hit_rate"].margin == pytest.approx(0.03)
    assert g["max_drawdown"].limit == -0.10
    assert g["max_drawdown"].margin == pytest.approx(0.02)
    assert set(g) == {"n_trades", "hit_rate", "max_drawdown"}


@pytest.mark.parametrize(
    ("key", "value", "failing"),
    [
        ("n_trades", 199, "n_trades"),
        ("hit_rate", 0.519, "hit_rate"),
        ("max_drawdown", -0.11, "max_drawdown"),
    ],
)
def test_each_guardrail_fails_just_past_its_limit(key: str, value: float, failing: str) -> None:
    guards = check({**GOOD, key: value}, "1h", GuardrailsConfig())
    assert not all_passed(guards)
    failed = [g for g in guards if not g.passed]
    assert [g.name for g in failed] == [failing]
    assert failed[0].margin is not None and failed[0].margin < 0


def test_four_hour_strategy_is_held_to_its_own_drawdown_limit() -> None:
    summary = {**GOOD, "max_drawdown": -0.30}
    assert all_passed(check(summary, "4h", GuardrailsConfig()))
    assert not all_passed(check(summary, "1h", GuardrailsConfig()))
    assert not all_passed(check(summary, "1h+4h", GuardrailsConfig()))


def test_limits_come_from_config() -> None:
    cfg = GuardrailsConfig(min_trades=1000, min_hit_rate=0.5, max_drawdown_1h=-0.5)
    g = _by_name(check(GOOD, "1h", cfg))
    assert not g["n_trades"].passed and g["hit_rate"].passed and g["max_drawdown"].passed


def test_overfitting_guardrails_are_off_by_default_and_fail_when_unmeasured() -> None:
    assert "deflated_sharpe" not in _by_name(check(GOOD, "1h", GuardrailsConfig()))
    cfg = GuardrailsConfig(min_dsr=0.95, max_pbo=0.2)
    g = _by_name(check(GOOD, "1h", cfg, dsr=None, pbo=None))
    assert not g["deflated_sharpe"].passed and g["deflated_sharpe"].value is None
    g = _by_name(check(GOOD, "1h", cfg, dsr=0.97, pbo=0.1))
    assert g["deflated_sharpe"].passed and g["pbo"].passed
    assert g["pbo"].margin == pytest.approx(0.1)
    g = _by_name(check(GOOD, "1h", cfg, dsr=0.95, pbo=0.2))  # strict: equal is not enough
    assert not g["deflated_sharpe"].passed and not g["pbo"].passed


def test_out_of_range_limits_are_user_errors_naming_the_key() -> None:
    from trainer.errors import UserError

    with pytest.raises(UserError, match=r"guardrails\.min_hit_rate"):
        GuardrailsConfig(min_hit_rate=1.5)
    with pytest.raises(UserError, match=r"guardrails\.max_drawdown_1h"):
        GuardrailsConfig(max_drawdown_1h=0.1)
