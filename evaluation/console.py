"""What ``python -m evaluation`` prints: a rich summary of the report and the verdict."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from evaluation.manifest import Verification


def print_summary(data: dict[str, Any], report_dir: str, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(
        title=f"{data['name']} · walk-forward {data['walk_forward']['start']} to"
        f" {data['walk_forward']['end']} ({data['walk_forward']['n_folds']} folds)"
    )
    columns = (
        ("gross", "gross_return"),
        ("costs", "cost_return"),
        ("net", "total_return"),
        ("break-even bps", "break_even_bps"),
        ("max dd", "max_drawdown"),
        ("Sharpe", "sharpe"),
        ("trades", "n_trades"),
        ("win rate", "win_rate"),
        ("hit rate", "hit_rate"),
        ("exposure", "exposure"),
        ("turnover/yr", "turnover_per_year"),
    )
    table.add_column("strategy")
    for label, _ in columns:
        table.add_column(label, justify="right")
    for name, s in data["backtests"].items():
        table.add_row(name, *(_fmt(s.get(k)) for _, k in columns))
    console.print(table)

    guards = Table(title=f"guardrails of the target strategy ({data['target_strategy']})")
    for col in ("guardrail", "value", "limit", "margin", "result"):
        guards.add_column(col, justify="left" if col == "guardrail" else "right")
    for g in data["guardrails"][data["target_strategy"]]["checks"]:
        result = "[green]pass[/green]" if g["passed"] else "[red]FAIL[/red]"
        guards.add_row(
            g["name"],
            _fmt(g["value"]),
            f"{g['rule']} {_fmt(g['limit'])}",
            _fmt(g["margin"]),
            result,
        )
    console.print(guards)
    for s in data["stress"]:
        if s["skipped"]:
            console.print(f"stress {s['name']}: skipped ({s['skipped']})")
        else:
            console.print(
                f"stress {s['name']}: return {s['strategy']['total_return']:+.2%} net,"
                f" {s['strategy']['gross_return']:+.2%} gross"
                f" (buy-and-hold {s['buy_and_hold']['total_return']:+.2%}), max drawdown"
                f" {s['strategy']['max_drawdown']:.2%}"
            )
    promo = data["promotion"]
    if data.get("mode") == "forward":
        if promo["passed"]:
            console.print("[bold green]FORWARD TEST passed[/bold green] (saved model, no refit)")
        else:
            failed = ", ".join(promo["failed"])
            console.print(f"[bold red]FORWARD TEST FAILED[/bold red]: {failed}")
    elif promo["promoted"]:
        console.print(f"[bold green]PROMOTED[/bold green] to {promo['path']}")
    elif promo["passed"]:
        console.print(f"[bold yellow]passed, not promoted[/bold yellow]: {promo['blocked_by']}")
    else:
        console.print(f"[bold red]NOT PROMOTED[/bold red]: failed {', '.join(promo['failed'])}")
    console.print(f"report: {report_dir}/report.html")


def print_verification(v: Verification, console: Console | None = None) -> None:
    console = console or Console()
    if v.matches:
        console.print(
            f"[green]verified[/green]: all {v.n_compared} metrics of {v.run} reproduced exactly"
        )
    else:
        console.print(f"[red]MISMATCH[/red]: {len(v.differences)} of {v.n_compared} metrics differ")
        for d in v.differences[:20]:
            console.print(f"  {d}")
    if not v.data_matches:
        console.print("[red]the data hash differs from the one the run was trained on[/red]")


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return f"{v:.4f}"
