"""python benchmarks/sequence.py [--batches 8] [--repeats 3] [--micro 32] [--part all|timing|memory]

Sequence learners on CPU (2 threads, sequence_len 48, batch 256, default LSTM and Transformer
sizes) over the embedded market's real feature matrix. Prints JSON:

- ``epoch_ratio``: wall time of one epoch through the framework's learner (``fit`` with
  max_epochs=1: the training batches, then the validation pass, objective, report and
  best-weights copy) / a bare PyTorch loop over the same windows and model doing the same
  training steps and the same validation forward pass. Both run ``--batches`` batches and a
  validation part cut to the real ratio of validation to training windows, so the ratio is
  that of a full epoch; best of ``--repeats``, alternating. ``epoch_cpu_ratio``: the same in
  process CPU time. ``epoch_ratio_from_parts``: 1 + (the framework's own work, timed piece
  by piece: input statistics, the validation objective, the best-weights copy) / the bare
  epoch; steadier than whole-epoch ratios when other work shares the cores.
  ``same_predictions`` checks that both produced the same model.
- ``train_samples_per_s``: training windows per second of the bare training steps;
  ``epoch_samples_per_s``: training windows per second of a framework epoch (validation
  included); ``predict_samples_per_s``: windows per second of ``predict`` on the whole
  validation part (an epoch's scoring pass, whatever ``train_stride`` is).
- ``peak_rss_ratio``: in a fresh process, peak RSS beyond the import baseline during a
  training run (data, fit, predict) / (feature matrix + model parameters);
  ``marginal_rss_ratio``: the same with the training part 17x longer, minus the first, over the
  added matrix bytes (what the view-based windows buy: materialised windows would add ~48x;
  the labels, timestamps and segments the data carries beside the matrix add 0.15x).
  A training step's activations depend on batch and model size, not on the data, so the
  first ratio is large whenever the matrix is small (8 MB for six years of hourly features):
  ``fixed_rss_mb`` is that data-independent part, ``peak_rss_ratio_by_train_repeat`` the
  ratio with the training rows repeated 1x, 17x, 68x and 204x, whole batches and
  ``model.micro_batch_size=--micro``, and ``matrix_mb_for_ratio_1_5`` the matrix size at which
  the ratio falls to 1.5. ``epoch_time_ratio_micro32``: a micro-batched framework epoch / a
  whole-batch one (the speed cost of the memory saved).

``--part memory`` runs only the RSS children (5-10 minutes: the largest scale holds a 1.2 GB
matrix), ``--part timing`` the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEQ_LEN, BATCH, THREADS, SEED = 48, 256, 2, 0
# training lengths of the RSS runs, in copies of the training rows: 17x gives a 100 MB matrix,
# 68x 390 MB, 204x 1.2 GB (each RSS child trains the same few batches: only the data grows)
RSS_SCALES = (1, 17, 68, 204)
MICRO = 32  # the micro-batch size the report compares with whole batches


def _prepared() -> Any:
    from trainer.data.config import FeaturesConfig, SyntheticDataConfig
    from trainer.dataset import build_table, prepare
    from trainer.splits import holdout

    table = build_table(SyntheticDataConfig(), FeaturesConfig())
    return prepare(table, holdout(table.timestamps, (0.7, 0.15, 0.15), 1), 1, "direction", 1e-12)


def _params(name: str, batches: int, micro: int | None = None) -> Any:
    from trainer.learners.config import LSTMConfig, TransformerConfig

    cls = LSTMConfig if name == "lstm" else TransformerConfig
    return cls(
        sequence_len=SEQ_LEN,
        batch_size=BATCH,
        micro_batch_size=micro,
        max_epochs=1,
        max_batches_per_epoch=batches,
    )


def _context() -> Any:
    from trainer.fit import make_scorer
    from trainer.learners.base import FitContext
    from trainer.objective import ObjectiveSpec

    spec = ObjectiveSpec("f1", 1.0, -0.10, 1, 7.0)
    return FitContext("direction", SEED, THREADS, score=make_scorer(spec))


def _valid_cut(train: Any, valid: Any, batches: int) -> Any:
    """The validation part cut so valid/train windows match a full epoch's proportion."""
    from trainer.data.windows import valid_window_ends

    n_train = valid_window_ends(train.segment, SEQ_LEN).size
    n_valid = valid_window_ends(valid.segment, SEQ_LEN).size
    rows = int(batches * BATCH * n_valid / n_train) + SEQ_LEN
    return valid.subset(slice(0, rows))


