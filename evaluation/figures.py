"""PNG figures of an evaluation report (matplotlib, Agg backend: no display needed).

Called by ``evaluation.report``; each function takes arrays and a path and writes one PNG.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from evaluation.backtest import Backtest

COLOURS = {
    "1h": "#1f77b4",
    "4h": "#2ca02c",
    "1h+4h": "#9467bd",
    "buy_and_hold": "#7f7f7f",
    "baseline": "#ff7f0e",
}


def _plt() -> Any:
    import logging

    import matplotlib

    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # no font-cache chatter

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def equity_and_drawdown(
    timestamps: np.ndarray,
    backtests: dict[str, Backtest],
    fold_starts: np.ndarray,
    path: Path,
    target: str | None = None,
) -> None:
    """Net equity (log scale) above, with the target strategy's gross curve beside its net
    one (the gap is what costs took); net drawdown below; quarters marked."""
    plt = _plt()
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, 6.5), sharex=True, gridspec_kw={"height_ratios": [2, 1]}
    )
    for name, bt in backtests.items():
        style = "--" if name in ("buy_and_hold", "baseline") else "-"
        kw = {"color": COLOURS.get(name), "lw": 1.1, "ls": style}
        top.plot(timestamps, bt.equity, label=f"{name} net ({bt.total_return:+.1%})", **kw)
        bottom.plot(timestamps, bt.drawdown, **kw)
        if name == target:
            gross = {**kw, "ls": ":", "lw": 1.3}
            top.plot(
                timestamps, bt.gross_equity, label=f"{name} gross ({bt.gross_return:+.1%})", **gross
            )
    for t in fold_starts:
        top.axvline(t, color="#dddddd", lw=0.6, zorder=0)
        bottom.axvline(t, color="#dddddd", lw=0.6, zorder=0)
    top.set_yscale("log")
    top.set_ylabel("equity (log)")
    top.legend(loc="upper left", fontsize=8)
    top.set_title("Walk-forward out-of-sample equity: net of costs; the target also gross")
    bottom.set_ylabel("drawdown")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def folds(
    names: list[str], strategy: list[float], market: list[float], label: str, path: Path
) -> None:
    """Return of the strategy and of buy-and-hold in each fold's test quarter."""
    plt = _plt()
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(names) + 2), 3.5))
    ax.bar(x - 0.2, strategy, 0.4, label=label, color=COLOURS.get(label, "#1f77b4"))
    ax.bar(x + 0.2, market, 0.4, label="buy_and_hold", color=COLOURS["buy_and_hold"])
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xticks(x, names, rotation=45, fontsize=8)
    ax.set_ylabel("return in the fold")
    ax.legend(fontsize=8)
    ax.set_title("Per-fold out-of-sample return")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def stress(
    windows: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]], label: str, path: Path
) -> None:
    """One panel per stress window: the strategy's equity against buy-and-hold."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(windows), figsize=(4.2 * len(windows), 3.2), squeeze=False)
    for ax, (name, ts, eq, bh) in zip(axes[0], windows, strict=True):
        ax.plot(ts, eq, color=COLOURS.get(label, "#1f77b4"), label=label)
        ax.plot(ts, bh, color=COLOURS["buy_and_hold"], ls="--", label="buy_and_hold")
        ax.set_title(name, fontsize=9)
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
