"""The leaderboard's content: rows from reports, checked to share hours and costs, sorted.

``build`` is pure (reports in, the JSON of leaderboard.json out); ``render`` writes it
(evaluation/campaign/render.py). Rows: every evaluated entry and ensemble, the Phase 1 baseline
and buy-and-hold, all on the same walk-forward hours; the target strategy of each report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from evaluation.campaign.leaderboard import (
    Report,
    costs_of,
    hours_of,
    market_row,
    report_row,
    require_comparable,
    sort_rows,
)


@dataclass(frozen=True)
class Entry:
    """A report on the board, with what the board says about it beyond the report."""

    name: str
    kind: str  # study | ensemble | baseline | report
    report: Report
    extra: dict[str, Any] = field(default_factory=dict)


def build(
    name: str,
    entries: Sequence[Entry],
    sort_by: str,
    top_n: int,
    what: str,
    context: Mapping[str, Any] | None = None,
    steps: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """leaderboard.json's content. Refuses (UserError naming them) reports whose walk-forward
    hours or costs differ from the first one's."""
    reports = [e.report for e in entries]
    require_comparable(reports, what)
    rows = [report_row(e.report, e.name, e.kind, e.extra) for e in entries]
    baseline = next((r for r in rows if r["kind"] == "baseline"), None)
    if baseline is not None and isinstance(baseline.get("net_return"), int | float):
        # The team lead's question: does it beat Phase 1 net of costs, on the same hours?
        for row in rows:
            net = row.get("net_return")
            row["net_vs_baseline"] = (
                net - baseline["net_return"] if isinstance(net, int | float) else None
            )
    ranked = sort_rows(rows, sort_by)
    if reports:
        ranked.append(market_row(reports[0]))
    for i, row in enumerate(ranked, start=1):
        row["rank"] = i if row["kind"] != "market" else None
    shown = [r["name"] for r in ranked if r["kind"] not in ("market",)][:top_n]
    first = reports[0] if reports else None
    return {
        "name": name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "sort_by": sort_by,
        "hours": None if first is None else vars(hours_of(first)),
        "costs": None if first is None else {**costs_of(first), **_cost_bps(first)},
        "rows": ranked,
        "equity_curves": shown,
        "steps": list(steps),
        "campaign": None,
        **dict(context or {}),
    }


def _cost_bps(report: Report) -> dict[str, Any]:
    return {"cost_bps": report.data["costs"].get("cost_bps")}
