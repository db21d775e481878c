"""The report of an evaluation: evaluation.json, report.md, report.html, PNGs and series.parquet.

Called by ``python -m evaluation`` after ``evaluate``. The report is built in a sibling
temporary directory and swapped into ``artifacts/reports/<name>/`` at the end, so a reader
never finds half a report. report.md and report.html render the same blocks; the HTML embeds
its figures (base64), so it is one self-contained file.
"""

from __future__ import annotations

import base64
import html
import json
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import markupsafe
import numpy as np

from evaluation import figures
from evaluation.evaluate import Evaluation, hit_rate_z
from evaluation.strategies import SERIES_FILE
from trainer.config import to_dict
from trainer.trading import break_even_bps

FIGURES = {
    "equity": "equity_drawdown.png",
    "folds": "folds.png",
    "stress": "stress.png",
}


@dataclass(frozen=True)
class Block:
    kind: str  # heading | text | table | image
    text: str = ""
    rows: tuple[tuple[str, ...], ...] = ()  # table: header first
    level: int = 2


def to_json(ev: Evaluation, promoted_to: Path | None) -> dict[str, Any]:
    target = ev.target_summary
    return {
        "name": ev.name,
        "mode": ev.mode,
        "created": ev.created,
        "source": {
            "path": str(ev.source.path.resolve()),
            "kind": ev.source.kind,
            "study_dir": str(ev.source.study_dir) if ev.source.study_dir else None,
            "target": ev.source.target,
            "model": ev.source.config.model.name,
            "overrides": ev.source.overrides,
            "run_metrics": ev.source.metrics,
        },
        "walk_forward": {
            "start": ev.period.start,
            "end": ev.period.end,
            "inferred": ev.period.inferred,
            "n_folds": len(ev.folds),
            "embargo_hours": ev.embargo_hours,
            "n_hours": int(ev.oos.timestamps.shape[0]),
            "folds": [_fold_json(f) for f in ev.folds],
        },
        "costs": ev.costs,
        "strategy": to_dict(ev.source.config.strategy),
        "baseline": ev.positions.baseline_label,
        "backtests": _backtests_json(ev),
        "target_strategy": ev.target_strategy,
        "signal_check": {
            "hit_rate": target["hit_rate"],
            "n_held_periods": target["n_held_periods"],
            "z_vs_coin": hit_rate_z(float(target["hit_rate"]), int(target["n_held_periods"])),
        },
        "guardrails": {
            s: {"passed": all(g.passed for g in gs), "checks": [g.to_json() for g in gs]}
            for s, gs in ev.guardrails.items()
        },
        "promotion": {
            "passed": ev.passed,
            "promoted": promoted_to is not None,
            "path": str(promoted_to) if promoted_to else None,
            "blocked_by": ev.promotable if ev.passed else None,
            "failed": [g.name for g in ev.guardrails[ev.target_strategy] if not g.passed],
        },
        "stress": [s.to_json() for s in ev.stress],
        "overfitting": ev.overfitting.to_json(),
        "reproducibility": ev.reproducibility,
        "seconds": ev.seconds,
        "figures": sorted(FIGURES.values()),
        "members": ev.members,
    }


def _backtests_json(ev: Evaluation) -> dict[str, dict[str, Any]]:
    """Every backtest's summary, with the cost per unit traded at which it would match
    buy-and-hold (which pays that cost on its one unit, once)."""
    market = float(np.sum(np.log1p(ev.backtests["buy_and_hold"].gross)))
    out = {}
    for name, bt in ev.backtests.items():
        vs_market = None
        if name != "buy_and_hold":
            vs_market = break_even_bps(bt.gross, bt.traded, market, 1.0)
        out[name] = {**bt.summary(), "break_even_vs_buy_and_hold_bps": vs_market}
    return out


def _fold_json(fold: dict[str, Any]) -> dict[str, Any]:
    first = next(iter(fold.values()))
    return {
        "name": first.fold.name,
        "models": {
            h: {
                "threshold": r.threshold,
                "rule": r.rule.to_json(),
                "seconds": r.seconds,
                "test": {
                    k: r.metrics[k]
                    for k in (
                        "objective",
                        "hit_rate",
                        "n_trades",
                        "gross_return",
                        "cost_return",
                        "cum_return",
                        "break_even_bps",
                        "max_drawdown",
                        "auc",
                    )
                    if k in r.metrics
                },
            }
            for h, r in fold.items()
        },
    }


