"""Metrics and the optimised objective: pure functions over arrays.

The objective is a *skill* over chance, never a raw F1: about half of all hours are up, so
"always up" scores an up-class F1 near 0.67, and a threshold chosen to maximise F1 drifts
towards being long all the time. Even F1 measured against the always-up baseline keeps that
pull (a model that is long 95% of the time edges past it on noise), so both metrics compare a
model with a random one that is long as often as it is:

- ``f1``: (F1_up - F1_chance(q)) / (1 - F1_chance(q)), where q is the share of rows predicted
  up and F1_chance(q) = 2pq / (p + q) is the expected F1 of guessing up at rate q on data with
  an up share p. For always-up (q = 1) F1_chance is the always-up F1, so that model scores 0;
  so does every random guess, at any rate.
- ``up_recall``: up recall - false-up rate (Youden's J; 0 for always-up and for any guess)

minus ``drawdown_penalty`` times how far the strategy's max drawdown is past the limit.
``metrics.json`` reports the always-up F1 beside it (``baseline_f1_up``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trainer.trading import decision_rows, max_drawdown, net_returns, sharpe

HOURS_PER_YEAR = 24 * 365


@dataclass(frozen=True)
class ObjectiveSpec:
    """Everything that turns scores into the objective (built once per run from config)."""

    metric: str  # f1 | up_recall
    drawdown_penalty: float
    drawdown_limit: float  # e.g. -0.10
    horizon: int  # hours
    cost_bps: float  # fee + slippage per unit of turnover
    allow_short: bool = False
    n_thresholds: int = 49
    # Thresholds are tried between these quantiles of the validation scores: a threshold in
    # the extreme tails trades a handful of hours and fits their noise.
    quantile_range: tuple[float, float] = (0.05, 0.95)
    # Trading hours a year, for the Sharpe ratio: fewer on a market that closes (data.calendar).
    hours_per_year: float = HOURS_PER_YEAR


def always_up_f1(y_up: np.ndarray) -> float:
    """Up-class F1 of predicting up on every row: 2p / (1 + p)."""
    p = float(np.mean(y_up)) if y_up.size else 0.0
    return 2.0 * p / (1.0 + p) if p > 0 else 0.0


def _counts(pred_up: np.ndarray, y_up: np.ndarray) -> tuple[np.ndarray, ...]:
    """TP, FP, FN, TN over the last axis; pred_up may be (n,) or (k, n)."""
    y = y_up.astype(bool)
    tp = np.sum(pred_up & y, axis=-1)
    fp = np.sum(pred_up & ~y, axis=-1)
    fn = np.sum(~pred_up & y, axis=-1)
    tn = np.sum(~pred_up & ~y, axis=-1)
    return tp, fp, fn, tn


def _counts_at(
    scores: np.ndarray, y_up: np.ndarray, thresholds: np.ndarray
) -> tuple[np.ndarray, ...]:
    """``_counts(scores > t, y_up)`` for every threshold t at once, (k,) each.

    From the sorted scores of each class: O(n log n) instead of a (k, n) comparison.
    """
    y = y_up.astype(bool)
    up, down = np.sort(scores[y]), np.sort(scores[~y])
    tp = up.size - np.searchsorted(up, thresholds, side="right")
    fp = down.size - np.searchsorted(down, thresholds, side="right")
    return tp, fp, up.size - tp, down.size - fp


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return np.divide(a, b, out=np.zeros_like(a), where=b > 0)


def skill(pred_up: np.ndarray, y_up: np.ndarray, metric: str) -> np.ndarray:
    """The skill score over the always-up baseline, per row of ``pred_up``."""
    return _skill_of(_counts(pred_up, y_up), y_up, metric)


def _skill_of(counts: tuple[np.ndarray, ...], y_up: np.ndarray, metric: str) -> np.ndarray:
    tp, fp, fn, tn = counts
    if metric == "f1":
        f1 = _safe_div(2 * tp, 2 * tp + fp + fn)
        n = y_up.shape[-1]
        p = float(np.mean(y_up)) if n else 0.0
        q = _safe_div(tp + fp, np.full_like(tp, n, dtype=np.float64))
        chance = _safe_div(2 * p * q, p + q)
        return _safe_div(f1 - chance, 1.0 - chance)
    return _safe_div(tp, tp + fn) - _safe_div(fp, fp + tn)


def auc(scores: np.ndarray, y_up: np.ndarray) -> float:
    """ROC AUC by the rank-sum formula; 0.5 when one class is absent."""
    y = y_up.astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return 0.5
    ranks = rankdata(scores)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def positions(scores: np.ndarray, threshold: float | np.ndarray, allow_short: bool) -> np.ndarray:
    """+1 where the score is above the threshold; else -1 (short allowed) or 0, (…, n).

    ``threshold`` may be a (k, 1) column against (1, n) scores: one row per threshold.
    """
    up = scores > threshold
    if allow_short:
        return np.where(up, 1.0, -1.0)
    return up.astype(np.float64)


def strategy_returns(
    scores: np.ndarray,
    threshold: float,
    returns: np.ndarray,
    hours: np.ndarray,
    spec: ObjectiveSpec,
) -> tuple[np.ndarray, np.ndarray]:
    """(positions, net returns) on the decision rows only, each held for the horizon."""
    rows = decision_rows(hours, spec.horizon)
    pos = positions(scores[rows], threshold, spec.allow_short)
    return pos, net_returns(pos, returns[rows], spec.cost_bps)


def candidate_thresholds(
    scores: np.ndarray, n: int, quantile_range: tuple[float, float] = (0.05, 0.95)
) -> np.ndarray:
    """Quantiles of the validation scores, so any score scale (probability, return) works."""
    qs = np.linspace(quantile_range[0], quantile_range[1], n)
    return np.unique(np.quantile(scores, qs))


def objective_at(
    scores: np.ndarray,
    y_up: np.ndarray,
    returns: np.ndarray,
    hours: np.ndarray,
    thresholds: np.ndarray,
    spec: ObjectiveSpec,
) -> np.ndarray:
    """The objective for each candidate threshold, (k,); scores are finite."""
    if not np.isfinite(scores).all():
        raise ValueError("objective_at: scores must be finite (calibrate drops the others)")
    values = _skill_of(_counts_at(scores, y_up, thresholds), y_up, spec.metric)
    if spec.drawdown_penalty > 0:
        dd = drawdowns_at(scores, returns, hours, thresholds, spec)
        values = values - spec.drawdown_penalty * np.maximum(0.0, spec.drawdown_limit - dd)
    return np.asarray(values, dtype=np.float64)


# Cells (thresholds x rows) per block in drawdowns_at: its two float64 blocks stay in L2
# (512 KiB); whole (49, 8760) blocks ran 2x slower than this from cache misses.
_BLOCK_CELLS = 1 << 15


def drawdowns_at(
    scores: np.ndarray,
    returns: np.ndarray,
    hours: np.ndarray,
    thresholds: np.ndarray,
    spec: ObjectiveSpec,
) -> np.ndarray:
    """Max drawdown of the strategy at each threshold, (k,).

    The same arithmetic as ``max_drawdown(strategy_returns(...)[1])`` per threshold (each
    row's products and maxima run in the same order), on (thresholds, rows) blocks: the
    per-threshold loop was most of the cost of scoring a trial's report.
    """
    rows = decision_rows(hours, spec.horizon)
    s, move = scores[rows], np.expm1(returns[rows])
    out = np.zeros(thresholds.size, dtype=np.float64)
    if s.size == 0:
        return out
    cost = spec.cost_bps * 1e-4
    step = max(1, _BLOCK_CELLS // s.size)
    for i in range(0, thresholds.size, step):
        pos = positions(s[None, :], thresholds[i : i + step, None], spec.allow_short)
        # net_returns row by row: position x move, less turnover x cost (flat before row 0)
        turnover = np.empty_like(pos)
        turnover[:, 0] = pos[:, 0]
        np.subtract(pos[:, 1:], pos[:, :-1], out=turnover[:, 1:])
        np.abs(turnover, out=turnover)
        turnover *= cost
        equity = pos * move
        equity -= turnover
        equity += 1.0
        np.multiply.accumulate(equity, axis=1, out=equity)
        peak = np.maximum.accumulate(equity, axis=1, out=turnover)
        np.maximum(peak, 1.0, out=peak)  # the curve starts at 1.0
        equity /= peak
        out[i : i + step] = np.minimum(np.min(equity, axis=1) - 1.0, 0.0)
    return out


def calibrate(
    scores: np.ndarray,
    y_up: np.ndarray,
    returns: np.ndarray,
    hours: np.ndarray,
    spec: ObjectiveSpec,
) -> tuple[float, float]:
    """(threshold, objective): the candidate threshold that maximises the objective.

    Only ever called on validation data. Rows without a score (NaN) are ignored.
    """
    ok = np.isfinite(scores)
    scores, y_up, returns, hours = scores[ok], y_up[ok], returns[ok], hours[ok]
    if scores.size == 0:
        return 0.5, float("-inf")
    thresholds = candidate_thresholds(scores, spec.n_thresholds, spec.quantile_range)
    values = objective_at(scores, y_up, returns, hours, thresholds, spec)
    best = int(np.argmax(values))
    return float(thresholds[best]), float(values[best])


def metrics(
    scores: np.ndarray,
    threshold: float,
    y_up: np.ndarray,
    returns: np.ndarray,
    hours: np.ndarray,
    spec: ObjectiveSpec,
    regression: bool = False,
) -> dict[str, float]:
    """Every reported metric of one part (valid or test) at a fixed threshold."""
    ok = np.isfinite(scores)
    scores, y_up, returns, hours = scores[ok], y_up[ok], returns[ok], hours[ok]
    pred = scores > threshold
    tp, fp, fn, _ = (float(v) for v in _counts(pred, y_up))
    pos, net = strategy_returns(scores, threshold, returns, hours, spec)
    traded = pos != 0
    rows = decision_rows(hours, spec.horizon)
    signed = pos * returns[rows]
    mdd = max_drawdown(net)
    obj = float(skill(pred, y_up, spec.metric)) - spec.drawdown_penalty * max(
        0.0, spec.drawdown_limit - mdd
    )
    out = {
        "f1_up": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
        "up_recall": tp / (tp + fn) if tp + fn else 0.0,
        "precision_up": tp / (tp + fp) if tp + fp else 0.0,
        "hit_rate": float(np.mean(signed[traded] > 0)) if traded.any() else 0.0,
        "auc": auc(scores, y_up),
        "n_trades": int(traded.sum()),
        "cum_return": float(np.prod(1.0 + net) - 1.0),
        "max_drawdown": mdd,
        "sharpe": sharpe(net, spec.hours_per_year / spec.horizon),
        "objective": obj,
        "baseline_f1_up": always_up_f1(y_up),
        "skill": float(skill(pred, y_up, spec.metric)),
        "buy_and_hold_return": float(np.expm1(np.sum(returns[rows]))),
        "n_rows": int(scores.size),
    }
    if regression:
        out["rmse"] = float(np.sqrt(np.mean((scores - returns) ** 2)))
        out["ic"] = _spearman(scores, returns)
    return out


def rankdata(x: np.ndarray) -> np.ndarray:
    """Average ranks (1-based, ties share their mean rank), as scipy.stats.rankdata.

    Kept here because importing scipy.stats costs about a second per process.
    """
    sorter = np.argsort(x, kind="mergesort")
    xs = x[sorter]
    first = np.r_[True, xs[1:] != xs[:-1]]
    group = np.cumsum(first) - 1  # tie group of each sorted position
    edges = np.r_[np.nonzero(first)[0], x.size]  # where each group starts, then n
    mean_rank = (edges[:-1] + 1 + edges[1:]) / 2.0
    ranks = np.empty(x.size, dtype=np.float64)
    ranks[sorter] = mean_rank[group]
    return ranks


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if a.size < 3:
        return 0.0
    ra, rb = rankdata(a), rankdata(b)
    c = np.corrcoef(ra, rb)[0, 1]
    return float(c) if np.isfinite(c) else 0.0