def framework_epoch(
    name: str, train: Any, valid: Any, batches: int, micro: int | None = None
) -> tuple[float, float, np.ndarray]:
    """(wall s, CPU s, validation predictions) of one epoch through the learner."""
    from trainer.learners import build_learner
    from trainer.learners.base import NullReporter

    learner = build_learner(_params(name, batches, micro), _context())
    t, c = time.perf_counter(), time.process_time()
    learner.fit(train, valid, NullReporter())
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    return wall, cpu, learner.predict(valid)


def bare_epoch(
    name: str, train: Any, valid: Any, batches: int
) -> tuple[float, float, float, np.ndarray]:
    """The loop a user would write by hand: same windows, model, init and optimiser steps.

    (wall s, CPU s, wall s of the training steps alone, validation predictions).
    """
    import torch
    from torch import nn

    from trainer.data.windows import valid_window_ends, window_batch
    from trainer.learners.sequence import feature_stats
    from trainer.learners.torch_models import LSTMNet, TransformerNet

    p = _params(name, batches)
    t0, c0 = time.perf_counter(), time.process_time()
    torch.set_num_threads(THREADS)
    torch.manual_seed(SEED)
    f = train.X.shape[1]
    model: nn.Module
    if name == "lstm":
        model = LSTMNet(f, p.hidden_dim, p.num_layers, p.dropout, p.input_norm)
    else:
        model = TransformerNet(
            f,
            SEQ_LEN,
            p.d_model,
            p.num_heads,
            p.num_layers,
            p.feedforward_dim,
            p.dropout,
            p.input_norm,
        )
    mean, std = feature_stats(train.X)
    model.norm.set_stats(
        torch.tensor(mean, dtype=torch.float32), torch.tensor(std, dtype=torch.float32)
    )
    opt = torch.optim.AdamW(model.parameters(), lr=p.learning_rate, weight_decay=p.weight_decay)
    loss_fn = nn.BCEWithLogitsLoss()
    ends = valid_window_ends(train.segment, SEQ_LEN)
    order = torch.randperm(ends.size, generator=torch.Generator().manual_seed(SEED)).numpy()
    y = torch.from_numpy(train.y.astype(np.float32))
    model.train()
    t1 = time.perf_counter()
    for b in range(batches):
        idx = ends[order[b * BATCH : (b + 1) * BATCH]]
        xb = torch.from_numpy(window_batch(train.X, idx, SEQ_LEN))  # (B, L, F)
        loss = loss_fn(model(xb), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), p.grad_clip)
        opt.step()
    train_seconds = time.perf_counter() - t1
    model.eval()
    v_ends = valid_window_ends(valid.segment, SEQ_LEN)
    out = np.full(len(valid), np.nan)
    with torch.inference_mode():
        for i in range(0, v_ends.size, BATCH):
            idx = v_ends[i : i + BATCH]
            logits = model(torch.from_numpy(window_batch(valid.X, idx, SEQ_LEN)))
            out[idx] = torch.sigmoid(logits).double().numpy()
    return time.perf_counter() - t0, time.process_time() - c0, train_seconds, out


