"""Leaderboard rows from evaluation reports, their order, and the checks that make rows comparable.

Used by ``python -m evaluation.campaign`` (a campaign's entries) and by its ``compare=[...]``
mode (reports already on disk). Pure functions over the JSON of ``evaluation.json``, a study's
``summary.json`` and a run's ``metadata.json``; ``load_report`` is the only one that reads files.
Metrics are read by key, so keys a newer evaluation adds (gross return, break-even cost, ...)
show up as soon as a report has them and read as n/a in older reports.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainer.errors import UserError

EVALUATION_FILE = "evaluation.json"
SERIES_FILE = "series.parquet"

# Leaderboard metric -> the backtest summary keys it is read from, first present wins (older
# reports call net return "total_return").
BACKTEST_KEYS: dict[str, tuple[str, ...]] = {
    "hit_rate": ("hit_rate",),
    "n_trades": ("n_trades",),
    "gross_return": ("gross_return",),
    "cost_return": ("cost_return",),
    "net_return": ("cum_return", "net_return", "total_return"),
    "break_even_bps": ("break_even_bps",),
    "break_even_vs_buy_and_hold_bps": ("break_even_vs_buy_and_hold_bps",),
    "max_drawdown": ("max_drawdown",),
    "sharpe": ("sharpe",),
    "win_rate": ("win_rate",),
    "exposure": ("exposure",),
    "turnover_per_year": ("turnover_per_year",),
    "avg_hold_hours": ("avg_hold_hours",),
}
STUDY_LINKS = ("summary.md", "importances.png", "importances.json", "thresholds.json")
REPORT_LINKS = ("report.md", "report.html")


@dataclass(frozen=True)
class Report:
    """One evaluation report as the leaderboard needs it."""

    path: Path
    data: dict[str, Any]  # evaluation.json
    hours_sha256: str  # sha256 of the out-of-sample timestamps (series.parquet)
    study: dict[str, Any] | None = None  # the study's summary.json, when a study's best
    study_dir: Path | None = None
    metadata: dict[str, Any] = field(default_factory=dict)  # the evaluated run's metadata.json


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: missing ({what})") from None
    except ValueError:
        raise UserError(f"{path}: not valid JSON (truncated or tampered)") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object")
    return data


def check_report_dir(path: Path, key: str) -> None:
    """A report directory written by ``python -m evaluation``, or a UserError naming ``key``."""
    if not path.is_dir():
        raise UserError(
            f"{key}={path}: no such report directory (artifacts/reports/<name>, written by"
            " python -m evaluation)"
        )
    missing = [f for f in (EVALUATION_FILE, SERIES_FILE) if not (path / f).is_file()]
    if missing:
        raise UserError(
            f"{key}={path}: not an evaluation report ({', '.join(missing)} missing); name a"
            " directory written by python -m evaluation"
        )
    data = _read_json(path / EVALUATION_FILE, "evaluation report")
    for needed in ("walk_forward", "costs", "backtests", "target_strategy"):
        if needed not in data:
            raise UserError(f"{key}={path}: {EVALUATION_FILE} has no '{needed}' (tampered?)")


def hours_sha256(series: Path) -> str:
    import pyarrow.parquet as pq

    stamps = pq.read_table(series, columns=["timestamp"]).column(0).to_numpy()
    return hashlib.sha256(stamps.astype("datetime64[ns]").astype("int64").tobytes()).hexdigest()


def load_report(path: Path, key: str = "compare") -> Report:
    check_report_dir(path, key)
    data = _read_json(path / EVALUATION_FILE, "evaluation report")
    source = data.get("source") or {}
    study_dir = Path(source["study_dir"]) if source.get("study_dir") else None
    study = None
    if study_dir is not None and (study_dir / "summary.json").is_file():
        study = _read_json(study_dir / "summary.json", "study summary")
    metadata: dict[str, Any] = {}
    run = Path(str(source.get("path", "")))
    for candidate in (run, study_dir / "best" if study_dir else None):
        if candidate is not None and (candidate / "metadata.json").is_file():
            metadata = _read_json(candidate / "metadata.json", "run metadata")
            break
    return Report(path, data, hours_sha256(path / SERIES_FILE), study, study_dir, metadata)


def _pick(summary: Mapping[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        node: Any = summary
        for part in key.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        if node is not None:
            return node
    return None


def _mean(values: Sequence[Any]) -> float | None:
    ok = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]
    return sum(ok) / len(ok) if ok else None


def fold_mean(data: Mapping[str, Any], horizon: str, metric: str) -> float | None:
    """Mean of a test metric over the walk-forward folds of one horizon's model."""
    folds = data.get("walk_forward", {}).get("folds", [])
    return _mean(
        [f["models"][horizon]["test"].get(metric) for f in folds if horizon in f["models"]]
    )


def backtest_metrics(summary: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _pick(summary, keys) for name, keys in BACKTEST_KEYS.items()}


