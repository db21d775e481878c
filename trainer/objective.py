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

- ``net_sharpe``: the annualised Sharpe ratio of the strategy's net returns
- ``net_return``: the strategy's compounded net return

minus ``drawdown_penalty`` times how far the strategy's max drawdown is past the limit.
``metrics.json`` reports the always-up F1 beside it (``baseline_f1_up``). The strategy (the
decision rule that turns scores into positions) and its money come from ``trainer.trading``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from trainer.trading import (
    HOURS_PER_YEAR,
    Backtest,
    Rule,
    backtest,
    break_even_bps,
    decision_rows,
    hold,
    money_of_rows,
    positions,
    positions_block,
    realised_vol,
)


@dataclass(frozen=True)
class ObjectiveSpec:
    """Everything that turns scores into the objective (built once per run from config)."""

    metric: str  # f1 | up_recall | net_sharpe | net_return
    drawdown_penalty: float
    drawdown_limit: float  # e.g. -0.10
    horizon: int  # hours
    cost_bps: float  # fee + slippage per unit of turnover
    allow_short: bool = False
    n_thresholds: int = 49
    # Thresholds are tried between these quantiles of the validation scores: a threshold in
    # the extreme tails trades a handful of hours and fits their noise.
    quantile_range: tuple[float, float] = (0.05, 0.95)
    strategy: str = "threshold"  # threshold | hysteresis | vol_target (trainer.trading.Rule)
    bands: tuple[float, ...] = (0.0,)  # hysteresis: candidate gaps, in quantiles of valid scores
    min_hold_hours: int = 1
    target_vol: float = 0.5  # vol_target: annualised
    max_leverage: float = 1.0
    vol_window_hours: int = 168

    @property
    def min_hold(self) -> int:
        """The minimum holding time in decision periods (a started period counts whole)."""
        return max(1, math.ceil(self.min_hold_hours / self.horizon))

    def rule(self, upper: float, lower: float | None = None) -> Rule:
        return Rule(
            name=self.strategy,
            upper=upper,
            lower=upper if lower is None else lower,
            min_hold=self.min_hold,
            allow_short=self.allow_short,
            target_vol=self.target_vol if self.strategy == "vol_target" else None,
            max_leverage=self.max_leverage,
        )


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


def decide(
    scores: np.ndarray, rule: Rule, returns: np.ndarray, hours: np.ndarray, spec: ObjectiveSpec
) -> tuple[np.ndarray, np.ndarray]:
    """(decision rows (n,) bool, position of each decision row) of one part's scores.

    ``returns`` are the part's forward ``horizon``-hour log returns (the realised volatility
    that sizes ``vol_target`` positions comes from the ones already known at each row). The
    evaluation calls this on each fold's test part, so it trades the positions training scored.
    """
    rows = decision_rows(hours, spec.horizon)
    vol = _vol(returns, spec)
    return rows, positions(scores[rows], rule, None if vol is None else vol[rows])


def hourly_positions(
    scores: np.ndarray, rule: Rule, returns: np.ndarray, hours: np.ndarray, spec: ObjectiveSpec
) -> tuple[np.ndarray, np.ndarray | None]:
    """(position of every hour (n,), decision rows or None for a 1h model) of consecutive
    hours: ``decide``'s positions held from each decision row to the next."""
    rows, pos = decide(scores, rule, returns, hours, spec)
    if spec.horizon == 1:
        return pos, None
    full = np.zeros(scores.shape[0])
    full[rows] = pos
    return hold(full, rows), rows


def _vol(returns: np.ndarray, spec: ObjectiveSpec) -> np.ndarray | None:
    """Annualised realised volatility known at each row, for vol_target only."""
    if spec.strategy != "vol_target":
        return None
    per_hour = realised_vol(returns, spec.horizon, spec.vol_window_hours)
    return per_hour * math.sqrt(HOURS_PER_YEAR)


def strategy_backtest(
    scores: np.ndarray, rule: Rule, returns: np.ndarray, hours: np.ndarray, spec: ObjectiveSpec
) -> Backtest:
    """The money of one part: positions on its decision rows, each held for the horizon."""
    rows, pos = decide(scores, rule, returns, hours, spec)
    return backtest(pos, np.expm1(returns[rows]), spec.cost_bps, hours_per_period=spec.horizon)