def blocks(data: dict[str, Any]) -> list[Block]:
    """The report's content, independent of the format it is rendered to."""
    promo = data["promotion"]
    if data.get("mode") == "forward":
        failed = ", ".join(promo["failed"])
        verdict = (
            "**FORWARD TEST passed** every guardrail (the saved model, no retraining)"
            if promo["passed"]
            else f"**FORWARD TEST FAILED**: {failed} (the saved model, no retraining)"
        )
    elif promo["promoted"]:
        verdict = f"**PROMOTED** to `{promo['path']}`"
    elif promo["passed"]:
        verdict = f"**Passed every guardrail, not promoted**: {promo['blocked_by']}"
    else:
        verdict = f"**NOT PROMOTED**: failed {', '.join(promo['failed'])}"
    wf = data["walk_forward"]
    src = data["source"]
    out = [
        Block("heading", f"Evaluation {data['name']}", level=1),
        Block("text", verdict),
        Block(
            "text",
            f"Run `{src['path']}` ({src['kind']}, {src['model']}, target {src['target']})"
            + (f", overrides `{' '.join(src['overrides'])}`" if src["overrides"] else "")
            + f". Walk-forward {wf['start']} to {wf['end']}"
            + (" (inferred from the data)" if wf["inferred"] else "")
            + f": {wf['n_folds']} folds, {wf['n_hours']} out-of-sample hours, embargo"
            f" {wf['embargo_hours']}h. Costs {data['costs']['cost_bps']:g} bps per unit traded"
            f" (fee {data['costs']['fee_bps']:g} + slippage {data['costs']['slippage_bps']:g}).",
        ),
        Block("heading", "Guardrails"),
        Block("table", rows=_guardrail_rows(data)),
        Block("heading", "Backtests (stitched out-of-sample): the money, gross and net"),
        Block(
            "text",
            f"Decision rule: {_rule_text(data)}. Baseline: {data['baseline']}. Strategy 4h is"
            " the same model config retrained with target.horizon=4h; 1h+4h trades the 1h"
            " signal only when the held 4h position agrees. Gross is before costs, net after;"
            " costs = gross - net. Break-even: the cost per unit traded at which the net"
            " return would be zero (vs B&H: would equal buy-and-hold's).",
        ),
        Block("table", rows=_money_rows(data)),
        Block(
            "text",
            "Trades are round trips (an entry and its exit; a flip is one of each). Hit rate:"
            " held decision periods whose direction was right; win rate: round trips that made"
            " money net; exposure: share of hours in a position; turnover: units traded a year.",
        ),
        Block("table", rows=_backtest_rows(data)),
        Block("image", FIGURES["equity"]),
    ]
    if data.get("members"):
        out += [
            Block("heading", "Ensemble beside its members (target strategy, out-of-sample)"),
            Block("table", rows=_member_rows(data)),
        ]
    out += [
        Block("heading", "Walk-forward folds"),
        Block("table", rows=_fold_rows(data)),
        Block("image", FIGURES["folds"]),
        Block("heading", "Stress windows"),
        Block("table", rows=_stress_rows(data)),
    ]
    if any(not s["skipped"] for s in data["stress"]):
        out.append(Block("image", FIGURES["stress"]))
    out += [Block("heading", "Overfitting"), Block("text", _overfitting_text(data["overfitting"]))]
    repro = data["reproducibility"]
    out += [
        Block("heading", "Reproducibility"),
        Block(
            "table",
            rows=(
                ("item", "value"),
                ("data sha256", repro["data_sha256"]),
                (
                    "data as trained",
                    "same"
                    if repro["data_matches_run"]
                    else f"differs (run: {repro['run_data_sha256']})",
                ),
                ("config sha256", repro["config_sha256"]),
                ("git revision", str(repro["git_revision"])),
                ("seeds", json.dumps(repro["seeds"])),
                ("versions", ", ".join(f"{k} {v}" for k, v in repro["versions"].items())),
                ("determinism", json.dumps(repro["determinism"])),
            ),
        ),
        Block("text", f"Re-train and compare: `python -m evaluation verify={src['path']}`"),
    ]
    return out


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def _guardrail_rows(data: dict[str, Any]) -> tuple[tuple[str, ...], ...]:
    rows: list[tuple[str, ...]] = [
        ("strategy", "guardrail", "value", "rule", "limit", "margin", "result")
    ]
    for strategy, g in data["guardrails"].items():
        mark = " (target)" if strategy == data["target_strategy"] else ""
        for c in g["checks"]:
            rows.append(
                (
                    strategy + mark,
                    c["name"],
                    _fmt(c["value"]),
                    c["rule"],
                    _fmt(c["limit"]),
                    _fmt(c["margin"]),
                    "pass" if c["passed"] else "FAIL",
                )
            )
    return tuple(rows)


MONEY = (
    ("gross return", "gross_return"),
    ("costs", "cost_return"),
    ("net return", "total_return"),
    ("break-even bps", "break_even_bps"),
    ("break-even vs B&H bps", "break_even_vs_buy_and_hold_bps"),
    ("max drawdown", "max_drawdown"),
    ("net Sharpe", "sharpe"),
)
TRADING = (
    ("trades", "n_trades"),
    ("win rate", "win_rate"),
    ("hit rate", "hit_rate"),
    ("exposure", "exposure"),
    ("position changes", "n_position_changes"),
    ("turnover / year", "turnover_per_year"),
    ("mean hold h", "avg_hold_hours"),
)


