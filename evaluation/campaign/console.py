"""The closing table of ``python -m evaluation.campaign``: the ranking, and where the files are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from evaluation.campaign.render import MAIN, table


def print_board(
    data: dict[str, Any], board_dir: Path, headline: str, console: Console | None = None
) -> None:
    # A log file (nohup) gets the whole table rather than 80 columns of ellipses.
    console = console or Console()
    if not console.is_terminal:
        console.width = max(console.width, 180)
    main = table(MAIN, data["rows"])
    hours = data.get("hours") or {}
    title = f"{data['name']} · by {data['sort_by']}"
    if hours:
        title += f" · {hours['start']} to {hours['end']}, {hours['n_hours']} hours"
    out = Table(title=title)
    for i, head in enumerate(main["head"]):
        out.add_column(head, justify="left" if i in (1, 2, 3) else "right")
    for row in main["rows"]:
        out.add_row(*row)
    console.print(out)
    for step in data.get("steps", []):
        if step["state"] not in ("done", "reused"):
            console.print(f"[bold]{step['name']}[/bold]: {step['state']} ({step['note']})")
    console.print(headline)
    console.print(f"leaderboard: {board_dir / 'leaderboard.html'} (and .md, .json)")