def framework_only_seconds(name: str, train: Any, valid: Any, scores: np.ndarray) -> float:
    """Seconds of the work a framework epoch adds to the bare loop, timed piece by piece.

    Input statistics, the validation objective (threshold calibration) and the best-weights
    copy: a figure that other work on the machine cannot blur the way it blurs whole epochs.
    """
    from trainer.learners import build_learner
    from trainer.learners.sequence import feature_stats

    ctx = _context()
    model = build_learner(_params(name, 1), ctx)._network(train.X.shape[1])
    t = time.perf_counter()
    feature_stats(train.X)
    ctx.score(scores, valid)
    {k: v.detach().clone() for k, v in model.state_dict().items()}
    return time.perf_counter() - t


def _predict_seconds(name: str, train: Any, valid: Any) -> float:
    """Wall seconds of predicting the whole validation part (what each epoch scores)."""
    from trainer.learners import build_learner
    from trainer.learners.base import NullReporter

    learner = build_learner(_params(name, 1), _context())
    learner.fit(train, valid.subset(slice(0, 2 * SEQ_LEN)), NullReporter())
    t = time.perf_counter()
    learner.predict(valid)
    return time.perf_counter() - t


def _child_data(matrix_path: str, repeat: int) -> tuple[Any, Any, int, int]:
    """(train, valid, matrix bytes, other bytes): the training rows ``repeat`` times, each copy
    its own segment (so no window spans two copies), built in place: no transient second
    matrix. Other bytes: the labels, timestamps and segments beside the matrix."""
    from trainer.learners.base import SplitData

    data = np.load(matrix_path)
    base = data["X"]
    n_train, n_valid = int(data["n_train"]), int(data["n_valid"])
    n_tr = n_train * repeat
    X = np.empty((n_tr + len(base) - n_train, base.shape[1]), dtype=base.dtype)
    for k in range(repeat):
        X[k * n_train : (k + 1) * n_train] = base[:n_train]
    X[n_tr:] = base[n_train:]
    del base
    segment = np.full(len(X), repeat, dtype=np.int64)
    segment[:n_tr] = np.arange(n_tr) // n_train
    y = (np.arange(len(X)) % 2).astype(np.float64)
    ts = np.datetime64("2018-01-01T00", "ns") + np.arange(len(X)).astype("timedelta64[h]")

    def part(s: slice) -> SplitData:
        return SplitData(X[s], y[s], y[s], ts[s], segment[s])

    other = y.nbytes + ts.nbytes + segment.nbytes
    return part(slice(0, n_tr)), part(slice(n_tr, n_tr + n_valid)), X.nbytes, other


def rss_child(name: str, matrix_path: str, repeat: int, batches: int, micro: int) -> None:
    """Runs in a fresh process: prints peak RSS beyond the import baseline, in bytes.

    The peak includes the data (matrix, labels, timestamps, segments) and the whole fit:
    input statistics, training steps, validation passes, best weights, then a predict.
    """
    import torch._dynamo  # noqa: F401  (imports are baseline; torch.optim loads dynamo)

    import trainer.learners.sequence  # noqa: F401  (build_learner imports it lazily)
    from trainer.learners import build_learner
    from trainer.learners.base import NullReporter

    context = _context()  # imports the objective's modules (~70 MB): baseline too

    def rss(field: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) * 1024
        raise RuntimeError(field)

    # Only imports are baseline; torch's first-step allocations belong to the training run.
    baseline = rss("VmRSS:")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak to the current RSS
    train, valid, matrix, other = _child_data(matrix_path, repeat)
    learner = build_learner(_params(name, batches, micro or None), context)
    learner.fit(train, valid, NullReporter())
    learner.predict(valid)
    n_params = sum(p.numel() * p.element_size() for p in learner.model_.parameters())
    peak = rss("VmHWM:") - baseline
    print(json.dumps({"extra": peak, "matrix": matrix, "other": other, "params": n_params}))