def seed_spread(study: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The study's best params re-run with other seeds (sweeper's summary.json)."""
    rep = (study or {}).get("reproducibility")
    if not rep or rep.get("mean") is None:
        return None
    return {k: rep.get(k) for k in ("seeds", "objectives", "n", "mean", "std", "min", "max")}


def study_cost(study: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not study:
        return None
    counts = study.get("counts", {})
    return {
        "name": study.get("study"),
        "budget": study.get("budget"),
        "complete": counts.get("complete"),
        "pruned": counts.get("pruned"),
        "failed": counts.get("failed"),
        "wall_time_s": (study.get("wall_time_s") or {}).get("study"),
        "best_trial": (study.get("best") or {}).get("trial"),
        "best_objective": (study.get("best") or {}).get("objective"),
    }


def report_row(
    report: Report, name: str, kind: str, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """One leaderboard row: the report's own (target) strategy on the walk-forward hours."""
    data = report.data
    strategy = str(data["target_strategy"])
    summary = data["backtests"][strategy]
    guard = data.get("guardrails", {}).get(strategy, {})
    promo = data.get("promotion", {})
    over = data.get("overfitting") or {}
    source = data.get("source") or {}
    row: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "model": source.get("model"),
        "target": source.get("target"),
        "strategy": strategy,
        "objective": fold_mean(data, strategy, "objective"),
        "auc": fold_mean(data, strategy, "auc"),
        **backtest_metrics(summary),
        "guardrails": list(guard.get("checks", [])),
        "passed": bool(promo.get("passed", guard.get("passed", False))),
        "promoted": bool(promo.get("promoted", False)),
        "promotion_note": promo.get("blocked_by") or promo.get("path"),
        "deflated_sharpe": ((over.get("deflated_sharpe") or {}).get("value")),
        "pbo": ((over.get("pbo") or {}).get("value")),
        "overfitting_note": None if over.get("available") else over.get("reason"),
        "seed_spread": seed_spread(report.study),
        "study": study_cost(report.study),
        "study_dir": str(report.study_dir) if report.study_dir else None,
        "device": report.metadata.get("device"),
        "hardware": _hardware(data),
        "evaluation_s": (data.get("seconds") or {}).get("total"),
        "report": str(report.path),
        "report_name": data.get("name"),
        "created": data.get("created"),
        "data_sha256": (data.get("reproducibility") or {}).get("data_sha256"),
    }
    row.update(extra or {})
    return row


def _hardware(data: Mapping[str, Any]) -> str | None:
    config = (data.get("reproducibility") or {}).get("config") or {}
    hw = config.get("hardware") if isinstance(config, Mapping) else None
    return hw.get("name") if isinstance(hw, Mapping) else None


def market_row(report: Report) -> dict[str, Any]:
    """Buy-and-hold on the same hours (every report carries it)."""
    summary = report.data["backtests"]["buy_and_hold"]
    return {
        "name": "buy_and_hold",
        "kind": "market",
        "model": None,
        "target": None,
        "strategy": "buy_and_hold",
        "objective": None,
        "auc": None,
        **backtest_metrics(summary),
        "guardrails": [],
        "passed": None,
        "promoted": None,
        "report": str(report.path),
    }


def sort_rows(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Best first by ``key`` (higher is better); rows without a value last, in their order."""

    def order(row: dict[str, Any]) -> tuple[int, float]:
        value = row.get(key)
        if isinstance(value, int | float) and math.isfinite(value):
            return (0, -float(value))
        return (1, 0.0)

    return sorted(rows, key=order)


@dataclass(frozen=True)
class Hours:
    start: str
    end: str
    n_folds: int
    n_hours: int
    sha256: str

    def describe(self) -> str:
        return f"{self.start} to {self.end}, {self.n_folds} folds, {self.n_hours} hours"


def hours_of(report: Report) -> Hours:
    wf = report.data["walk_forward"]
    return Hours(
        str(wf.get("start")),
        str(wf.get("end")),
        int(wf.get("n_folds", 0)),
        int(wf.get("n_hours", 0)),
        report.hours_sha256,
    )


def costs_of(report: Report) -> dict[str, Any]:
    c = report.data["costs"]
    return {k: c.get(k) for k in ("fee_bps", "slippage_bps", "allow_short")}


def _describe_costs(c: Mapping[str, Any]) -> str:
    side = "long/short" if c.get("allow_short") else "long only"
    return f"fee {c.get('fee_bps')} + slippage {c.get('slippage_bps')} bps, {side}"


def mismatches(reports: Sequence[Report]) -> list[str]:
    """Why some reports cannot share a leaderboard with the first: other walk-forward hours
    or other costs. Empty when every report matches."""
    if not reports:
        return []
    ref = reports[0]
    ref_hours, ref_costs = hours_of(ref), costs_of(ref)
    out: list[str] = []
    for rep in reports[1:]:
        hours, costs = hours_of(rep), costs_of(rep)
        if hours != ref_hours:
            what = hours.describe()
            if hours.describe() == ref_hours.describe():
                what += " but other hours (timestamps differ)"
            out.append(
                f"{rep.path}: walk-forward hours {what}; {ref.path} has {ref_hours.describe()}"
            )
        if costs != ref_costs:
            out.append(
                f"{rep.path}: costs {_describe_costs(costs)}; {ref.path} has"
                f" {_describe_costs(ref_costs)}"
            )
    return out


def require_comparable(reports: Sequence[Report], what: str) -> None:
    problems = mismatches(reports)
    if problems:
        raise UserError(
            f"{what}: reports not on the same walk-forward hours and costs, refused: "
            + "; ".join(problems)
        )


def links(row: Mapping[str, Any], board_dir: Path) -> dict[str, str]:
    """Relative links from the leaderboard to the row's study files and report."""
    import os

    out: dict[str, str] = {}
    study_dir = row.get("study_dir")
    if study_dir:
        for name in STUDY_LINKS:
            if (Path(study_dir) / name).is_file():
                out[name] = os.path.relpath(Path(study_dir) / name, board_dir)
    report = row.get("report")
    if report:
        for name in REPORT_LINKS:
            if (Path(report) / name).is_file():
                out[name] = os.path.relpath(Path(report) / name, board_dir)
    return out
