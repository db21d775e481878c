"""The closing table of ``python -m evaluation.campaign``: the ranking, and where the files are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from evaluation.campaign.render import MAIN, table

# The terminal's table: the board's main columns (short names) less those the entry's name or
# the files say, so it fits 80 columns.
SHOWN = {
    "entry": "entry",
    "objective": "obj",
    "hit rate": "hit",
    "round trips": "trips",
    "gross": "gross",
    "net": "net",
    "break-even bps": "b/e",
    "max DD": "max DD",
    "Sharpe": "Sharpe",
    "guardrails": "guard",
}


def print_board(
    data: dict[str, Any], board_dir: Path, headline: str, console: Console | None = None
) -> None:
    # A log file (nohup) gets the whole table rather than 80 columns of ellipses.
    console = console or Console()
    if not console.is_terminal:
        console.width = max(console.width, 180)
    main = table([c for c in MAIN if c[0] in SHOWN], data["rows"])
    main["head"] = [SHOWN[h] for h in main["head"]]
    hours = data.get("hours") or {}
    title = f"{data['name']} · best {data['sort_by']} first"
    if hours:
        title += f" · {hours['start']} to {hours['end']}, {hours['n_hours']} hours"
    out = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for i, head in enumerate(main["head"]):
        out.add_column(head, justify="left" if i == 0 else "right", no_wrap=True)
    for row in main["rows"]:
        out.add_row(*row)
    console.print(out)
    for step in data.get("steps", []):
        if step["state"] not in ("done", "reused"):
            console.print(f"[bold]{step['name']}[/bold]: {step['state']} ({step['note']})")
    console.print(headline)
    console.print(f"leaderboard: {board_dir / 'leaderboard.html'} (and .md, .json)")
