"""leaderboard.json, leaderboard.md, leaderboard.html and equity_top.png of a campaign.

The tables are built here once (cells as text) and rendered by two Jinja2 templates
(``templates/leaderboard.md.j2``, ``leaderboard.html.j2``), so both show the same numbers; the
HTML embeds its figure and is one self-contained file. Every file is written atomically.
"""

from __future__ import annotations

import base64
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from evaluation.campaign.leaderboard import SERIES_FILE, links
from trainer.atomic import atomic_write, atomic_write_json

FIGURE = "equity_top.png"
TEMPLATES = Path(__file__).with_name("templates")


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def pct(v: Any) -> str:
    return f"{100 * v:+.1f}%" if _num(v) else "n/a"


def ratio(v: Any) -> str:
    return f"{v:.3f}" if _num(v) else "n/a"


def count(v: Any) -> str:
    return f"{int(v)}" if _num(v) else "n/a"


def bps(v: Any) -> str:
    return f"{v:.1f}" if _num(v) else "n/a"


def seconds(v: Any) -> str:
    if not _num(v):
        return "n/a"
    s = round(v)
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def yes_no(v: Any) -> str:
    return "n/a" if v is None else ("yes" if v else "no")


Column = tuple[str, Callable[[Mapping[str, Any]], str]]

MAIN: list[Column] = [
    ("#", lambda r: count(r.get("rank"))),
    ("entry", lambda r: str(r["name"])),
    ("kind", lambda r: str(r["kind"])),
    ("target", lambda r: str(r.get("target") or "")),
    ("objective", lambda r: ratio(r.get("objective"))),
    ("AUC", lambda r: ratio(r.get("auc"))),
    ("hit rate", lambda r: ratio(r.get("hit_rate"))),
    ("round trips", lambda r: count(r.get("n_trades"))),
    ("gross", lambda r: pct(r.get("gross_return"))),
    ("net", lambda r: pct(r.get("net_return"))),
    ("break-even bps", lambda r: bps(r.get("break_even_bps"))),
    ("max DD", lambda r: pct(r.get("max_drawdown"))),
    ("Sharpe", lambda r: ratio(r.get("sharpe"))),
    (
        "guardrails",
        lambda r: "" if r.get("passed") is None else ("pass" if r["passed"] else "FAIL"),
    ),
    ("promoted", lambda r: yes_no(r.get("promoted"))),
]


def _spread(r: Mapping[str, Any]) -> str:
    s = r.get("seed_spread")
    if not s:
        return "n/a"
    return f"{s['std']:.3f} [{s['min']:.3f}, {s['max']:.3f}] n={s['n']}"


def _guard(r: Mapping[str, Any], name: str) -> str:
    for g in r.get("guardrails", []):
        if g.get("name") == name:
            value, margin = g.get("value"), g.get("margin")
            mark = "pass" if g.get("passed") else "FAIL"
            if not _num(value):
                return f"n/a {mark}"
            shown = count(value) if isinstance(value, int) else ratio(value)
            margin_text = (
                f"{margin:+d}"
                if isinstance(margin, int)
                else (f"{margin:+.3f}" if _num(margin) else "n/a")
            )
            return f"{shown} ({margin_text}) {mark}"
    return ""


def _trials(r: Mapping[str, Any]) -> str:
    s = r.get("study")
    if not s:
        return "n/a"
    return f"{s.get('complete')} / {s.get('pruned')} / {s.get('failed')} of {s.get('budget')}"


def _device(r: Mapping[str, Any]) -> str:
    text = f"{r.get('hardware') or '?'} ({r.get('device') or '?'})"
    if r.get("settings"):
        text += f", CPU-sweep: {' '.join(r['settings'])}"
    if r.get("overrides"):
        text += f", entry: {' '.join(r['overrides'])}"
    return text


def _campaign_time(r: Mapping[str, Any]) -> str:
    spent = r.get("campaign_s") or {}
    first = spent.get("studies", spent.get("runs"))
    return f"{seconds(first)} + {seconds(spent.get('evaluations'))}" if spent else "n/a"


def robustness_columns(rows: Sequence[Mapping[str, Any]]) -> list[Column]:
    names: list[str] = []
    for r in rows:
        for g in r.get("guardrails", []):
            if g.get("name") not in names:
                names.append(str(g.get("name")))
    cols: list[Column] = [
        ("entry", lambda r: str(r["name"])),
        ("seed spread: std [min, max]", _spread),
        ("deflated Sharpe", lambda r: ratio(r.get("deflated_sharpe"))),
        ("PBO", lambda r: ratio(r.get("pbo"))),
    ]
    cols += [(f"{n} (margin)", lambda r, n=n: _guard(r, n)) for n in names]  # type: ignore[misc]
    return cols


