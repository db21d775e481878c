"""Prepared splits as .npz with a JSON sidecar: write them from any source, train from them.

Write both files of the plan from the config a run would use (same data, features and split):

    python -m trainer.write_splits [data=binance_btc data.root=../shared/data] [target.horizon=4h]

writes ``<artifacts_dir>/datasets/btc_features_multi_horizon_splits.npz`` (``X_<part>``,
``y_ret_1h_<part>``, ``y_dir_1h_<part>``, ``y_ret_4h_<part>``, ``y_dir_4h_<part>``,
``timestamps_<part>`` for part in train/valid/test, and ``feature_names``) and
``btc_features_1h_direction_splits.npz`` (``X_<part>``, ``y_<part>`` = 1h direction,
``y_ret_1h_<part>`` for the trading metrics, ``timestamps_<part>``, ``feature_names``), each with
a ``.json`` sidecar: feature names, the scaler statistics of X_train, the data hash of the source
table, the source, the split bounds and embargo, and the sha256 of the npz. Then

    python -m trainer data=npz data.path=artifacts/datasets/btc_features_multi_horizon_splits.npz

trains on exactly the rows, features and cut of the source run, so its metrics are the same.

X is stored unscaled (float64): the trainer drops train-constant columns and scales with train
statistics as it does for any source, so both paths compute the same numbers. Labels whose
horizon is longer than the embargo the file was cut with are not offered to the trainer (they
would overlap the next part): export with ``target.horizon=4h`` to train 4h models from npz.
Files are written to a temporary name and renamed, so a crash never leaves a partial file.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from trainer.atomic import atomic_write
from trainer.data.config import DataConfig, NpzDataConfig
from trainer.data.table import Table, segments_of
from trainer.errors import UserError
from trainer.scaling import Scaler
from trainer.splits import Fold

PARTS = ("train", "valid", "test")
MULTI = "btc_features_multi_horizon_splits.npz"
ONE_HOUR = "btc_features_1h_direction_splits.npz"
FORMAT = "quantsweep-splits-1"


# --- writing ------------------------------------------------------------------------------------


def write_splits(out_dir: Path, table: Table, fold: Fold, embargo_hours: int) -> list[Path]:
    """Both npz files (and sidecars) of ``table`` cut by ``fold``; returns the npz paths."""
    parts = {p: getattr(fold, p) for p in PARTS}
    names = np.asarray(table.feature_names, dtype=str)
    common: dict[str, np.ndarray] = {"feature_names": names}
    for p, s in parts.items():
        common[f"X_{p}"] = np.ascontiguousarray(table.X[s], dtype=np.float64)
        common[f"timestamps_{p}"] = np.asarray(table.timestamps[s], dtype="datetime64[ns]")
    multi = dict(common)
    one = dict(common)
    for p, s in parts.items():
        for key in ("ret_1h", "dir_1h", "ret_4h", "dir_4h"):
            multi[f"y_{key}_{p}"] = np.asarray(table.labels[key][s], dtype=np.float64)
        one[f"y_{p}"] = np.asarray(table.labels["dir_1h"][s], dtype=np.float64)
        one[f"y_ret_1h_{p}"] = np.asarray(table.labels["ret_1h"][s], dtype=np.float64)
    sidecar = {
        "format": FORMAT,
        "feature_names": names.tolist(),
        "scaler": Scaler.fit(table.X[parts["train"]]).to_json(),
        "x_scaled": False,
        "data_hash": table.data_hash,
        "source": table.source,
        "gaps": table.gap_report,
        "calendar": table.calendar.to_json(),
        "split": {
            "fold": fold.name,
            "bounds": fold.bounds(table.timestamps),
            "embargo_hours": int(embargo_hours),
            "rows": {p: int(s.stop - s.start) for p, s in parts.items()},
        },
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, arrays, labels in (
        (MULTI, multi, ["ret_1h", "dir_1h", "ret_4h", "dir_4h"]),
        (ONE_HOUR, one, ["dir_1h", "ret_1h"]),
    ):
        path = out_dir / name
        atomic_write(path, lambda fh, a=arrays: np.savez(fh, **a))  # type: ignore[misc]
        meta = {**sidecar, "file": name, "labels": labels, "sha256": _sha256(path)}
        atomic_write(path.with_suffix(".json"), json.dumps(meta, indent=2))
        written.append(path)
    return written


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --- reading ------------------------------------------------------------------------------------


def read_npz(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays and sidecar of a prepared-splits file, fully validated (UserError otherwise)."""
    if not path.is_file():
        raise UserError(f"data.path={path}: file not found (relative paths start at {Path.cwd()})")
    sidecar_path = path.with_suffix(".json")
    if not sidecar_path.is_file():
        raise UserError(f"npz {path}: its sidecar {sidecar_path.name} is missing")
    try:
        meta = json.loads(sidecar_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"sidecar {sidecar_path}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserError(f"sidecar {sidecar_path}: 'format' is not {FORMAT!r}")
    for key in ("feature_names", "data_hash", "source", "split", "labels"):
        if key not in meta:
            raise UserError(f"sidecar {sidecar_path}: key '{key}' missing")
    if meta.get("sha256") and meta["sha256"] != _sha256(path):
        raise UserError(
            f"npz {path}: contents do not match the sha256 in {sidecar_path.name}"
            " (changed after it was written?); write it again with python -m trainer.write_splits"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise UserError(f"npz {path}: not a readable npz file ({exc})") from None
    _check(path, arrays, meta)
    return arrays, meta


def _label_arrays(labels: list[str]) -> dict[str, str]:
    """label name -> array prefix in the file."""
    if labels == ["dir_1h", "ret_1h"]:  # the 1h direction file keeps the plan's y_<part>
        return {"dir_1h": "y", "ret_1h": "y_ret_1h"}
    return {k: f"y_{k}" for k in labels}


def _check(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    where = f"npz {path}"
    if "feature_names" not in arrays:
        raise UserError(f"{where}: array 'feature_names' missing")
    names = [str(n) for n in arrays["feature_names"].tolist()]
    side = [str(n) for n in meta["feature_names"]]
    if names != side:
        i = next((i for i, (a, b) in enumerate(zip(names, side, strict=False)) if a != b), None)
        detail = (
            f"feature {i}: '{names[i]}' in the npz, '{side[i]}' in the sidecar"
            if i is not None
            else f"{len(names)} features in the npz, {len(side)} in the sidecar"
        )
        raise UserError(f"{where}: feature names differ from its sidecar ({detail})")
    prefixes = ["X", "timestamps", *_label_arrays(list(meta["labels"])).values()]
    for p in PARTS:
        for prefix in prefixes:
            key = f"{prefix}_{p}"
            if key not in arrays:
                raise UserError(
                    f"{where}: array '{key}' missing (needs {', '.join(prefixes)}"
                    f" for each of {', '.join(PARTS)})"
                )
        X = arrays[f"X_{p}"]
        if X.ndim != 2 or X.shape[1] != len(names):
            raise UserError(
                f"{where}: array 'X_{p}' has shape {X.shape}; expected (rows, {len(names)})"
                " (one column per feature name)"
            )
        if not np.issubdtype(X.dtype, np.floating):
            raise UserError(f"{where}: array 'X_{p}' has dtype {X.dtype}; expected floats")
        bad = ~np.isfinite(X)
        if bad.any():
            row, col = (int(v) for v in np.argwhere(bad)[0])
            raise UserError(
                f"{where}: array 'X_{p}', column '{names[col]}', row {row + 1}: not finite"
            )
        for prefix in prefixes[1:]:
            arr = arrays[f"{prefix}_{p}"]
            if arr.shape != (X.shape[0],):
                raise UserError(
                    f"{where}: array '{prefix}_{p}' has shape {arr.shape}; X_{p} has "
                    f"{X.shape[0]} rows"
                )
        ts = arrays[f"timestamps_{p}"]
        if not np.issubdtype(ts.dtype, np.datetime64):
            raise UserError(f"{where}: array 'timestamps_{p}' is {ts.dtype}; expected datetime64")
        if X.shape[0] == 0:
            raise UserError(f"{where}: array 'X_{p}' has no rows")
    stamps = np.concatenate([arrays[f"timestamps_{p}"].astype("datetime64[ns]") for p in PARTS])
    step = np.diff(stamps.astype(np.int64))
    if (step <= 0).any():
        row = int(np.flatnonzero(step <= 0)[0]) + 1
        raise UserError(
            f"{where}: timestamps (train, valid, test in order), row {row + 1}: not after the "
            "row before; the parts must be sorted and in time order"
        )


def read_table(cfg: DataConfig) -> Table:
    """The ``trainer.dataset.Table`` of a prepared-splits file, its cut as ``fixed_split``."""
    from trainer.data.calendar import calendar_from_json

    if not isinstance(cfg, NpzDataConfig):
        raise UserError(f"data.source={cfg.source!r}: not a prepared-splits (npz) source")
    arrays, meta = read_npz(Path(cfg.path))
    calendar = calendar_from_json(meta.get("calendar"), f"data file {cfg.path}: calendar")
    asked = cfg.trading_calendar()
    if not asked.always_open and asked != calendar:
        raise UserError(
            f"data.calendar={cfg.calendar}: {cfg.path} was written with calendar"
            f" {calendar.name} ({calendar.describe()}); prepared splits keep their own calendar,"
            " leave data.calendar unset"
        )
    embargo = int(meta["split"].get("embargo_hours", 0))
    sizes = [arrays[f"X_{p}"].shape[0] for p in PARTS]
    edges = np.cumsum([0, *sizes])
    fold = Fold("npz", *(slice(int(a), int(b)) for a, b in itertools.pairwise(edges)))
    stamps = np.concatenate([arrays[f"timestamps_{p}"].astype("datetime64[ns]") for p in PARTS])
    labels = {}
    for name, prefix in _label_arrays(list(meta["labels"])).items():
        if int(name.split("_")[1].rstrip("h")) <= max(embargo, 1):  # leak-free for this cut
            labels[name] = np.concatenate([arrays[f"{prefix}_{p}"] for p in PARTS])
    return Table(
        X=np.concatenate([arrays[f"X_{p}"].astype(np.float64) for p in PARTS]),
        feature_names=[str(n) for n in arrays["feature_names"].tolist()],
        timestamps=stamps,
        labels=labels,
        segment=segments_of(stamps, calendar),
        data_hash=str(meta["data_hash"]),
        source=f"npz:{meta['source']}",
        gap_report=dict(meta.get("gaps") or {}),
        fixed_split=fold,
        calendar=calendar,
    )