def _rss(name: str, matrix_path: str, repeat: int, batches: int, micro: int) -> dict[str, int]:
    args = [name, matrix_path, str(repeat), str(batches), str(micro)]
    out = subprocess.run(
        [sys.executable, __file__, "--rss-child", *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    result: dict[str, int] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def memory_report(name: str, matrix_path: str, batches: int, micro: int) -> dict[str, Any]:
    """Peak RSS ratios at each training length in RSS_SCALES, whole batches and micro-batches.

    ``fixed_rss_mb``: the part of the peak that does not grow with the data (one step's
    activations, torch's first-use buffers), the intercept of peak = fixed + marginal x matrix
    through the two largest scales (the allocator's reuse of freed memory scatters the peak by
    tens of MB, which only large matrices drown); ``matrix_mb_for_ratio_1_5``: the matrix size at
    which that line reaches a ratio of 1.5 (an extrapolation; the measured scales check it).
    """
    runs = {(r, m): _rss(name, matrix_path, r, batches, m) for r in RSS_SCALES for m in (0, micro)}
    one, params = runs[RSS_SCALES[0], 0], runs[RSS_SCALES[0], 0]["params"]

    def ratio(run: dict[str, int]) -> float:
        return round(run["extra"] / (run["matrix"] + run["params"]), 2)

    def line(m: int) -> dict[str, float | None]:
        lo, hi = runs[RSS_SCALES[-2], m], runs[RSS_SCALES[-1], m]
        marginal = (hi["extra"] - lo["extra"]) / (hi["matrix"] - lo["matrix"])
        fixed = lo["extra"] - marginal * lo["matrix"]
        at = (fixed - 1.5 * params) / (1.5 - marginal) if marginal < 1.5 else None
        return {
            "marginal_rss_ratio_large": round(marginal, 2),
            "fixed_rss_mb": round(fixed / 2**20, 1),
            "matrix_mb_for_ratio_1_5": None if at is None else round(at / 2**20),
        }

    whole, small = line(0), line(micro)
    return {
        "peak_rss_mb": round(one["extra"] / 2**20, 1),
        "matrix_mb": round(one["matrix"] / 2**20, 2),
        "params_mb": round(params / 2**20, 2),
        "peak_rss_ratio": ratio(one),
        "marginal_rss_ratio": round(
            (runs[RSS_SCALES[1], 0]["extra"] - one["extra"])
            / (runs[RSS_SCALES[1], 0]["matrix"] - one["matrix"]),
            2,
        ),
        "materialised_windows_mb": round(one["matrix"] * SEQ_LEN / 2**20, 1),
        # labels, timestamps, segments: data the peak holds beside the matrix, per matrix byte
        "other_data_per_matrix_byte": round(one["other"] / one["matrix"], 3),
        f"peak_rss_ratio_micro{micro}": ratio(runs[RSS_SCALES[0], micro]),
        "peak_rss_ratio_by_train_repeat": {
            str(r): {
                "matrix_mb": round(runs[r, 0]["matrix"] / 2**20, 1),
                "whole_batch": ratio(runs[r, 0]),
                f"micro{micro}": ratio(runs[r, micro]),
            }
            for r in RSS_SCALES
        },
        "fixed_rss_mb": {
            "whole_batch": whole["fixed_rss_mb"],
            f"micro{micro}": small["fixed_rss_mb"],
        },
        "marginal_rss_ratio_large": {
            "whole_batch": whole["marginal_rss_ratio_large"],
            f"micro{micro}": small["marginal_rss_ratio_large"],
        },
        "matrix_mb_for_ratio_1_5": {
            "whole_batch": whole["matrix_mb_for_ratio_1_5"],
            f"micro{micro}": small["matrix_mb_for_ratio_1_5"],
        },
    }


def timing_report(
    name: str, train: Any, valid: Any, full_valid: Any, batches: int, repeats: int, micro: int
) -> dict[str, Any]:
    """Framework epoch against the bare loop (and with micro-batches), samples/s."""
    from trainer.data.windows import valid_window_ends

    framework_epoch(name, train, valid, 1)  # warm-up: one-time imports and allocations
    bare_epoch(name, train, valid, 1)
    # Paired runs, back to back: the machine's load drifts over seconds, so each pair
    # gives a ratio and the median of pairs is reported beside the ratio of minima.
    fw_wall, fw_cpu, bare_wall, bare_cpu, steps, micro_wall = [], [], [], [], [], []
    for _ in range(repeats):
        wall, cpu, fw_pred = framework_epoch(name, train, valid, batches)
        fw_wall.append(wall)
        fw_cpu.append(cpu)
        wall, cpu, train_seconds, bare_pred = bare_epoch(name, train, valid, batches)
        bare_wall.append(wall)
        bare_cpu.append(cpu)
        steps.append(train_seconds)
        micro_wall.append(framework_epoch(name, train, valid, batches, micro)[0])
    predict_s = _predict_seconds(name, train, full_valid)
    extra_s = min(framework_only_seconds(name, train, valid, fw_pred) for _ in range(3))
    samples = batches * BATCH
    n_valid_windows = int(valid_window_ends(full_valid.segment, SEQ_LEN).size)
    return {
        "framework_epoch_s": round(min(fw_wall), 3),
        "bare_epoch_s": round(min(bare_wall), 3),
        "epoch_ratio": round(min(fw_wall) / min(bare_wall), 3),
        "epoch_ratio_median_of_pairs": round(float(np.median(np.divide(fw_wall, bare_wall))), 3),
        "epoch_cpu_ratio": round(min(fw_cpu) / min(bare_cpu), 3),
        "framework_only_s": round(extra_s, 4),
        "epoch_ratio_from_parts": round(1 + extra_s / min(bare_wall), 4),
        "same_predictions": bool(np.allclose(fw_pred, bare_pred, equal_nan=True, atol=1e-6)),
        "train_samples_per_s": round(samples / min(steps), 1),
        "epoch_samples_per_s": round(samples / min(fw_wall), 1),
        "predict_samples_per_s": round(n_valid_windows / predict_s, 1),
        f"epoch_samples_per_s_micro{micro}": round(samples / min(micro_wall), 1),
        # micro-batched epoch / whole-batch epoch, both through the framework: the speed cost
        f"epoch_time_ratio_micro{micro}": round(
            float(np.median(np.divide(micro_wall, fw_wall))), 3
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--micro", type=int, default=MICRO, help="micro-batch size compared")
    ap.add_argument("--part", choices=("all", "timing", "memory"), default="all")
    ap.add_argument("--rss-child", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        name, path, repeat, batches, micro = args.rss_child
        rss_child(name, path, int(repeat), int(batches), int(micro))
        return

    load_start = os.getloadavg()[0]
    prepared = _prepared()
    train, valid = prepared.train, _valid_cut(prepared.train, prepared.valid, args.batches)
    report: dict[str, Any] = {
        "threads": THREADS,
        "sequence_len": SEQ_LEN,
        "batch_size": BATCH,
        "micro_batch_size": args.micro,
        "batches_per_epoch": args.batches,
        "train_rows": len(train),
        "valid_rows_used": len(valid),
        "n_features": int(train.X.shape[1]),
    }
    with tempfile.TemporaryDirectory() as tmp:
        matrix_path = str(Path(tmp) / "matrix.npz")
        full = prepared.train.X.base if prepared.train.X.base is not None else prepared.train.X
        np.savez(
            matrix_path,
            X=np.ascontiguousarray(full),
            n_train=len(prepared.train),
            n_valid=len(valid),
        )
        for name in ("lstm", "transformer"):
            report[name] = {}
            if args.part in ("all", "timing"):
                report[name] |= timing_report(
                    name, train, valid, prepared.valid, args.batches, args.repeats, args.micro
                )
            if args.part in ("all", "memory"):
                report[name] |= memory_report(name, matrix_path, args.batches, args.micro)
    report["goals"] = {"epoch_ratio": "<= 1.10", "peak_rss_ratio": "<= 1.5"}
    # other work on the machine inflates and scatters the timings; the load says how much
    report["load_avg_1m_start_end"] = [round(load_start, 2), round(os.getloadavg()[0], 2)]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
