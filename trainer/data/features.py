"""Features of the hourly market table, by column role, from the past only.

Called by ``trainer.dataset.build_table`` (``build_features``) and ``benchmarks/features.py``.
Pure: a market table in, a new float64 frame on the same index out; no I/O.

Each family (``FAMILIES``) turns the columns of its role into named ``Feature`` recipes; a recipe
declares its ``lookback``, the number of earlier rows it reads. Rolling computations run over the
whole column (trailing windows only: pandas ``rolling`` and positive shifts), then every row whose
lookback reaches before the start of its segment (a gap: the index jumps by more than one open
hour of the market's calendar) is set to NaN. So no window spans a gap, the warm-up of each
segment is NaN, and a row depends on that row and earlier ones only. Rows are the open hours,
so on a market that closes a window of ``w`` hours spans ``w`` open hours across a closure.
``tests/test_features_causality.py`` proves causality per family.

Names read ``<column>_<kind>_<window>h``: ``close_ret_24h``, ``basis_z_168h``, ``funding_z_168h``,
``macro_spx_pct_24h``, ``onchain_exchange_netflow_delta_24h``, ``hour_sin``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from trainer.data.calendar import Calendar, calendar_of
from trainer.data.config import FeaturesConfig
from trainer.data.gaps import calendar_hint, position_in_segment
from trainer.errors import UserError


@dataclass(frozen=True)
class Feature:
    name: str
    lookback: int  # earlier rows it reads: valid only where position_in_segment >= lookback
    compute: Callable[[], np.ndarray]  # (n,) float64 over the whole table


Family = Callable[[pd.DataFrame, FeaturesConfig], list[Feature]]


# --- trailing-window primitives over (n,) float64 arrays ------------------------------------


def lagged_diff(x: np.ndarray, h: int) -> np.ndarray:
    """x_t - x_{t-h}, NaN for the first h rows."""
    out = np.full_like(x, np.nan)
    out[h:] = x[h:] - x[:-h]
    return out


def pct_change(x: np.ndarray, h: int) -> np.ndarray:
    """x_t / x_{t-h} - 1; NaN for the first h rows and where x_{t-h} is not positive."""
    out = np.full_like(x, np.nan)
    past = x[:-h]
    with np.errstate(divide="ignore", invalid="ignore"):
        out[h:] = np.where(past > 0, x[h:] / past - 1.0, np.nan)
    return out


def rolling_mean(x: np.ndarray, w: int) -> np.ndarray:
    return np.asarray(pd.Series(x).rolling(w).mean().to_numpy())


def rolling_std(x: np.ndarray, w: int) -> np.ndarray:
    return np.asarray(pd.Series(x).rolling(w).std().to_numpy())


def rolling_z(x: np.ndarray, w: int) -> np.ndarray:
    """(x_t - mean) / std over the w rows ending at t; 0 where the window is flat."""
    r = pd.Series(x).rolling(w)
    mean = r.mean().to_numpy()
    std = r.std().to_numpy()
    # Rolling sums leave ~1e-12 relative residue on a flat window: treat that as flat, not as
    # a huge z-score.
    flat = std <= 1e-9 * np.abs(mean) + 1e-15
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (x - mean) / std
    return np.asarray(np.where(flat & ~np.isnan(std), 0.0, z))


def _col(market: pd.DataFrame, name: str) -> np.ndarray:
    return np.asarray(market[name].to_numpy(dtype=np.float64))


# --- families ---------------------------------------------------------------------------------


def price_features(market: pd.DataFrame, cfg: FeaturesConfig) -> list[Feature]:
    c = cfg.price
    if not c.enabled or "close" not in market.columns:
        return []
    close = _col(market, "close")
    logc = np.log(close)
    ret1 = lagged_diff(logc, 1)
    out: list[Feature] = []
    for h in c.return_windows:
        out.append(Feature(f"close_ret_{h}h", h, partial(lagged_diff, logc, h)))
        out.append(Feature(f"close_pct_{h}h", h, partial(pct_change, close, h)))
    for w in c.zscore_windows:
        out.append(Feature(f"close_z_{w}h", w - 1, partial(rolling_z, close, w)))
    for w in c.volatility_windows:
        out.append(Feature(f"close_vol_{w}h", w, partial(rolling_std, ret1, w)))
    if "high" in market.columns and "low" in market.columns:
        hl = np.log(_col(market, "high") / _col(market, "low"))
        out.append(Feature("range_1h", 0, lambda: hl))
        for w in c.range_windows:
            out.append(Feature(f"range_mean_{w}h", w - 1, partial(rolling_mean, hl, w)))
    if "volume" in market.columns:
        logv = np.log1p(_col(market, "volume"))
        for w in c.volume_zscore_windows:
            out.append(Feature(f"volume_z_{w}h", w - 1, partial(rolling_z, logv, w)))
        for h in c.volume_delta_windows:
            out.append(Feature(f"volume_delta_{h}h", h, partial(lagged_diff, logv, h)))
    return out


def futures_features(market: pd.DataFrame, cfg: FeaturesConfig) -> list[Feature]:
    c = cfg.futures
    if not c.enabled or "close" not in market.columns:
        return []
    out: list[Feature] = []
    for column, name in (("futures_close", "basis"), ("futures_mark", "mark_basis")):
        if column not in market.columns:
            continue
        basis = _col(market, column) / _col(market, "close") - 1.0
        out.append(Feature(name, 0, partial(np.asarray, basis)))
        for h in c.delta_windows:
            out.append(Feature(f"{name}_delta_{h}h", h, partial(lagged_diff, basis, h)))
        for w in c.zscore_windows:
            out.append(Feature(f"{name}_z_{w}h", w - 1, partial(rolling_z, basis, w)))
    return out


def funding_features(market: pd.DataFrame, cfg: FeaturesConfig) -> list[Feature]:
    c = cfg.funding
    if not c.enabled or "funding_rate" not in market.columns:
        return []
    rate = _col(market, "funding_rate")
    out = [Feature("funding", 0, lambda: rate)]
    for h in c.delta_windows:
        out.append(Feature(f"funding_delta_{h}h", h, partial(lagged_diff, rate, h)))
    for w in c.zscore_windows:
        out.append(Feature(f"funding_z_{w}h", w - 1, partial(rolling_z, rate, w)))
    return out


def macro_features(market: pd.DataFrame, cfg: FeaturesConfig) -> list[Feature]:
    """Change of each macro column over each window, as held from its publication hour."""
    c = cfg.macro
    if not c.enabled:
        return []
    out: list[Feature] = []
    for column in [str(k) for k in market.columns if str(k).startswith("macro_")]:
        x = _col(market, column)
        for h in c.change_windows:
            if column.endswith("_pct"):  # already a percentage (yields): a ratio means little
                out.append(Feature(f"{column}_delta_{h}h", h, partial(lagged_diff, x, h)))
            else:
                out.append(Feature(f"{column}_pct_{h}h", h, partial(pct_change, x, h)))
    return out


def onchain_features(market: pd.DataFrame, cfg: FeaturesConfig) -> list[Feature]:
    c = cfg.onchain
    if not c.enabled:
        return []
    out: list[Feature] = []
    for column in [str(k) for k in market.columns if str(k).startswith("onchain_")]:
        x = _col(market, column)
        for h in c.delta_windows:
            out.append(Feature(f"{column}_delta_{h}h", h, partial(lagged_diff, x, h)))
        for w in c.zscore_windows:
            out.append(Feature(f"{column}_z_{w}h", w - 1, partial(rolling_z, x, w)))
    return out


def calendar_features(market: pd.DataFrame, cfg: FeaturesConfig) -> list[Feature]:
    """Hour of day and day of week (UTC) on the unit circle: known in advance, no lookback."""
    if not cfg.calendar:
        return []
    index = pd.DatetimeIndex(market.index)
    hour = 2 * np.pi * index.hour.to_numpy(dtype=np.float64) / 24
    dow = 2 * np.pi * index.day_of_week.to_numpy(dtype=np.float64) / 7
    return [
        Feature("hour_sin", 0, lambda: np.sin(hour)),
        Feature("hour_cos", 0, lambda: np.cos(hour)),
        Feature("dow_sin", 0, lambda: np.sin(dow)),
        Feature("dow_cos", 0, lambda: np.cos(dow)),
    ]


FAMILIES: dict[str, Family] = {
    "price": price_features,
    "futures": futures_features,
    "funding": funding_features,
    "macro": macro_features,
    "onchain": onchain_features,
    "calendar": calendar_features,
}


# --- the builder --------------------------------------------------------------------------------


def plan_features(
    market: pd.DataFrame, cfg: FeaturesConfig, families: Sequence[str] | None = None
) -> list[Feature]:
    """The recipes of every enabled family whose columns the market has, in a stable order."""
    chosen = list(FAMILIES) if families is None else list(families)
    return [f for name in chosen for f in FAMILIES[name](market, cfg)]


def check_history(
    market: pd.DataFrame, plan: Sequence[Feature], calendar: Calendar | None = None
) -> None:
    """UserError when no segment is long enough for the longest lookback (suggesting a calendar
    when a 24/7 table misses the same hours every week)."""
    if not plan:
        raise UserError(
            f"features: no feature to build from columns {', '.join(map(str, market.columns))};"
            " enable a family in features.* whose role the data has (close is enough for price)"
        )
    calendar = calendar_of(market) if calendar is None else calendar
    longest = max(plan, key=lambda f: f.lookback)
    index = pd.DatetimeIndex(market.index)
    pos = position_in_segment(index, calendar)
    have = int(pos.max()) + 1 if len(pos) else 0
    if have <= longest.lookback:
        raise UserError(
            f"market: the longest stretch without a gap has {have} hours; feature "
            f"'{longest.name}' needs {longest.lookback + 1}.{calendar_hint(index, calendar)}"
            " Give more data or shorten the windows in features.*"
        )


def build_features(
    market: pd.DataFrame,
    cfg: FeaturesConfig,
    families: Sequence[str] | None = None,
    calendar: Calendar | None = None,
) -> pd.DataFrame:
    """(n, k) float64 features on ``market.index``; NaN in each segment's warm-up.

    ``calendar``: whose open hours the rows are (None: the one the table was loaded with).
    """
    calendar = calendar_of(market) if calendar is None else calendar
    plan = plan_features(market, cfg, families)
    check_history(market, plan, calendar)
    pos = position_in_segment(pd.DatetimeIndex(market.index), calendar)
    # One Fortran-ordered block, filled column by column: the frame wraps it without a copy,
    # so the peak memory is the output plus a few columns.
    out = np.empty((len(market), len(plan)), dtype=np.float64, order="F")
    for j, feature in enumerate(plan):
        col = out[:, j]
        col[:] = feature.compute()
        col[pos < feature.lookback] = np.nan
    names = [f.name for f in plan]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise UserError(f"features: two features are named '{dup}'; rename a market column")
    return pd.DataFrame(out, index=market.index, columns=names, copy=False)


def constant_columns(X_train: np.ndarray, names: Sequence[str], tol: float) -> list[str]:
    """Names of the columns whose std over the training rows is at most ``tol`` (NaN ignored).

    Call it on the training part only; drop the same names at predict time.
    """
    if X_train.shape[1] != len(names):
        raise ValueError(f"{X_train.shape[1]} columns but {len(names)} names")
    if X_train.shape[0] == 0:
        return list(names)
    with warnings.catch_warnings():  # an all-NaN column warns; it is constant for our purpose
        warnings.simplefilter("ignore", RuntimeWarning)
        std = np.nanstd(X_train, axis=0)
    return [n for n, s in zip(names, std, strict=True) if not s > tol]
