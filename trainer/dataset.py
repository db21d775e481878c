"""Market table -> features + labels (built once) -> split -> scaled parts.

``build_table`` does the expensive, split-independent work once; ``prepare`` cuts one fold
out of it, drops columns constant on that fold's training part and fits the scaler there.
Walk-forward evaluation calls ``build_table`` once and ``prepare`` per fold.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from trainer.data.config import DataConfig, FeaturesConfig
from trainer.data.table import Table as Table
from trainer.data.table import market_hash as market_hash
from trainer.data.table import segments_of as segments_of
from trainer.errors import UserError
from trainer.learners.base import SplitData
from trainer.scaling import Scaler
from trainer.splits import Fold

LABEL_HORIZONS = (1, 4)


@dataclass(frozen=True)
class Prepared:
    train: SplitData
    valid: SplitData
    test: SplitData
    feature_names: list[str]  # kept after dropping constant columns
    dropped: list[str]
    scaler: Scaler
    fold: Fold
    table: Table

    def bounds(self) -> dict[str, list[str]]:
        return self.fold.bounds(self.table.timestamps)


def table_key(data: DataConfig, features: FeaturesConfig) -> str:
    """What a table depends on: the configs and the source files' stats (path, mtime, size)."""
    stats = []
    for name in ("path", "root"):
        value = getattr(data, name, None)
        if isinstance(value, str) and value:
            p = Path(value)
            files = sorted(p.iterdir()) if p.is_dir() else [p]
            stats += [(str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files if f.exists()]
    return json.dumps([repr(data), repr(features), stats])


def build_table(data: DataConfig, features: FeaturesConfig) -> Table:
    """Load the source and build every feature and label (split-independent, done once).

    The trials of a sweep share one through their ``trainer.trial_cache.TrialCache``.
    """
    if data.source == "npz":
        from trainer.data.npz import read_table

        return read_table(data)
    from trainer.data.features import build_features
    from trainer.data.gaps import gap_report
    from trainer.data.labels import make_labels
    from trainer.data.market import load_market

    market = load_market(data)
    calendar = data.trading_calendar()
    feats = build_features(market, features, calendar=calendar)
    labels = make_labels(market, LABEL_HORIZONS, calendar)
    complete = feats.notna().all(axis=1).to_numpy() & labels.notna().all(axis=1).to_numpy()
    if not complete.any():
        raise UserError(
            f"data source '{data.source}': no row has complete features and labels"
            " (too little history for the longest feature window?)"
        )
    index = pd.DatetimeIndex(market.index[complete])
    timestamps = index.tz_convert("UTC").tz_localize(None).to_numpy("datetime64[ns]")
    return Table(
        X=np.ascontiguousarray(feats.to_numpy(dtype=np.float64)[complete]),
        feature_names=[str(c) for c in feats.columns],
        timestamps=timestamps,
        labels={c: labels[c].to_numpy(dtype=np.float64)[complete] for c in labels.columns},
        segment=segments_of(timestamps, calendar),
        data_hash=market_hash(market),
        source=data.source,
        gap_report={
            "as_read": market.attrs.get("gaps_before_fill", {}),
            "after_fill": gap_report(pd.DatetimeIndex(market.index), calendar),
        },
        calendar=calendar,
    )


def constant_columns(X_train: np.ndarray, tol: float) -> np.ndarray:
    """Boolean mask of columns whose training std is at most ``tol``."""
    return np.asarray(X_train.std(axis=0) <= tol)


def prepare(table: Table, fold: Fold, horizon: int, task: str, constant_tol: float) -> Prepared:
    """Cut one fold, drop train-constant columns, scale with train statistics; read-only."""
    constant = constant_columns(table.X[fold.train], constant_tol)
    keep = ~constant
    if not keep.any():
        raise UserError("every feature is constant on the training part; nothing to learn from")
    # Only the fold's own rows are copied and scaled (a walk-forward fold is a slice of years).
    parts = (fold.train, fold.valid, fold.test)
    lo, hi = min(s.start for s in parts), max(s.stop for s in parts)
    X = table.X[lo:hi][:, keep]
    scaler = Scaler.fit(X[fold.train.start - lo : fold.train.stop - lo])
    for stat in (scaler.mean, scaler.scale):
        stat.flags.writeable = False
    scaled = scaler.transform(X)  # (hi - lo, kept) float32; parts below are views into it
    scaled.flags.writeable = False
    if f"ret_{horizon}h" not in table.labels:  # an npz cut with a shorter embargo
        raise UserError(
            f"data source '{table.source}' has no leak-free {horizon}h labels (it offers "
            f"{', '.join(sorted(table.labels))}); write it with target.horizon={horizon}h"
        )
    ret = table.labels[f"ret_{horizon}h"]
    y = table.labels[f"dir_{horizon}h"] if task == "direction" else ret

    def part(s: slice) -> SplitData:
        rows = slice(s.start - lo, s.stop - lo)
        arrays = (scaled[rows], y[s], ret[s], table.timestamps[s], table.segment[s])
        for a in arrays:  # views of the table a sweep's trials share: read only
            a.flags.writeable = False
        return SplitData(*arrays)

    names = np.asarray(table.feature_names)
    return Prepared(
        train=part(fold.train),
        valid=part(fold.valid),
        test=part(fold.test),
        feature_names=names[keep].tolist(),
        dropped=names[constant].tolist(),
        scaler=scaler,
        fold=fold,
        table=table,
    )
