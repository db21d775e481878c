"""At a sweep's end: summary.json/.md, importances.json/.png, thresholds.json, a rich table.

``build_summary`` and ``summary_markdown`` are pure (trials in, dicts and text out); the rest
writes files atomically into the study directory.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.table import Table

from hydra_plugins.quantsweep_sweeper._search_space import override_key
from hydra_plugins.quantsweep_sweeper.link import atomic_write, atomic_write_json

SURPLUS_ATTR = "surplus"  # user attr of a trial asked beyond the budget by a racing worker


def counts(trials: Sequence[FrozenTrial]) -> dict[str, int]:
    out = {"complete": 0, "pruned": 0, "failed": 0, "running": 0, "surplus": 0}
    for t in trials:
        if t.state == TrialState.COMPLETE:
            out["complete"] += 1
        elif t.state == TrialState.PRUNED:
            out["pruned"] += 1
        elif t.state == TrialState.FAIL:
            out["surplus" if t.user_attrs.get(SURPLUS_ATTR) else "failed"] += 1
        else:
            out["running"] += 1
    return out


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Mean, sample standard deviation and range of objectives (NaN for failed runs dropped)."""
    ok = [v for v in values if math.isfinite(v)]
    if not ok:
        return {"n": 0, "mean": None, "std": None, "min": None, "max": None}
    arr = np.asarray(ok, dtype=np.float64)
    return {
        "n": len(ok),
        "mean": float(arr.mean()),
        "std": float(arr.std(ddof=1)) if len(ok) > 1 else 0.0,
        "min": float(arr.min()),
        "max": float(arr.max()),
    }


def study_wall_time(trials: Sequence[FrozenTrial]) -> float:
    starts = [t.datetime_start for t in trials if t.datetime_start is not None]
    ends = [t.datetime_complete for t in trials if t.datetime_complete is not None]
    if not starts or not ends:
        return 0.0
    return (max(ends) - min(starts)).total_seconds()


def best_params(trial: FrozenTrial) -> dict[str, Any]:
    """A trial's params under their override keys (conditional names folded back)."""
    return {override_key(k): v for k, v in trial.params.items()}


def build_summary(
    study_name: str,
    storage: str,
    trials: Sequence[FrozenTrial],
    best: FrozenTrial | None,
    budget: int,
    session_wall_s: float,
    reproduce: dict[str, Any] | None,
    best_dir: Path,
) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "study": study_name,
        "storage": storage,
        "budget": budget,
        "counts": counts(trials),
        "wall_time_s": {"study": study_wall_time(trials), "this_session": session_wall_s},
        "best": None,
        "reproducibility": None,
    }
    if best is not None:
        summary["best"] = {
            "trial": best.number,
            "objective": best.value,
            "params": best_params(best),
            "seed": best.user_attrs.get("seed"),
            "metrics": best.user_attrs.get("metrics"),
            "run_dir": best.user_attrs.get("run_dir"),
            "best_dir": str(best_dir),
        }
    if reproduce is not None and best is not None and best.value is not None:
        seeds = [best.user_attrs.get("seed"), *reproduce["seeds"]]
        values = [float(best.value), *reproduce["objectives"]]
        summary["reproducibility"] = {
            "trial": reproduce["trial"],
            "seeds": seeds,
            "objectives": values,
            **spread(values),
        }
    return summary


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def summary_markdown(summary: dict[str, Any]) -> str:
    c = summary["counts"]
    lines = [
        f"# Study {summary['study']}",
        "",
        f"- storage: `{summary['storage']}`",
        f"- budget: {summary['budget']} trials; complete {c['complete']}, pruned {c['pruned']},"
        f" failed {c['failed']}, running {c['running']}",
        f"- wall time: {summary['wall_time_s']['study']:.1f} s"
        f" (this session {summary['wall_time_s']['this_session']:.1f} s)",
        *tracking_lines(summary.get("tracking")),
    ]
    best = summary["best"]
    if best is None:
        lines += ["", "No complete trial yet."]
        return "\n".join(lines) + "\n"
    lines += [
        "",
        f"## Best trial: {best['trial']} (objective {_fmt(best['objective'])})",
        "",
        "| param | value |",
        "| --- | --- |",
        *(f"| {k} | {_fmt(v)} |" for k, v in best["params"].items()),
    ]
    metrics = best.get("metrics") or {}
    parts = [p for p in ("valid", "test") if isinstance(metrics.get(p), dict)]
    if parts:
        keys = [k for k in metrics[parts[0]] if isinstance(metrics[parts[0]][k], int | float)]
        lines += ["", "| metric | " + " | ".join(parts) + " |", "| --- |" + " --- |" * len(parts)]
        for k in keys:
            lines.append(f"| {k} | " + " | ".join(_fmt(metrics[p].get(k)) for p in parts) + " |")
    rep = summary["reproducibility"]
    if rep is not None and rep["mean"] is not None:
        lines += [
            "",
            f"## Reproducibility: best params over seeds {rep['seeds']}",
            "",
            f"objective mean {rep['mean']:.4g}, std {rep['std']:.4g},"
            f" range [{rep['min']:.4g}, {rep['max']:.4g}] over {rep['n']} runs",
        ]
    return "\n".join(lines) + "\n"


