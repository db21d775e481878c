"""An ensemble member of a campaign: a study's entry refitted with its best params.

Used by ``python -m evaluation.campaign`` to build ``model=ensemble`` runs; pure functions from
a study's step and ``summary.json`` to the ``model.members=[...]`` override of the run.
"""

from __future__ import annotations

from typing import Any

from evaluation.campaign.plan import StudyStep


def member_overrides(step: StudyStep, summary: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """An ensemble member's model overrides: the study's own (CPU settings, entry, user), then
    its best params; and the best params that are not model keys (not carried)."""
    out = step.model_overrides()
    other: list[str] = []
    for key, value in (summary["best"].get("params") or {}).items():
        if key.startswith("model."):
            out[key.removeprefix("model.")] = _value(value)
        else:
            other.append(f"{key}={value}")
    return out, other


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def members_override(members: list[tuple[StudyStep, dict[str, str]]]) -> str:
    """``model.members=[{name:..,model:..,overrides:{k:'v'}}, ...]`` in Hydra's grammar."""
    items = []
    for step, overrides in members:
        pairs = ",".join(f"{k}:{_quote(v)}" for k, v in overrides.items())
        items.append(f"{{name:{step.name},model:{step.model},overrides:{{{pairs}}}}}")
    return f"model.members=[{','.join(items)}]"
