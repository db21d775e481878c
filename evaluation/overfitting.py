"""Overfitting statistics of a study: deflated Sharpe ratio and probability of backtest overfitting.

Called by ``python -m evaluation`` when the evaluated run is a study's best trial; pure functions
over a (T x N) matrix of the trials' out-of-sample per-period returns.

- Deflated Sharpe ratio (Bailey & López de Prado, 2014): the probability that the chosen
  trial's true Sharpe is above the Sharpe the best of N unskilled trials would show by luck,
  given the variance of the trials' Sharpes, the sample length, skewness and kurtosis.
- PBO by combinatorially symmetric cross-validation (Bailey, Borwein, López de Prado & Zhu,
  2017): cut time into S blocks; for every half of them, pick the trial that is best in-sample
  and see where it ranks on the other half; PBO is the share of splits in which it ranks at or
  below the median.

Sharpe ratios here are per period (not annualised), as both papers define them.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy.stats import kurtosis, norm, skew

EULER_GAMMA = 0.5772156649015329


def sharpe_ratios(returns: np.ndarray) -> np.ndarray:
    """Per-period Sharpe of each column of (T, N) returns; 0 for a flat column."""
    mean = returns.mean(axis=0)
    sd = returns.std(axis=0, ddof=1)
    out: np.ndarray = np.divide(mean, sd, out=np.zeros_like(mean), where=sd > 0)
    return out


def expected_max_sharpe(n_trials: int, var_sharpe: float) -> float:
    """E[max of N Sharpe estimates] of unskilled trials (true Sharpe 0), by the false
    strategy theorem; 0 for a single trial."""
    if n_trials <= 1 or var_sharpe <= 0:
        return 0.0
    n = float(n_trials)
    z1 = norm.ppf(1.0 - 1.0 / n)
    z2 = norm.ppf(1.0 - 1.0 / (n * np.e))
    return float(np.sqrt(var_sharpe) * ((1.0 - EULER_GAMMA) * z1 + EULER_GAMMA * z2))


def probabilistic_sharpe(
    sharpe: float, benchmark: float, n_obs: int, skewness: float, kurt: float
) -> float:
    """P(true Sharpe > benchmark) given an estimate from ``n_obs`` returns with this skewness
    and (non-excess) kurtosis."""
    if n_obs < 2:
        return 0.5
    var_term = 1.0 - skewness * sharpe + (kurt - 1.0) / 4.0 * sharpe**2
    z = (sharpe - benchmark) * np.sqrt(n_obs - 1.0) / np.sqrt(max(var_term, 1e-12))
    return float(norm.cdf(z))


@dataclass(frozen=True)
class DeflatedSharpe:
    value: float  # P(the chosen trial's true Sharpe beats the best-of-N-by-luck Sharpe)
    sharpe: float  # chosen trial, per period
    expected_max_sharpe: float  # the benchmark SR0
    n_trials: int
    var_sharpe: float
    n_obs: int
    skewness: float
    kurtosis: float


def deflated_sharpe(
    sharpe: float,
    n_obs: int,
    skewness: float,
    kurt: float,
    n_trials: int,
    var_sharpe: float,
) -> DeflatedSharpe:
    sr0 = expected_max_sharpe(n_trials, var_sharpe)
    value = probabilistic_sharpe(sharpe, sr0, n_obs, skewness, kurt)
    return DeflatedSharpe(value, sharpe, sr0, n_trials, var_sharpe, n_obs, skewness, kurt)


def deflated_sharpe_of(
    returns: np.ndarray, chosen: int, n_trials: int | None = None
) -> DeflatedSharpe:
    """DSR of column ``chosen`` of the (T, N) trial returns.

    ``n_trials`` is how many configurations were tried (pruned ones included); it defaults to
    N. The variance of Sharpes comes from the N columns at hand.
    """
    srs = sharpe_ratios(returns)
    x = returns[:, chosen]
    sk = float(skew(x)) if np.std(x) > 0 else 0.0
    ku = float(kurtosis(x, fisher=False)) if np.std(x) > 0 else 3.0
    var = float(np.var(srs, ddof=1)) if srs.size > 1 else 0.0
    return deflated_sharpe(
        float(srs[chosen]), int(x.shape[0]), sk, ku, n_trials or returns.shape[1], var
    )


@dataclass(frozen=True)
class PBO:
    value: float  # share of splits whose in-sample best ranks at or below the median out of sample
    logits: np.ndarray  # (C,) logit of the best trial's relative out-of-sample rank per split
    n_splits: int
    n_blocks: int
    n_trials: int


def probability_of_backtest_overfitting(returns: np.ndarray, n_blocks: int = 16) -> PBO:
    """PBO by CSCV over (T, N) per-period returns of N trials, performance = Sharpe.

    Time is cut into ``n_blocks`` contiguous blocks (sizes differ by at most one row); every
    choice of half the blocks is an in-sample set, the rest its out-of-sample set. Sums per
    block make each split a matrix product, so C(16, 8) = 12870 splits cost milliseconds.
    """
    t, n = returns.shape
    if n < 2:
        raise ValueError("PBO needs at least two trials")
    if n_blocks % 2 or n_blocks < 2 or t < n_blocks * 2:
        raise ValueError(f"PBO needs an even n_blocks >= 2 and >= 2 rows per block (T={t})")
    edges = np.linspace(0, t, n_blocks + 1).round().astype(np.int64)
    sums = np.add.reduceat(returns, edges[:-1], axis=0)  # (S, N)
    squares = np.add.reduceat(returns * returns, edges[:-1], axis=0)
    counts = np.diff(edges).astype(np.float64)  # (S,)
    chosen = np.array(list(combinations(range(n_blocks), n_blocks // 2)))
    mask = np.zeros((chosen.shape[0], n_blocks))
    np.put_along_axis(mask, chosen, 1.0, axis=1)  # (C, S), 1 where the block is in-sample

    def split_sharpe(m: np.ndarray) -> np.ndarray:
        s, q, k = m @ sums, m @ squares, (m @ counts)[:, None]
        var = (q - s * s / k) / (k - 1.0)
        sd = np.sqrt(np.maximum(var, 0.0))
        out: np.ndarray = np.divide(s / k, sd, out=np.zeros_like(s), where=sd > 0)
        return out

    sr_in, sr_out = split_sharpe(mask), split_sharpe(1.0 - mask)  # (C, N) each
    best = np.argmax(sr_in, axis=1)
    best_out = sr_out[np.arange(best.size), best][:, None]
    # Relative rank in (0, 1) of the in-sample winner among the N trials out of sample,
    # ties sharing their average rank.
    below = np.sum(sr_out < best_out, axis=1)
    ties = np.sum(sr_out == best_out, axis=1)
    omega = (below + (ties + 1) / 2.0) / (n + 1.0)
    logits = np.log(omega / (1.0 - omega))
    return PBO(float(np.mean(logits <= 0.0)), logits, int(best.size), n_blocks, n)