def tracking_lines(tracking: dict[str, Any] | None) -> list[str]:
    """The summary's tracking line, and one line per thing that was not logged."""
    if not tracking:
        return []
    lines = [
        f"- tracking: `{tracking['uri']}`, experiment `{tracking['experiment']}`,"
        f" run `{tracking['run_id']}`; not logged: {len(tracking['not_logged']) or 'nothing'}"
    ]
    lines += [f"  - {n['what']}: {n['error']}" for n in tracking["not_logged"]]
    return lines


def importances(study: optuna.Study, seed: int) -> dict[str, Any]:
    """Parameter importances (fANOVA, seeded); an error message when there are too few trials."""
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
        values = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (ValueError, RuntimeError) as exc:
        return {"importances": {}, "error": str(exc).splitlines()[0]}
    return {"importances": {k: float(v) for k, v in values.items()}, "error": None}


def plot_importances(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = sorted(data["importances"].items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(6, 0.4 * max(len(items), 2) + 1))
    if items:
        ax.barh([k for k, _ in items], [v for _, v in items], color="#3b75af")
        ax.set_xlabel("importance (fANOVA)")
    else:
        ax.text(0.5, 0.5, data.get("error") or "no importances", ha="center", va="center")
        ax.set_axis_off()
    ax.set_title("parameter importances")
    fig.tight_layout()
    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=100))
    plt.close(fig)


def thresholds(summary: dict[str, Any], best_dir: Path) -> dict[str, Any]:
    """The best trial's decision threshold and rule, from its run's metadata (metrics as a
    fallback)."""
    best = summary["best"]
    if best is None:
        return {"study": summary["study"], "trial": None, "threshold": None}
    meta: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        meta = json.loads((best_dir / "metadata.json").read_text())
    metrics = best.get("metrics") or {}
    return {
        "study": summary["study"],
        "trial": best["trial"],
        "threshold": meta.get("threshold", metrics.get("threshold")),
        "rule": meta.get("rule", metrics.get("rule")),  # the whole decision rule (strategy)
        "target": meta.get("target"),
        "objective": best["objective"],
    }


def write_reports(
    study_dir: Path, summary: dict[str, Any], imp: dict[str, Any], thr: dict[str, Any]
) -> None:
    write_summary(study_dir, summary)
    atomic_write_json(study_dir / "importances.json", imp)
    plot_importances(imp, study_dir / "importances.png")
    atomic_write_json(study_dir / "thresholds.json", thr)


def write_summary(study_dir: Path, summary: dict[str, Any]) -> None:
    atomic_write_json(study_dir / "summary.json", summary)
    atomic_write(study_dir / "summary.md", summary_markdown(summary))


def print_summary(summary: dict[str, Any], imp: dict[str, Any], console: Console) -> None:
    c = summary["counts"]
    table = Table(
        title=f"study {summary['study']} · {c['complete']} complete, {c['pruned']} pruned,"
        f" {c['failed']} failed"
    )
    table.add_column("best param")
    table.add_column("value", justify="right")
    table.add_column("importance", justify="right")
    best = summary["best"]
    if best is not None:
        for k, v in best["params"].items():
            table.add_row(k, _fmt(v), _fmt(imp["importances"].get(k, "")))
        table.add_row("[bold]objective (valid)", f"[bold]{_fmt(best['objective'])}", "")
        rep = summary["reproducibility"]
        if rep is not None and rep["mean"] is not None:
            table.add_row(
                f"objective over {rep['n']} seeds", f"{rep['mean']:.4g} ± {rep['std']:.4g}", ""
            )
    console.print(table)