def _money_rows(data: dict[str, Any]) -> tuple[tuple[str, ...], ...]:
    rows: list[tuple[str, ...]] = [("strategy", *(label for label, _ in MONEY))]
    for name, s in data["backtests"].items():
        rows.append((name, *(_fmt(s.get(k)) for _, k in MONEY)))
    return tuple(rows)


def _backtest_rows(data: dict[str, Any]) -> tuple[tuple[str, ...], ...]:
    rows: list[tuple[str, ...]] = [("strategy", *(label for label, _ in TRADING))]
    for name, s in data["backtests"].items():
        rows.append((name, *(_fmt(s.get(k)) for _, k in TRADING)))
    return tuple(rows)


def _rule_text(data: dict[str, Any]) -> str:
    """The strategy group of the evaluated config, as a reader would write it."""
    strategy = data.get("strategy") or {}
    if not strategy:
        return "threshold"
    parts = [f"`strategy={strategy['name']}`"]
    if strategy["min_hold_hours"] > 1:
        parts.append(f"min hold {strategy['min_hold_hours']}h")
    if strategy["name"] == "hysteresis":
        band = strategy["band"]
        parts.append("band calibrated on valid" if band is None else f"band {band:g}")
    if strategy["name"] == "vol_target":
        parts.append(
            f"target vol {strategy['target_vol']:g}, max leverage {strategy['max_leverage']:g}"
        )
    parts.append("long/short" if data["costs"]["allow_short"] else "long-only")
    return ", ".join(parts)


def _member_rows(data: dict[str, Any]) -> tuple[tuple[str, ...], ...]:
    keys = (
        "f1_up",
        "up_recall",
        "hit_rate",
        "n_trades",
        "gross_return",
        "cost_return",
        "net_return",
        "break_even_bps",
        "max_drawdown",
    )
    rows: list[tuple[str, ...]] = [("model", *keys)]
    for m in data["members"]:
        rows.append((m["model"], *(_fmt(m[k]) for k in keys)))
    return tuple(rows)


def _fold_rows(data: dict[str, Any]) -> tuple[tuple[str, ...], ...]:
    horizons = (
        list(data["walk_forward"]["folds"][0]["models"]) if data["walk_forward"]["folds"] else []
    )
    head = ["fold"]
    for h in horizons:
        head += [
            f"{h} objective",
            f"{h} hit rate",
            f"{h} trades",
            f"{h} gross",
            f"{h} net",
            f"{h} threshold",
        ]
    rows: list[tuple[str, ...]] = [tuple(head)]
    for f in data["walk_forward"]["folds"]:
        row = [f["name"]]
        for h in horizons:
            m = f["models"][h]
            row += [
                _fmt(m["test"].get("objective")),
                _fmt(m["test"].get("hit_rate")),
                _fmt(m["test"].get("n_trades")),
                _fmt(m["test"].get("gross_return")),
                _fmt(m["test"].get("cum_return")),
                _fmt(m["threshold"]),
            ]
        rows.append(tuple(row))
    return tuple(rows)


def _stress_rows(data: dict[str, Any]) -> tuple[tuple[str, ...], ...]:
    rows: list[tuple[str, ...]] = [
        (
            "window",
            "dates",
            "gross",
            "net",
            "B&H return",
            "max drawdown",
            "B&H drawdown",
            "hit rate",
            "trades",
            "trained until",
        )
    ]
    for s in data["stress"]:
        dates = f"{s['start']} to {s['end']}"
        if s["skipped"]:
            rows.append((s["name"], dates, f"skipped: {s['skipped']}", *[""] * 7))
            continue
        st, bh = s["strategy"], s["buy_and_hold"]
        rows.append(
            (
                s["name"],
                dates,
                _fmt(st["gross_return"]),
                _fmt(st["total_return"]),
                _fmt(bh["total_return"]),
                _fmt(st["max_drawdown"]),
                _fmt(bh["max_drawdown"]),
                _fmt(st["hit_rate"]),
                _fmt(st["n_trades"]),
                s["train_end"],
            )
        )
    return tuple(rows)


def _overfitting_text(o: dict[str, Any]) -> str:
    if not o["available"]:
        return f"Deflated Sharpe ratio: n/a. PBO: n/a ({o['reason']})."
    d, p = o["deflated_sharpe"], o["pbo"]
    text = (
        f"Study `{o['study']}`: {o['n_trials_tried']} trials tried, {o['n_trials_used']} replayed"
        f" on their valid+test hours. Deflated Sharpe ratio {d['value']:.3f} (chosen trial"
        f" {d['chosen_trial']}: Sharpe {d['sharpe_per_hour']:.4f}/h against"
        f" {d['expected_max_sharpe']:.4f}/h expected from the best of {d['n_trials']} by luck)."
    )
    if p:
        text += f" PBO {p['value']:.3f} over {p['n_splits']} CSCV splits of {p['n_blocks']} blocks."
    else:
        text += " PBO: n/a (too few hours for the CSCV blocks)."
    return text