def candidate_thresholds(
    scores: np.ndarray, n: int, quantile_range: tuple[float, float] = (0.05, 0.95)
) -> np.ndarray:
    """Quantiles of the validation scores, so any score scale (probability, return) works."""
    qs = np.linspace(quantile_range[0], quantile_range[1], n)
    return np.unique(np.quantile(scores, qs))


def candidate_rules(scores: np.ndarray, spec: ObjectiveSpec) -> tuple[np.ndarray, np.ndarray]:
    """(uppers, lowers), (k,) each: the (entry, exit) thresholds calibration tries on valid.

    Threshold and vol_target: lower = upper at each candidate quantile. Hysteresis: each band
    b of ``spec.bands`` (widest first, so a tie goes to the rule that trades least) pairs the
    quantile q with the quantile q - b of the same scores.
    """
    if spec.strategy != "hysteresis":
        uppers = candidate_thresholds(scores, spec.n_thresholds, spec.quantile_range)
        return uppers, uppers
    qs = np.linspace(spec.quantile_range[0], spec.quantile_range[1], spec.n_thresholds)
    bands = sorted(spec.bands, reverse=True)
    levels = np.concatenate([qs, *(np.clip(qs - band, 0.0, 1.0) for band in bands)])
    at = np.quantile(scores, levels).reshape(len(bands) + 1, qs.size)  # one partition
    pairs = np.concatenate([np.stack([at[0], at[1 + i]]) for i in range(len(bands))], axis=1)
    _, first = np.unique(pairs, axis=1, return_index=True)
    keep = np.sort(first)
    return pairs[0, keep], pairs[1, keep]


def objective_at(
    scores: np.ndarray,
    y_up: np.ndarray,
    returns: np.ndarray,
    hours: np.ndarray,
    uppers: np.ndarray,
    spec: ObjectiveSpec,
    lowers: np.ndarray | None = None,
) -> np.ndarray:
    """The objective of each candidate rule (upper, lower), (k,); scores are finite."""
    if not np.isfinite(scores).all():
        raise ValueError("objective_at: scores must be finite (calibrate drops the others)")
    lowers = uppers if lowers is None else lowers
    net_metric = spec.metric in ("net_sharpe", "net_return")
    if net_metric or spec.drawdown_penalty > 0:
        dd, total, sharpes = money_at(scores, returns, hours, uppers, lowers, spec)
    if spec.metric == "net_sharpe":
        values = sharpes
    elif spec.metric == "net_return":
        values = total
    else:
        values = _skill_of(_counts_at(scores, y_up, uppers), y_up, spec.metric)
    if spec.drawdown_penalty > 0:
        values = values - spec.drawdown_penalty * np.maximum(0.0, spec.drawdown_limit - dd)
    return np.asarray(values, dtype=np.float64)


# Cells (candidates x rows) per block in money_at: its float64 blocks stay in L2; whole
# (candidates, rows) blocks ran markedly slower from cache misses.
_BLOCK_CELLS = 1 << 15


