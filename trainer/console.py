"""What a run prints: the closing metrics table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

COLUMNS = (
    "objective",
    "skill",
    "f1_up",
    "baseline_f1_up",
    "up_recall",
    "precision_up",
    "hit_rate",
    "auc",
    "n_trades",
    "exposure",
    "win_rate",
    "turnover_per_year",
    "avg_hold_hours",
    "gross_return",
    "cost_return",
    "cum_return",
    "break_even_bps",
    "buy_and_hold_return",
    "max_drawdown",
    "sharpe",
    "rmse",
    "ic",
)


def print_metrics(metrics: dict[str, Any], run_dir: Path, console: Console | None = None) -> None:
    console = console or Console()
    rule = metrics.get("rule") or {"name": "threshold"}
    title = f"quantsweep run · {rule['name']} rule, threshold {metrics['threshold']:.4g}"
    if rule.get("lower") is not None and rule["lower"] != metrics["threshold"]:
        title += f", exit at {rule['lower']:.4g}"
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("valid", justify="right")
    table.add_column("test", justify="right")
    for key in COLUMNS:
        if key in metrics["valid"]:
            table.add_row(key, _fmt(metrics["valid"][key]), _fmt(metrics["test"][key]))
    console.print(table)
    console.print(f"run directory: {run_dir}")


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    return str(v) if isinstance(v, int) else f"{v:.4f}"


def progress_bar(enabled: bool, transient: bool, extra_field: str | None = None) -> Any:
    """quantsweep's one progress style (rich): description, bar, done/total, time elapsed and,
    where given, a task field (a study's best value). Silent when ``enabled`` is false.

    Used by the learners' fits (boosting rounds, epochs), the walk-forward's folds and the
    sweeper's trials (through the plugin's ``link`` module).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns: list[Any] = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    if extra_field is not None:
        columns.append(TextColumn(f"{{task.fields[{extra_field}]}}"))
    return Progress(*columns, transient=transient, disable=not enabled)


class ProgressBar:
    """One task of ``progress_bar`` over ``total`` steps; silent when disabled.

    Transient (gone when done) for a fit, whose closing table follows; kept for the folds of
    a walk-forward.
    """

    def __init__(self, total: int, description: str, enabled: bool, transient: bool = True):
        self._progress: Any = None
        if enabled:
            self._progress = progress_bar(True, transient)
            self._task = self._progress.add_task(description, total=total)

    def __enter__(self) -> ProgressBar:
        if self._progress is not None:
            self._progress.start()
        return self

    def advance(self, steps: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, steps)

    def describe(self, description: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=description)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
