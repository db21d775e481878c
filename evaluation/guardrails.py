"""Guardrails: the checks a strategy must pass before its model may be promoted.

Called by ``python -m evaluation`` once per backtested strategy (a "guardrail set"); pure
functions over the strategy's walk-forward summary. Defaults from the modeling plan: at least
200 trades, hit rate >= 0.52, max drawdown no worse than -0.10 (strategies trading hourly) or
-0.35 (4h); optionally deflated Sharpe > 0.95 and probability of backtest overfitting < 0.2.
An enabled guardrail whose value cannot be measured (DSR of a run that is not a study's best)
fails: promotion needs evidence, not its absence.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from evaluation.config import GuardrailsConfig

RULES: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}


@dataclass(frozen=True)
class Guardrail:
    name: str
    value: float | int | None  # None: could not be measured
    limit: float
    rule: str  # value <rule> limit must hold
    passed: bool
    margin: float | int | None  # distance inside (+) or outside (-) the limit, in the value's units

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def guardrail(name: str, value: float | int | None, rule: str, limit: float) -> Guardrail:
    if value is None:
        return Guardrail(name, None, limit, rule, False, None)
    margin = value - limit if rule.startswith(">") else limit - value
    return Guardrail(name, value, limit, rule, RULES[rule](value, limit), margin)


def drawdown_limit(strategy: str, cfg: GuardrailsConfig) -> float:
    """4h holds positions for four hours; 1h and the 1h+4h confirmation trade hourly."""
    return cfg.max_drawdown_4h if strategy == "4h" else cfg.max_drawdown_1h


def check(
    summary: Mapping[str, Any],
    strategy: str,
    cfg: GuardrailsConfig,
    dsr: float | None = None,
    pbo: float | None = None,
) -> list[Guardrail]:
    """Every enabled guardrail of one strategy's summary (``n_trades``, ``hit_rate``,
    ``max_drawdown``), plus DSR and PBO when they are switched on."""
    out = [
        guardrail("n_trades", summary["n_trades"], ">=", cfg.min_trades),
        guardrail("hit_rate", summary["hit_rate"], ">=", cfg.min_hit_rate),
        guardrail("max_drawdown", summary["max_drawdown"], ">=", drawdown_limit(strategy, cfg)),
    ]
    if cfg.min_dsr is not None:
        out.append(guardrail("deflated_sharpe", dsr, ">", cfg.min_dsr))
    if cfg.max_pbo is not None:
        out.append(guardrail("pbo", pbo, "<", cfg.max_pbo))
    return out


def all_passed(guards: list[Guardrail]) -> bool:
    return bool(guards) and all(g.passed for g in guards)
