"""What ``python -m evaluation.campaign`` shows while it works: a live table of the entries.

On a terminal, a rich live view: one row per entry and ensemble with the state of its study
(or ensemble run) and evaluation, the time spent, and the running step's last log line;
above it entries done / running / left and the time spent this session and overall. Elsewhere
(a log file under nohup) one line per step started and finished.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

LEFT, RUNNING, DONE, REUSED, FAILED, SKIPPED = (
    "left",
    "running",
    "done",
    "reused",
    "failed",
    "skipped",
)
FINISHED = (DONE, REUSED)
STYLES = {RUNNING: "bold yellow", DONE: "green", REUSED: "cyan", FAILED: "bold red", SKIPPED: "dim"}


def clock(seconds: float) -> str:
    s = round(seconds)
    return (
        f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


@dataclass
class Row:
    name: str
    target: str
    first: str  # "study" or "ensemble run"
    states: dict[str, str] = field(default_factory=dict)  # step -> state
    notes: dict[str, str] = field(default_factory=dict)  # step -> short note
    seconds_before: float = 0.0  # spent in earlier sessions
    seconds_now: float = 0.0  # spent in this one, finished steps
    running_since: float | None = None
    log: Path | None = None

    @property
    def state(self) -> str:
        values = list(self.states.values())
        if RUNNING in values:
            return RUNNING
        if FAILED in values:
            return FAILED
        if values and all(v in FINISHED for v in values):
            return DONE
        if SKIPPED in values:
            return SKIPPED
        return LEFT

    def spent(self, now: float) -> float:
        live = now - self.running_since if self.running_since is not None else 0.0
        return self.seconds_before + self.seconds_now + live


class View:
    def __init__(self, title: str, enabled: bool, console: Console | None = None) -> None:
        self.title = title
        self.enabled = enabled
        self.console = console or Console(stderr=False)
        self.rows: dict[str, Row] = {}
        self.started = time.monotonic()
        self._live: Live | None = None

    def add(self, name: str, target: str, first: str, seconds_before: float) -> None:
        self.rows[name] = Row(
            name, target, first, {first: LEFT, "evaluation": LEFT}, seconds_before=seconds_before
        )

    @contextmanager
    def shown(self) -> Iterator[View]:
        if self.enabled and self.console.is_terminal:
            with Live(
                get_renderable=self.render, console=self.console, refresh_per_second=2
            ) as live:
                self._live = live
                try:
                    yield self
                finally:
                    self._live = None
        else:
            yield self

    def start(self, name: str, step: str, note: str, log: Path | None) -> None:
        row = self.rows[name]
        row.states[step] = RUNNING
        row.notes[step] = note
        row.running_since = time.monotonic()
        row.log = log
        self._line(f"{name} {step}: running ({note})")

    def finish(self, name: str, step: str, state: str, note: str = "") -> None:
        row = self.rows[name]
        took = ""
        if row.running_since is not None:
            step_s = time.monotonic() - row.running_since
            row.seconds_now += step_s
            took = f" in {clock(step_s)}"
        row.running_since = None
        row.states[step] = state
        row.notes[step] = note
        self._line(f"{name} {step}: {state}{took}" + (f" ({note})" if note else ""))

    def _line(self, text: str) -> None:
        if self.enabled and self._live is None:
            stamp = datetime.now().strftime("%H:%M:%S")
            self.console.print(f"[{stamp}] {text}", highlight=False, soft_wrap=True)

    def counts(self) -> dict[str, int]:
        out = {DONE: 0, RUNNING: 0, LEFT: 0, FAILED: 0, SKIPPED: 0}
        for row in self.rows.values():
            out[row.state] += 1
        return out

    def headline(self) -> str:
        now = time.monotonic()
        c = self.counts()
        total = sum(r.spent(now) for r in self.rows.values())
        extra = "".join(f", {c[k]} {k}" for k in (FAILED, SKIPPED) if c[k])
        return (
            f"{self.title}: {c[DONE]} done, {c[RUNNING]} running, {c[LEFT]} left{extra}"
            f" · {clock(now - self.started)} this session, {clock(total)} in all"
        )

    def render(self) -> Any:
        now = time.monotonic()
        table = Table(expand=False)
        for col in ("entry", "target", "study / run", "evaluation", "time", "now"):
            table.add_column(col, no_wrap=col != "now", overflow="ellipsis")
        for row in self.rows.values():
            cells: list[str | Text] = [row.name, row.target]
            for step in (row.first, "evaluation"):
                state = row.states.get(step, LEFT)
                note = row.notes.get(step, "")
                cells.append(
                    Text(state + (f" {note}" if note else ""), style=STYLES.get(state, ""))
                )
            cells.append(clock(row.spent(now)))
            cells.append(_last_line(row.log) if row.state == RUNNING else "")
            table.add_row(*cells)
        return Group(Text(self.headline(), style="bold"), table)


def _last_line(log: Path | None, width: int = 70) -> str:
    """The last non-empty line of a step's log (what its process says it is doing)."""
    if log is None or not log.is_file():
        return ""
    with open(log, "rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - 4096))
        tail = fh.read().decode(errors="replace")
    lines = [ln.strip() for ln in tail.replace("\r", "\n").splitlines() if ln.strip()]
    text = lines[-1] if lines else ""
    return text if len(text) <= width else text[: width - 1] + "…"
