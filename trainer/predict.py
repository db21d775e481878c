"""python -m trainer.predict run=PATH [predict.start=T] [predict.end=T] [predict.last_hours=N]
                             [predict.out=DIR] [data=csv data.path=F ...]

Scores new hours with a saved model: a run, a study's ``best/`` or ``artifacts/promoted/<target>``.
The run's stored config (with any overrides, ``trainer.run_config``) says where the data is and
which features to build; the saved feature list, scaler and threshold do the rest. Writes
``predictions.parquet`` and ``predictions.csv`` (timestamp, score, position, threshold,
model_id, data_hash, status) to ``predict.out``. A live system calls it every hour.

Every check (the run, the data, the features the model needs, the requested hours and the
history before them) comes before any model is loaded. Features are computed only for the
requested rows and the history they need; heavy libraries load only when the model does.
Hours missing from the data (a gap longer than ``data.max_ffill_hours``) are listed with
status ``gap``, never filled.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainer.errors import UserError, at_least

CONF_FILE = Path(__file__).resolve().parents[1] / "conf" / "predict.yaml"
PREDICTIONS = "predictions"
# Top-level keys of a run's config: given bare on the command line they override the run.
RUN_KEYS = ("model", "data", "features", "split", "hardware", "target", "objective", "costs")
STATUS_OK = "predicted"
STATUS_GAP = "gap"  # the hour is missing from the data
STATUS_WARMUP = "warm-up"  # after a gap: too few hours since it for the model's windows


@dataclass
class PredictOptions:
    start: str | None = None
    end: str | None = None
    last_hours: int | None = None
    out: str | None = None

    def __post_init__(self) -> None:
        for key in ("start", "end"):
            value = getattr(self, key)
            if value is not None:
                _utc(value, f"predict.{key}")
        if self.last_hours is not None:
            at_least("predict.last_hours", self.last_hours, 1)
            if self.start is not None or self.end is not None:
                raise UserError("predict.last_hours with predict.start/end: give one or the other")


@dataclass
class PredictConfig:
    run: str | None = None
    overrides: list[str] = field(default_factory=list)
    predict: PredictOptions = field(default_factory=PredictOptions)
    progress: bool = True


@dataclass(frozen=True)
class Predictions:
    frame: pd.DataFrame  # one row per requested hour (see the module doc)
    run: Path
    model: str
    target: str
    model_id: str
    data_hash: str
    threshold: float
    history_hours: int  # rows each first hour needs before it
    seconds: float


def model_id(model_sha256: dict[str, str]) -> str:
    """A short id of a saved model: sha256 over its files' sha256 (path order)."""
    text = json.dumps(model_sha256, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def decision_positions(
    scores: np.ndarray, rule: Any, returns: np.ndarray, hours: np.ndarray, spec: Any
) -> np.ndarray:
    """The model's decision rule hour by hour (``trainer.objective.hourly_positions``, what the
    trainer's metrics and the evaluation's backtests trade): its calibrated ``rule`` at each
    decision hour (every hour for 1h, hours 0, 4, ... UTC for 4h), held until the next one,
    flat without a score and before the first decision. The one place predict and forward
    tests turn scores into positions.

    scores, returns, hours: (n,) of consecutive hours; ``returns`` are the forward
    horizon-hour log returns (NaN where not yet known), read only by ``vol_target`` sizing.
    """
    from trainer.objective import hourly_positions

    held: np.ndarray = hourly_positions(scores, rule, returns, hours, spec)[0]
    return held


# --- the command ----------------------------------------------------------------------------


def predict(cfg: PredictConfig) -> Predictions:
    """Score the requested hours of ``cfg`` (see the module doc); nothing is written."""
    from trainer.artifacts import load_run, read_pinned
    from trainer.dataset import market_hash
    from trainer.fit import objective_spec
    from trainer.run_config import compose_run_config

    t0 = time.perf_counter()
    if not cfg.run:
        raise UserError(
            "run=PATH is required: a run directory (outputs/...), a study's best/ or"
            " artifacts/promoted/<target>"
        )
    given = Path(cfg.run)
    if not given.is_dir():
        raise UserError(
            f"run={cfg.run}: no such directory (a run, a study's best/ or a promoted model)"
        )

    def read(root: Path) -> tuple[Any, Any]:
        # metadata's keys and the model files' sha256 checked, then loaded
        run = load_run(root)
        return run, compose_run_config(root, list(cfg.overrides))

    # a promotion or a study swaps the link meanwhile: one whole copy is read, never two
    run_dir, (run, conf) = read_pinned(given, read)
    meta = run.metadata
    if conf.data.source == "npz":
        raise UserError(
            "data.source=npz: prepared splits carry no market hours to predict; pass the market"
            " table (data=csv data.path=F, data=parquet ..., data=binance_btc ...)"
        )
    context = sequence_context(conf.model) + rule_history(conf)
    hold = conf.target.hours - 1
    names = [str(n) for n in meta["feature_names"]]
    recent = _recent(cfg.predict, conf, context + hold)
    while True:
        try:
            market, hours, at, needed = _locate(cfg.predict, conf, names, recent, context + hold)
            break
        except UserError:
            if recent is None:
                raise
            recent = None  # the files' ends were not enough: judge on the whole files
    index = pd.DatetimeIndex(market.index)
    present = at[at >= 0]
    first = int(present[0])
    lo, hi = first - needed, int(present[-1]) + 1
    scores = _score(run, market.iloc[lo:hi], names, conf)
    rule = run.rule
    threshold = rule.upper
    held = decision_positions(
        scores,
        rule,
        _forward_returns(market.iloc[lo:hi], conf),
        _hour_of_day(index[lo:hi]),
        objective_spec(conf),
    )
    data_hash = market_hash(market.iloc[lo:hi])  # the rows these predictions come from
    mid = model_id(run.metadata.get("model_sha256") or {})
    frame = _frame(hours, at - lo, scores, held, threshold, mid, data_hash)
    if cfg.predict.start is None and cfg.predict.last_hours is None:
        # "every hour it can": from the first hour whose features are complete (a role that
        # starts late, such as funding, can make that later than the longest window)
        first_ok = np.flatnonzero(frame["status"].to_numpy() == STATUS_OK)
        frame = frame.iloc[int(first_ok[0]) if first_ok.size else 0 :].reset_index(drop=True)
    return Predictions(
        frame=frame,
        run=run_dir,
        model=conf.model.name,
        target=f"{conf.target.horizon}_{conf.target.task}",
        model_id=mid,
        data_hash=data_hash,
        threshold=threshold,
        history_hours=needed,
        seconds=time.perf_counter() - t0,
    )


def _locate(
    opts: PredictOptions, conf: Any, names: list[str], recent: Any, extra: int
) -> tuple[pd.DataFrame, pd.DatetimeIndex, np.ndarray, int]:
    """The market, the requested hours, their rows in it (-1: in a gap) and the history
    each first hour needs; every check of the request against the data."""
    from trainer.data.calendar import epoch_hours
    from trainer.data.features import plan_features
    from trainer.data.gaps import position_in_segment
    from trainer.data.market import load_market

    market = load_market(conf.data, recent)
    plan = plan_features(market, conf.features)
    planned = {f.name for f in plan}
    missing = [n for n in names if n not in planned]
    if missing:
        raise UserError(_missing_features(missing, market, conf.data.source))
    # History: the longest window of the features (the rows training kept had all of them),
    # the sequence model's window, and the decision hours a held position may come from.
    lookback = max(f.lookback for f in plan)
    needed = lookback + extra
    index = pd.DatetimeIndex(market.index)
    calendar = conf.data.trading_calendar()
    pos = position_in_segment(index, calendar)
    hours = requested_hours(opts, index, pos, needed)
    if not calendar.always_open:  # scheduled closures are not hours to predict, nor gaps
        hours = hours[calendar.is_open(epoch_hours(hours))]
    at = index.get_indexer(hours)
    present = at[at >= 0]
    if present.size == 0:
        raise UserError(
            f"{_what(opts)}: every requested hour is inside a gap of the data; nothing to predict"
        )
    first = int(present[0])
    if pos[first] < needed:
        raise UserError(
            f"{_what(opts)}: the first requested hour {index[first]:%Y-%m-%d %H:%M} needs"
            f" {needed} hours of history before it ({_needs(plan, lookback, extra)}); the data"
            f" has {int(pos[first])} (since {index[first - int(pos[first])]:%Y-%m-%d %H:%M} UTC,"
            " after a gap or its first row); request later hours or give earlier data"
        )
    return market, hours, at, needed


def rule_history(conf: Any) -> int:
    """Earlier hours the decision rule reads: the realised volatility of ``vol_target``."""
    if conf.strategy.name != "vol_target":
        return 0
    return int(conf.strategy.vol_window_hours) + conf.target.hours


def _forward_returns(market: pd.DataFrame, conf: Any) -> np.ndarray:
    """Forward horizon-hour log returns of each row, NaN where the future is not in the data."""
    from trainer.data.labels import make_labels

    h = conf.target.hours
    labels = make_labels(market, (h,), conf.data.trading_calendar())
    return np.asarray(labels[f"ret_{h}h"].to_numpy(dtype=np.float64))


def _score(run: Any, market: pd.DataFrame, names: list[str], conf: Any) -> np.ndarray:
    """Scores of every row of ``market`` (NaN where the features are incomplete) by the loaded
    ``run``. ``market`` holds the requested rows and their history."""
    from trainer.data.features import build_features
    from trainer.dataset import segments_of
    from trainer.learners.base import SplitData

    calendar = conf.data.trading_calendar()
    feats = build_features(market, conf.features, calendar=calendar)
    complete = feats.notna().all(axis=1).to_numpy()  # as the training table kept its rows
    X = run.scaler.transform(feats[names].to_numpy(dtype=np.float64)[complete])
    ts = pd.DatetimeIndex(market.index[complete]).tz_convert("UTC").tz_localize(None)
    stamps = ts.to_numpy("datetime64[ns]")
    n = X.shape[0]
    part = SplitData(X, np.zeros(n), np.zeros(n), stamps, segments_of(stamps, calendar))
    scores = np.full(len(market), np.nan)
    if n:
        scores[complete] = np.asarray(run.learner.predict(part), dtype=np.float64)
    return scores


def _frame(
    hours: pd.DatetimeIndex,
    rows: np.ndarray,
    scores: np.ndarray,
    held: np.ndarray,
    threshold: float,
    mid: str,
    data_hash: str,
) -> pd.DataFrame:
    gap = rows < 0
    where = np.where(gap, 0, rows)
    score = np.where(gap, np.nan, scores[where])
    position = np.where(gap, np.nan, held[where])
    status = np.where(gap, STATUS_GAP, np.where(np.isfinite(score), STATUS_OK, STATUS_WARMUP))
    position = np.where(status == STATUS_OK, position, np.nan)
    return pd.DataFrame(
        {
            "timestamp": hours,
            "score": score,
            "position": position,
            "threshold": threshold,
            "model_id": mid,
            "data_hash": data_hash,
            "status": status,
        }
    )


# Hours read beyond the longest window when only a file's end is read: filled hours, held
# values and a role that starts late all fit in a week.
RECENT_MARGIN_HOURS = 168


def _recent(opts: PredictOptions, conf: Any, extra: int) -> Any:
    """How much of the files' ends the request needs (None: every hour, read them whole)."""
    from trainer.data.market import Recent

    back = longest_window(conf.features) + extra + RECENT_MARGIN_HOURS
    if opts.last_hours is not None:
        return Recent(hours=opts.last_hours + back)
    if opts.start is not None:
        return Recent(since=_utc(opts.start, "predict.start") - pd.Timedelta(hours=back))
    return None


def longest_window(features: Any) -> int:
    """The longest window (hours) any feature family of ``features`` is configured with."""
    from dataclasses import fields, is_dataclass

    longest = 0
    for f in fields(features):
        value = getattr(features, f.name)
        if is_dataclass(value):
            longest = max(longest, longest_window(value))
        elif isinstance(value, list) and f.name.endswith("_windows"):
            longest = max([longest, *(int(v) for v in value)])
    return longest


def sequence_context(model: Any) -> int:
    """Earlier rows a prediction's input window reads (0 for trees)."""
    length = getattr(model, "sequence_len", None)
    if isinstance(length, int):
        return length - 1
    members = getattr(model, "used_members", None)
    if members is None:
        return 0
    from trainer.learners.config import member_params

    out = 0
    for member in members():
        if member.model is not None:
            out = max(out, sequence_context(member_params(member)))
        elif member.path is not None:
            out = max(out, _saved_context(Path(member.path)))
    return out


def _saved_context(path: Path) -> int:
    try:
        config = json.loads((path / "metadata.json").read_text())["config"]["model"]
    except (OSError, ValueError, KeyError, TypeError):
        return 0
    length = config.get("sequence_len") if isinstance(config, dict) else None
    return int(length) - 1 if isinstance(length, int) else 0


def requested_hours(
    opts: PredictOptions, index: pd.DatetimeIndex, pos: np.ndarray, needed: int
) -> pd.DatetimeIndex:
    """The hourly grid of hours to predict (gaps included), checked against the data."""
    first, last = index[0], index[-1]
    span = f"the data covers {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC"
    if opts.last_hours is not None:
        start = last - pd.Timedelta(hours=opts.last_hours - 1)
        if start < first:
            hours = int((last - first) / pd.Timedelta(hours=1)) + 1
            raise UserError(f"predict.last_hours={opts.last_hours}: {span} ({hours} hours)")
        return pd.date_range(start, last, freq="h")
    if opts.start is None:
        ready = np.flatnonzero(pos >= needed)
        if ready.size == 0:
            raise UserError(
                f"data: no hour has the {needed} hours of history the model needs ({span},"
                f" the longest stretch without a gap has {int(pos.max()) + 1}); give more data"
            )
        start = index[int(ready[0])]
    else:
        start = _utc(opts.start, "predict.start")
    end = last if opts.end is None else _end(opts.end)
    if start > end:
        raise UserError(f"predict.start={opts.start} is after predict.end={opts.end}")
    if start < first or start > last:
        raise UserError(f"predict.start={opts.start}: outside the data ({span})")
    if end > last:
        raise UserError(
            f"predict.end={opts.end}: after the data's last hour ({span}); hours not in the data"
            " cannot be predicted"
        )
    return pd.date_range(start.ceil("h"), end.floor("h"), freq="h")


def _utc(value: str, key: str) -> pd.Timestamp:
    try:
        t = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise UserError(
            f"{key}={value!r}: not a time (use YYYY-MM-DD or 'YYYY-MM-DD HH:MM')"
        ) from None
    if pd.isna(t):
        raise UserError(f"{key}={value!r}: not a time (use YYYY-MM-DD or 'YYYY-MM-DD HH:MM')")
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def _end(value: str) -> pd.Timestamp:
    """A bare date means through its last hour."""
    t = _utc(value, "predict.end")
    return t + pd.Timedelta(hours=23) if t == t.normalize() and len(str(value).strip()) <= 10 else t


def _hour_of_day(index: pd.DatetimeIndex) -> np.ndarray:
    return np.asarray(index.hour, dtype=np.int64)


def _what(opts: PredictOptions) -> str:
    if opts.last_hours is not None:
        return f"predict.last_hours={opts.last_hours}"
    if opts.start is not None:
        return f"predict.start={opts.start}"
    return "predict"


def _needs(plan: list[Any], lookback: int, extra: int) -> str:
    longest = max(plan, key=lambda f: f.lookback)
    text = f"feature '{longest.name}' reads {lookback}"
    if extra:
        text += f"; the model's input window, the rule's history and held decision {extra} more"
    return text


# Features by the market columns (roles) they come from, to name what the data lacks.
_ROLE_OF = (
    ("mark_basis", "futures_mark (column futures_mark)"),
    ("basis", "futures (column futures_close)"),
    ("funding", "funding (column funding_rate)"),
    ("macro_", "macro (columns macro_*)"),
    ("onchain_", "onchain (columns onchain_*)"),
    ("range_", "price (columns high, low)"),
    ("volume_", "price (column volume)"),
    ("close_", "price (column close)"),
    ("hour_", "calendar (features.calendar)"),
    ("dow_", "calendar (features.calendar)"),
)


def _missing_features(missing: list[str], market: pd.DataFrame, source: str) -> str:
    roles = []
    for name in missing:
        role = next((r for prefix, r in _ROLE_OF if name.startswith(prefix)), "an unknown role")
        if role not in roles:
            roles.append(role)
    shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    return (
        f"data ({source}): the model needs feature(s) {shown} from role {'; '.join(roles)},"
        f" which the data lacks (its columns: {', '.join(map(str, market.columns))}); give the"
        " data the model was trained with"
    )


# --- output ---------------------------------------------------------------------------------


def default_out(now: datetime | None = None) -> Path:
    """Where a Hydra run directory of this command would be: outputs/predict/<date>/<time>."""
    now = now or datetime.now()
    return Path("outputs") / "predict" / f"{now:%Y-%m-%d}" / f"{now:%H-%M-%S-%f}"


def write(pred: Predictions, out: Path) -> dict[str, Path]:
    """predictions.parquet and predictions.csv in ``out``, each written atomically."""
    from trainer.atomic import atomic_write

    out.mkdir(parents=True, exist_ok=True)
    paths = {"parquet": out / f"{PREDICTIONS}.parquet", "csv": out / f"{PREDICTIONS}.csv"}
    frame = pred.frame.assign(timestamp=pred.frame["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    atomic_write(paths["parquet"], lambda fh: pred.frame.to_parquet(fh, index=False))
    atomic_write(paths["csv"], frame.to_csv(index=False, float_format="%.17g"))
    return paths


def print_summary(pred: Predictions, paths: dict[str, Path]) -> None:
    from rich.console import Console
    from rich.table import Table as RichTable

    console = Console()
    f = pred.frame
    counts = f["status"].value_counts().to_dict()
    table = RichTable(title=f"{pred.model} · {pred.target} · model {pred.model_id}")
    for col in ("hour (UTC)", "score", "position", "status"):
        table.add_column(col, justify="right" if col in ("score", "position") else "left")
    shown = f.tail(10)
    if len(f) > 10:
        table.add_row("...", "", "", f"{len(f) - 10} earlier hours")
    for t, s, p, status in zip(
        shown["timestamp"], shown["score"], shown["position"], shown["status"], strict=True
    ):
        score = "" if np.isnan(s) else f"{s:.4f}"
        position = "" if np.isnan(p) else f"{p:+.0f}"
        table.add_row(f"{t:%Y-%m-%d %H:%M}", score, position, str(status))
    console.print(table)
    others = ", ".join(f"{v} {k}" for k, v in counts.items() if k != STATUS_OK)
    console.print(
        f"{counts.get(STATUS_OK, 0)} hours predicted"
        + (f" ({others} not)" if others else "")
        + f", threshold {pred.threshold:.4f}, data sha256 {pred.data_hash[:12]},"
        f" {pred.seconds:.2f} s"
    )
    console.print(f"predictions: {paths['parquet']} and {paths['csv'].name}")


# --- command line ---------------------------------------------------------------------------


def parse_args(args: list[str]) -> PredictConfig:
    """The command line as a PredictConfig: predict keys, plus bare run-config overrides."""
    from omegaconf import OmegaConf

    from trainer.run_config import parse_overrides

    run_overrides: list[str] = []
    own: list[str] = []
    for arg in args:
        key = arg.split("=", 1)[0]
        root = key.lstrip("+~").split(".", 1)[0]
        if "=" not in arg:
            raise UserError(f"argument {arg!r}: expected key=value (see --help)")
        if root in RUN_KEYS:
            run_overrides.append(arg)
        elif root in ("run", "overrides", "predict", "progress"):
            own.append(arg)
        else:
            raise UserError(
                f"{key}: not a key of python -m trainer.predict (run, predict.start, predict.end,"
                f" predict.last_hours, predict.out, progress) nor of the run's config"
                f" ({', '.join(RUN_KEYS)})"
            )
    _, keys = parse_overrides(own)
    try:
        base = OmegaConf.merge(OmegaConf.structured(PredictConfig), OmegaConf.load(CONF_FILE))
        for key, value in keys:
            OmegaConf.update(base, key, value, merge=False)
        obj = OmegaConf.to_object(base)
    except UserError:
        raise
    except Exception as exc:  # omegaconf: unknown key, wrong type
        bad = getattr(exc, "full_key", None)
        msg = str(exc).splitlines()[0]
        raise UserError(f"config key '{bad}': {msg}" if bad else f"config: {msg}") from None
    assert isinstance(obj, PredictConfig)
    obj.overrides = [*obj.overrides, *run_overrides]
    return obj


def main(args: list[str]) -> None:
    if any(a in ("-h", "--help") for a in args):
        print(__doc__)
        return
    cfg = parse_args(args)
    pred = predict(cfg)
    out = Path(cfg.predict.out) if cfg.predict.out else default_out()
    paths = write(pred, out)
    if cfg.progress:
        print_summary(pred, paths)


if __name__ == "__main__":
    import os

    from trainer.cli import fail, process_defaults

    process_defaults(os.environ)
    try:
        main(sys.argv[1:])
    except UserError as exc:
        fail(str(exc))