def money_at(
    scores: np.ndarray,
    returns: np.ndarray,
    hours: np.ndarray,
    uppers: np.ndarray,
    lowers: np.ndarray,
    spec: ObjectiveSpec,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(max drawdown, compounded net return, annualised net Sharpe) of each candidate rule.

    ``trainer.trading.money_of_rows`` on (candidates, rows) blocks of positions: a
    per-candidate loop was most of the cost of scoring a trial's report.
    """
    rows = decision_rows(hours, spec.horizon)
    s, move = scores[rows], np.expm1(returns[rows])
    vol = _vol(returns, spec)
    vol = None if vol is None else vol[rows]
    k = uppers.size
    dd, total, sharpes = np.zeros(k), np.zeros(k), np.zeros(k)
    n = s.size
    if n == 0:
        return dd, total, sharpes
    want_sharpe = spec.metric == "net_sharpe"
    rule = spec.rule(0.0)
    step = max(1, _BLOCK_CELLS // n)
    for i in range(0, k, step):
        pos = positions_block(s, uppers[i : i + step], lowers[i : i + step], rule, vol)
        block = slice(i, i + step)
        dd[block], total[block], sharpes[block] = money_of_rows(
            pos, move, spec.cost_bps, HOURS_PER_YEAR / spec.horizon, want_sharpe
        )
    return dd, total, sharpes


# A rule with memory (hysteresis, a minimum holding time) costs several times the plain
# threshold rule per candidate: calibration screens the thresholds with the plain rule and
# scores only the best few with the rule itself (every band of each).
SCREENED = 3


def calibrate(
    scores: np.ndarray,
    y_up: np.ndarray,
    returns: np.ndarray,
    hours: np.ndarray,
    spec: ObjectiveSpec,
) -> tuple[Rule, float]:
    """(rule, objective): the candidate rule that maximises the objective on these rows.

    Only ever called on validation data. Rows without a score (NaN) are ignored. A rule with
    memory is calibrated in two steps: the ``SCREENED`` best thresholds of the plain rule
    (no band, no minimum holding time), then each of those with every band, under the rule
    itself; the plain rule's own calibration is one step over every threshold.
    """
    ok = np.isfinite(scores)
    scores, y_up, returns, hours = scores[ok], y_up[ok], returns[ok], hours[ok]
    if scores.size == 0:
        return spec.rule(0.5), float("-inf")
    uppers, lowers = candidate_rules(scores, spec)
    if spec.strategy == "hysteresis" or spec.min_hold > 1:
        plain = replace(
            spec,
            strategy="threshold" if spec.strategy == "hysteresis" else spec.strategy,
            bands=(0.0,),
            min_hold_hours=1,
        )
        thresholds = candidate_thresholds(scores, spec.n_thresholds, spec.quantile_range)
        screen = objective_at(scores, y_up, returns, hours, thresholds, plain)
        best_few = thresholds[np.argsort(-screen, kind="stable")[:SCREENED]]
        keep = np.isin(uppers, best_few)
        uppers, lowers = uppers[keep], lowers[keep]
    values = objective_at(scores, y_up, returns, hours, uppers, spec, lowers)
    best = int(np.argmax(values))
    return spec.rule(float(uppers[best]), float(lowers[best])), float(values[best])


def metrics(
    scores: np.ndarray,
    rule: Rule,
    y_up: np.ndarray,
    returns: np.ndarray,
    hours: np.ndarray,
    spec: ObjectiveSpec,
    regression: bool = False,
) -> dict[str, Any]:
    """Every reported metric of one part (valid or test) under a calibrated rule."""
    ok = np.isfinite(scores)
    scores, y_up, returns, hours = scores[ok], y_up[ok], returns[ok], hours[ok]
    pred = scores > rule.upper
    tp, fp, fn, _ = (float(v) for v in _counts(pred, y_up))
    bt = strategy_backtest(scores, rule, returns, hours, spec)
    skill_metric = spec.metric if spec.metric in ("f1", "up_recall") else "f1"
    skill_value = float(skill(pred, y_up, skill_metric))
    if spec.metric == "net_sharpe":
        value = bt.sharpe
    elif spec.metric == "net_return":
        value = bt.total_return
    else:
        value = skill_value
    obj = value - spec.drawdown_penalty * max(0.0, spec.drawdown_limit - bt.max_drawdown)
    rows = decision_rows(hours, spec.horizon)
    market_log = float(np.sum(returns[rows]))
    out: dict[str, Any] = {
        "f1_up": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
        "up_recall": tp / (tp + fn) if tp + fn else 0.0,
        "precision_up": tp / (tp + fp) if tp + fp else 0.0,
        "hit_rate": bt.hit_rate,
        "auc": auc(scores, y_up),
        "n_trades": bt.n_trades,
        "exposure": bt.exposure,
        "win_rate": bt.win_rate,
        "n_position_changes": bt.n_position_changes,
        "turnover_per_year": bt.turnover_per_year,
        "avg_hold_hours": bt.avg_hold_hours,
        "gross_return": bt.gross_return,
        "cost_return": bt.cost_return,
        "cum_return": bt.total_return,
        "break_even_bps": bt.break_even_bps,
        "break_even_vs_buy_and_hold_bps": break_even_vs_market(bt, market_log),
        "max_drawdown": bt.max_drawdown,
        "sharpe": bt.sharpe,
        "objective": obj,
        "baseline_f1_up": always_up_f1(y_up),
        "skill": skill_value,
        "buy_and_hold_return": float(np.expm1(market_log)),
        "n_rows": int(scores.size),
    }
    if regression:
        out["rmse"] = float(np.sqrt(np.mean((scores - returns) ** 2)))
        out["ic"] = _spearman(scores, returns)
    return out


def break_even_vs_market(bt: Backtest, market_log_return: float) -> float | None:
    """The cost per unit traded (bps) at which the strategy's net return would equal
    buy-and-hold's (which trades one unit once, at the same cost)."""
    return break_even_bps(bt.gross, bt.traded, market_log_return, 1.0)


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
