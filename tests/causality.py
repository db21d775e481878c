"""The look-ahead check: changing the market after row t must not change any output row <= t.

Used by ``test_features_causality.py`` (every feature family, and a planted look-ahead
feature that it must catch). Works for any function from a market table to a frame or array on
the same index: features, labels shifted to their known time, scalers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

Transform = Callable[[pd.DataFrame], pd.DataFrame | np.ndarray]
Perturbation = Callable[[pd.DataFrame, int], pd.DataFrame]


def _rows(out: pd.DataFrame | np.ndarray, upto: int) -> np.ndarray:
    values = out.to_numpy(dtype=np.float64) if isinstance(out, pd.DataFrame) else np.asarray(out)
    return np.asarray(values[: upto + 1], dtype=np.float64)


def lookahead_columns(
    fn: Transform, market: pd.DataFrame, t: int, perturb: Perturbation
) -> list[str]:
    """Columns of ``fn``'s output whose rows 0..t differ after ``perturb(market, t)``.

    ``perturb`` must return a market whose rows 0..t equal the original's (it may change, add or
    drop later rows). Values are compared exactly, NaN equal to NaN.
    """
    perturbed = perturb(market, t)
    if not perturbed.iloc[: t + 1].equals(market.iloc[: t + 1]):
        raise ValueError("the perturbation changed rows at or before t")
    before, after = fn(market), fn(perturbed)
    a, b = _rows(before, t), _rows(after, t)
    if a.shape != b.shape:
        raise AssertionError(f"output shape up to row {t} changed: {a.shape} -> {b.shape}")
    differs = ~((a == b) | (np.isnan(a) & np.isnan(b)))
    names = (
        [str(c) for c in before.columns]
        if isinstance(before, pd.DataFrame)
        else [str(i) for i in range(a.shape[1] if a.ndim > 1 else 1)]
    )
    if a.ndim == 1:
        return names if differs.any() else []
    return [n for n, d in zip(names, differs.any(axis=0), strict=True) if d]


def assert_causal(fn: Transform, market: pd.DataFrame, t: int, perturb: Perturbation) -> None:
    """AssertionError naming the columns that see the future (see ``lookahead_columns``)."""
    bad = lookahead_columns(fn, market, t, perturb)
    if bad:
        raise AssertionError(
            f"look-ahead: changing rows after {market.index[t]} changed rows up to it in {bad}"
        )


# --- perturbations (rows 0..t untouched) ----------------------------------------------------


def scale_after(column: str, factor: float) -> Perturbation:
    def perturb(market: pd.DataFrame, t: int) -> pd.DataFrame:
        out = market.copy()
        values = out[column].to_numpy(dtype=np.float64, copy=True)
        values[t + 1 :] *= factor
        out[column] = values
        return out

    return perturb


def noise_after(seed: int, size: float) -> Perturbation:
    """Multiply every value after t by exp(size * N(0, 1)) (keeps prices positive)."""

    def perturb(market: pd.DataFrame, t: int) -> pd.DataFrame:
        out = market.copy()
        rng = np.random.default_rng(seed)
        tail = out.iloc[t + 1 :].to_numpy(dtype=np.float64)
        out.iloc[t + 1 :] = tail * np.exp(size * rng.standard_normal(tail.shape))
        return out

    return perturb


def truncate_after(market: pd.DataFrame, t: int) -> pd.DataFrame:
    """The table as it was known at row t."""
    return market.iloc[: t + 1].copy()


def drop_after(hours: int) -> Perturbation:
    """Remove ``hours`` rows right after t: a gap opens in the future."""

    def perturb(market: pd.DataFrame, t: int) -> pd.DataFrame:
        keep = np.ones(len(market), dtype=bool)
        keep[t + 1 : t + 1 + hours] = False
        return market.iloc[keep].copy()

    return perturb
