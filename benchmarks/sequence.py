"""python benchmarks/sequence.py [--batches 8] [--repeats 3]

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
  training run / (feature matrix + model parameters); ``marginal_rss_ratio``: the same
  with the training part 17x longer, minus the first, over the added matrix bytes (what the
  view-based windows buy: materialised windows would add ~48x). The baseline holds the imports
  (torch and torch._dynamo, which torch.optim loads on first use); a training step's
  activations depend on batch and model size, not on the data, so the first ratio is large
  whenever the matrix is small (8 MB for six years of hourly features).
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
RSS_REPEAT = 17  # the marginal RSS run trains on 17x the rows: +16 parts, ~100 MB of matrix


def _prepared() -> Any:
    from trainer.data.config import FeaturesConfig, SyntheticDataConfig
    from trainer.dataset import build_table, prepare
    from trainer.splits import holdout

    table = build_table(SyntheticDataConfig(), FeaturesConfig())
    return prepare(table, holdout(table.timestamps, (0.7, 0.15, 0.15), 1), 1, "direction", 1e-12)


def _params(name: str, batches: int) -> Any:
    from trainer.learners.config import LSTMConfig, TransformerConfig

    cls = LSTMConfig if name == "lstm" else TransformerConfig
    return cls(sequence_len=SEQ_LEN, batch_size=BATCH, max_epochs=1, max_batches_per_epoch=batches)


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
    name: str, train: Any, valid: Any, batches: int
) -> tuple[float, float, np.ndarray]:
    """(wall s, CPU s, validation predictions) of one epoch through the learner."""
    from trainer.learners import build_learner
    from trainer.learners.base import NullReporter

    learner = build_learner(_params(name, batches), _context())
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


def rss_child(name: str, matrix_path: str, repeat: int, batches: int) -> None:
    """Runs in a fresh process: prints peak RSS beyond the import baseline, in bytes."""
    import torch._dynamo  # noqa: F401  (imports are baseline; torch.optim loads dynamo)

    from trainer.learners import build_learner
    from trainer.learners.base import NullReporter, SplitData

    def rss(field: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) * 1024
        raise RuntimeError(field)

    # Only imports are baseline; torch's first-step allocations belong to the training run.
    baseline = rss("VmRSS:")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak to the current RSS
    data = np.load(matrix_path)
    X = data["X"]
    n_train, n_valid = int(data["n_train"]), int(data["n_valid"])
    if repeat > 1:  # a longer training part: the same rows again, each copy its own segment
        X = np.concatenate([np.tile(X[:n_train], (repeat, 1)), X[n_train:]])
    n_tr = n_train * repeat
    segment = np.concatenate(
        [np.repeat(np.arange(repeat), n_train), np.full(len(X) - n_tr, repeat)]
    )
    y = (np.arange(len(X)) % 2).astype(np.float64)
    ts = np.zeros(len(X), dtype="datetime64[ns]") + np.arange(len(X)).astype("timedelta64[h]")

    def part(s: slice) -> SplitData:
        return SplitData(X[s], y[s], y[s], ts[s], segment[s])

    train, valid = part(slice(0, n_tr)), part(slice(n_tr, n_tr + n_valid))
    learner = build_learner(_params(name, batches), _context())
    learner.fit(train, valid, NullReporter())
    learner.predict(valid)
    n_params = sum(p.numel() * p.element_size() for p in learner.model_.parameters())
    print(json.dumps({"extra": rss("VmHWM:") - baseline, "matrix": X.nbytes, "params": n_params}))


def _rss(name: str, matrix_path: str, repeat: int, batches: int) -> dict[str, int]:
    out = subprocess.run(
        [sys.executable, __file__, "--rss-child", name, matrix_path, str(repeat), str(batches)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    result: dict[str, int] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rss-child", nargs=4)
    args = ap.parse_args()
    if args.rss_child:
        name, path, repeat, batches = args.rss_child
        rss_child(name, path, int(repeat), int(batches))
        return

    from trainer.data.windows import valid_window_ends

    load_start = os.getloadavg()[0]
    prepared = _prepared()
    train, valid = prepared.train, _valid_cut(prepared.train, prepared.valid, args.batches)
    report: dict[str, Any] = {
        "threads": THREADS,
        "sequence_len": SEQ_LEN,
        "batch_size": BATCH,
        "batches_per_epoch": args.batches,
        "train_rows": len(train),
        "valid_rows_used": len(valid),
        "n_features": int(train.X.shape[1]),
    }
    n_valid_windows = int(valid_window_ends(prepared.valid.segment, SEQ_LEN).size)
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
            framework_epoch(name, train, valid, 1)  # warm-up: one-time imports and allocations
            bare_epoch(name, train, valid, 1)
            # Paired runs, back to back: the machine's load drifts over seconds, so each pair
            # gives a ratio and the median of pairs is reported beside the ratio of minima.
            fw_wall, fw_cpu, bare_wall, bare_cpu, steps = [], [], [], [], []
            for _ in range(args.repeats):
                wall, cpu, fw_pred = framework_epoch(name, train, valid, args.batches)
                fw_wall.append(wall)
                fw_cpu.append(cpu)
                wall, cpu, train_seconds, bare_pred = bare_epoch(name, train, valid, args.batches)
                bare_wall.append(wall)
                bare_cpu.append(cpu)
                steps.append(train_seconds)
            predict_s = _predict_seconds(name, train, prepared.valid)
            extra_s = min(framework_only_seconds(name, train, valid, fw_pred) for _ in range(3))
            one = _rss(name, matrix_path, 1, args.batches)
            more = _rss(name, matrix_path, RSS_REPEAT, args.batches)
            samples = args.batches * BATCH
            report[name] = {
                "framework_epoch_s": round(min(fw_wall), 3),
                "bare_epoch_s": round(min(bare_wall), 3),
                "epoch_ratio": round(min(fw_wall) / min(bare_wall), 3),
                "epoch_ratio_median_of_pairs": round(
                    float(np.median(np.divide(fw_wall, bare_wall))), 3
                ),
                "epoch_cpu_ratio": round(min(fw_cpu) / min(bare_cpu), 3),
                "framework_only_s": round(extra_s, 4),
                "epoch_ratio_from_parts": round(1 + extra_s / min(bare_wall), 4),
                "same_predictions": bool(
                    np.allclose(fw_pred, bare_pred, equal_nan=True, atol=1e-6)
                ),
                "train_samples_per_s": round(samples / min(steps), 1),
                "epoch_samples_per_s": round(samples / min(fw_wall), 1),
                "predict_samples_per_s": round(n_valid_windows / predict_s, 1),
                "peak_rss_mb": round(one["extra"] / 2**20, 1),
                "matrix_mb": round(one["matrix"] / 2**20, 2),
                "params_mb": round(one["params"] / 2**20, 2),
                "peak_rss_ratio": round(one["extra"] / (one["matrix"] + one["params"]), 2),
                "marginal_rss_ratio": round(
                    (more["extra"] - one["extra"]) / (more["matrix"] - one["matrix"]), 2
                ),
                "materialised_windows_mb": round(one["matrix"] * SEQ_LEN / 2**20, 1),
            }
    report["goals"] = {"epoch_ratio": "<= 1.10", "peak_rss_ratio": "<= 1.5"}
    # other work on the machine inflates and scatters the timings; the load says how much
    report["load_avg_1m_start_end"] = [round(load_start, 2), round(os.getloadavg()[0], 2)]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