def _templates() -> Any:
    """The Jinja2 environment of evaluation/templates (HTML escaped, Markdown as is)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("evaluation", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",)),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["md_cell"] = lambda c: str(c).replace("|", "\\|")
    env.filters["inline"] = lambda text: markupsafe.Markup(_inline(str(text)))
    return env


def render_markdown(content: list[Block]) -> str:
    rendered: str = _templates().get_template("report.md.j2").render(blocks=content)
    return rendered


def render_html(content: list[Block], images: dict[str, bytes], title: str) -> str:
    encoded = {name: base64.b64encode(data).decode() for name, data in images.items()}
    template = _templates().get_template("report.html.j2")
    rendered: str = template.render(blocks=content, images=encoded, title=title)
    return rendered


def _inline(text: str) -> str:
    """**bold** and `code` of the markdown blocks, escaped."""
    out, bold, code = [], False, False
    i = 0
    escaped = html.escape(text)
    while i < len(escaped):
        if escaped.startswith("**", i) and not code:
            out.append("</b>" if bold else "<b>")
            bold, i = not bold, i + 2
        elif escaped[i] == "`":
            out.append("</code>" if code else "<code>")
            code, i = not code, i + 1
        else:
            out.append(escaped[i])
            i += 1
    return "".join(out)


def write_figures(ev: Evaluation, directory: Path) -> None:
    fold_starts = np.array(
        [ev.oos.timestamps[ev.oos.fold_index == i][0] for i in range(len(ev.folds))]
    )
    figures.equity_and_drawdown(
        ev.oos.timestamps,
        ev.backtests,
        fold_starts,
        directory / FIGURES["equity"],
        target=ev.target_strategy,
    )
    target = ev.backtests[ev.target_strategy]
    bh = ev.backtests["buy_and_hold"]
    names, strat, market = [], [], []
    for i, fold in enumerate(ev.folds):
        rows = ev.oos.fold_index == i
        names.append(next(iter(fold.values())).fold.name)
        strat.append(float(np.prod(1.0 + target.net[rows]) - 1.0))
        market.append(float(np.prod(1.0 + bh.net[rows]) - 1.0))
    figures.folds(names, strat, market, ev.target_strategy, directory / FIGURES["folds"])
    done = [
        (s.name, s.timestamps, s.equity, s.buy_and_hold_equity)
        for s in ev.stress
        if s.timestamps is not None and s.equity is not None and s.buy_and_hold_equity is not None
    ]
    if done:
        figures.stress(done, ev.target_strategy, directory / FIGURES["stress"])


def write_series(ev: Evaluation, path: Path) -> None:
    """The out-of-sample hourly series: scores, thresholds, positions, gross and net returns."""
    import pandas as pd

    cols: dict[str, Any] = {
        "timestamp": ev.oos.timestamps,
        "fold": ev.oos.fold_index,
        "log_ret_1h": ev.oos.log_ret,
        "target_position": ev.positions.by_name[ev.target_strategy],
    }
    for h, scores in ev.oos.scores.items():
        cols[f"score_{h}"] = scores
        cols[f"threshold_{h}"] = ev.oos.thresholds[h]
    for name, bt in ev.backtests.items():
        cols[f"position_{name}"] = ev.positions.by_name[name]
        cols[f"gross_{name}"] = bt.gross
        cols[f"net_{name}"] = bt.net
    pd.DataFrame(cols).to_parquet(path, index=False)


def write(ev: Evaluation, promoted_to: Path | None) -> dict[str, Any]:
    """Write the whole report directory atomically; returns evaluation.json's content."""
    data = to_json(ev, promoted_to)
    final = ev.report_dir
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=f".{final.name}.") as tmp:
        stage = Path(tmp) / "report"
        stage.mkdir()
        write_figures(ev, stage)
        write_series(ev, stage / SERIES_FILE)
        content = blocks(data)
        (stage / "evaluation.json").write_text(
            json.dumps(data, indent=2, default=_json_default) + "\n"
        )
        (stage / "report.md").write_text(render_markdown(content))
        images = {p.name: p.read_bytes() for p in stage.glob("*.png")}
        (stage / "report.html").write_text(render_html(content, images, f"Evaluation {ev.name}"))
        old = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:8]}"
        if final.exists():
            final.rename(old)
        stage.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    return data


def _json_default(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, Path):
        return str(v)
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")