COST: list[Column] = [
    ("entry", lambda r: str(r["name"])),
    ("trials complete / pruned / failed", _trials),
    ("trials' wall time", lambda r: seconds((r.get("study") or {}).get("wall_time_s"))),
    ("campaign time: study or run + evaluation", _campaign_time),
    ("hardware (device)", _device),
]


def table(columns: Sequence[Column], rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"head": [c[0] for c in columns], "rows": [[f(r) for _, f in columns] for r in rows]}


def context(data: Mapping[str, Any], board_dir: Path) -> dict[str, Any]:
    """What the templates render: the tables as text cells, links relative to the board."""
    rows = data["rows"]
    ranked = [r for r in rows if r["kind"] != "market"]
    files = []
    for r in ranked:
        found = links(r, board_dir)
        if found:
            files.append({"name": r["name"], "links": found})
    main = MAIN
    if any("net_vs_baseline" in r for r in rows):
        at = [c[0] for c in MAIN].index("net") + 1
        main = [*MAIN[:at], ("net - baseline", lambda r: pct(r.get("net_vs_baseline"))), *MAIN[at:]]
    return {
        "data": data,
        "main": table(main, rows),
        "robustness": table(robustness_columns(ranked), ranked),
        "cost": table(COST, [r for r in ranked if r["kind"] in ("study", "ensemble")]),
        "files": files,
        "figure": FIGURE if data.get("equity_curves") else None,
        "pct": pct,
        "ratio": ratio,
        "seconds": seconds,
    }


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html.j2"]),  # the md stays unescaped
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["md"] = lambda text: str(text).replace("|", "\\|")
    return env


def equity_figure(data: Mapping[str, Any], path: Path) -> bool:
    """Equity curves (net) of the top rows, buy-and-hold and the baseline on the same hours."""
    import pandas as pd

    by_name = {r["name"]: r for r in data["rows"]}
    names = list(data.get("equity_curves", []))
    names += [r["name"] for r in data["rows"] if r["kind"] in ("baseline", "market")]
    curves = []
    for name in dict.fromkeys(names):
        row = by_name.get(name)
        if row is None or not row.get("report"):
            continue
        column = f"net_{row['strategy']}"
        frame = pd.read_parquet(Path(row["report"]) / SERIES_FILE, columns=["timestamp", column])
        equity = (1.0 + frame[column].to_numpy(dtype="float64")).cumprod()
        curves.append((name, row["kind"], frame["timestamp"].to_numpy(), equity))
    if not curves:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5))
    for name, kind, ts, equity in curves:
        style = {"market": ("k", "--"), "baseline": ("0.45", ":")}.get(kind, (None, "-"))
        ax.plot(ts, equity, label=name, color=style[0], linestyle=style[1], linewidth=1.2)
    ax.set_yscale("log")
    ax.set_ylabel("equity (net of costs, log scale)")
    ax.set_title(f"{data['name']}: top {len(data.get('equity_curves', []))} by {data['sort_by']}")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return True


def figure_inputs(data: Mapping[str, Any]) -> list[list[Any]]:
    """What the figure is drawn from: each curve's row, report and the report's creation."""
    shown = set(data.get("equity_curves", []))
    return [
        [r["name"], r["kind"], r.get("report"), r.get("created"), r.get("strategy")]
        for r in data["rows"]
        if r["name"] in shown or r["kind"] in ("baseline", "market")
    ]


def _same_figure(data: Mapping[str, Any], board_dir: Path) -> bool:
    """The figure on disk was drawn from these inputs (a resumed campaign redraws nothing)."""
    import json

    try:
        old = json.loads((board_dir / "leaderboard.json").read_text())
    except (OSError, ValueError):
        return False
    return (board_dir / FIGURE).is_file() and old.get("figure_inputs") == figure_inputs(data)


def write(data: dict[str, Any], board_dir: Path) -> None:
    board_dir.mkdir(parents=True, exist_ok=True)
    has_figure = _same_figure(data, board_dir) or equity_figure(data, board_dir / FIGURE)
    data = {**data, "figures": [FIGURE] if has_figure else [], "figure_inputs": figure_inputs(data)}
    env = _environment()
    ctx = context(data, board_dir)
    if not has_figure:
        ctx["figure"] = None
    atomic_write_json(board_dir / "leaderboard.json", data)
    atomic_write(board_dir / "leaderboard.md", env.get_template("leaderboard.md.j2").render(ctx))
    image = None
    if has_figure:
        image = base64.b64encode((board_dir / FIGURE).read_bytes()).decode()
    html = env.get_template("leaderboard.html.j2").render({**ctx, "image": image})
    atomic_write(board_dir / "leaderboard.html", html)
