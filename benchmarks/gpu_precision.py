"""python benchmarks/gpu_precision.py [--batches 50] [--batch-size 512] [--repeats 3]

Training windows per second of the LSTM and the Transformer (default sizes, sequence_len 48)
through the framework's learner on CUDA, in fp32 (TF32 off) and in bf16 autocast with TF32 (what
``hardware=a10`` selects), measured in this run, best of ``--repeats`` alternating. Prints JSON
with ``bf16_speedup`` = bf16 samples/s / fp32 samples/s per model. Exits 0 with a note when no
CUDA device is present (``--device cpu`` times the same loop on the CPU, fp32 only, as a smoke
check of the script).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer.learners import build_learner
from trainer.learners.base import FitContext, NullReporter, SplitData
from trainer.learners.config import LSTMConfig, TransformerConfig

N_FEATURES, SEQ_LEN = 40, 48


def _part(n: int, seed: int) -> SplitData:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, N_FEATURES)).astype(np.float32)
    ret = 0.004 * X[:, 0] + 0.01 * rng.standard_normal(n)
    ts = (np.datetime64("2024-01-01T00", "h") + np.arange(n)).astype("datetime64[ns]")
    return SplitData(X, (ret > 0).astype(np.float64), ret, ts, np.zeros(n, dtype=np.int64))


def samples_per_s(
    name: str,
    precision: str,
    batches: int = 50,
    batch_size: int = 512,
    repeats: int = 3,
    device: str = "cuda",
) -> float:
    """Training windows per second of one epoch of ``batches`` batches (validation excluded:
    its part is one batch long), best of ``repeats`` after one warm-up fit."""
    fast = precision == "bf16"
    ctx = FitContext(
        task="direction",
        seed=0,
        threads=2,
        device=device,
        precision=precision if device == "cuda" else "fp32",
        batch_size=batch_size,
        tf32=fast,
        cudnn_benchmark=True,
    )
    common = {"sequence_len": SEQ_LEN, "max_epochs": 1, "max_batches_per_epoch": batches}
    params = LSTMConfig(**common) if name == "lstm" else TransformerConfig(**common)
    train = _part(batches * batch_size + SEQ_LEN, 0)
    valid = _part(batch_size + SEQ_LEN, 1)
    best = float("inf")
    for i in range(repeats + 1):  # the first fit warms cuDNN autotuning and the allocator
        learner = build_learner(params, ctx)
        if device == "cuda":
            import torch

            torch.cuda.synchronize()
        t0 = time.perf_counter()
        learner.fit(train, valid, NullReporter())
        if device == "cuda":
            torch.cuda.synchronize()
        if i:
            best = min(best, time.perf_counter() - t0)
    return batches * batch_size / best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    args = ap.parse_args()
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print(json.dumps({"benchmark": "gpu_precision", "skipped": "no CUDA device"}))
        return
    out: dict[str, object] = {
        "benchmark": "gpu_precision",
        "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
        "torch": torch.__version__,
        "batch_size": args.batch_size,
        "batches": args.batches,
        "sequence_len": SEQ_LEN,
    }
    precisions = ("fp32", "bf16") if args.device == "cuda" else ("fp32",)
    for name in ("lstm", "transformer"):
        rates = {
            p: samples_per_s(name, p, args.batches, args.batch_size, args.repeats, args.device)
            for p in precisions
        }
        out[name] = {f"{p}_samples_per_s": round(r) for p, r in rates.items()}
        if "bf16" in rates:
            out[name]["bf16_speedup"] = round(rates["bf16"] / rates["fp32"], 2)  # type: ignore[index]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
