"""The GPU path (``hardware=a10``: CUDA, bf16 autocast, TF32 matmuls) of the LSTM and the
Transformer, end to end; skipped where no CUDA device is present. Run them all in one call on a
machine with a GPU: ``python -m pytest -m gpu tests/test_gpu.py -q``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from omegaconf import DictConfig

from tests.test_learner_contract import parts, tiny_params
from trainer.learners import build_learner, load_learner
from trainer.learners.base import FitContext, NullReporter, SplitData

torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
]

SEQUENCE = ["lstm", "transformer"]
A10 = {"device": "cuda", "precision": "bf16", "tf32": True, "cudnn_benchmark": True}


def _context(**kw: object) -> FitContext:
    return FitContext(task="direction", seed=0, threads=2, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", SEQUENCE)
def test_a10_run_trains_on_cuda_in_bf16_and_reloads_on_the_cpu(
    name: str, compose_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    from trainer.train import train

    cfg = compose_cfg(
        f"model={name}",
        "hardware=a10",
        "model.max_epochs=1",
        "model.max_batches_per_epoch=4",
        "data.end=2022-09-30",
    )
    objective = train(cfg, tmp_path)
    assert np.isfinite(objective)
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["device"] == "cuda"
    model_dir = next(p.parent for p in tmp_path.rglob("learner.json"))
    trained_on = next(
        json.loads(f.read_text())["trained_on"]
        for f in model_dir.glob("*.json")
        if "trained_on" in f.read_text()
    )
    assert trained_on == {"device": "cuda", "precision": "bf16"}
    learner = load_learner(model_dir)  # CUDA-trained weights load on the CPU
    n = 64
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, learner.n_features_)).astype(np.float32)  # type: ignore[attr-defined]
    ts = (np.datetime64("2024-01-01T00", "h") + np.arange(n)).astype("datetime64[ns]")
    part = SplitData(X, np.zeros(n), np.zeros(n), ts, np.zeros(n, dtype=np.int64))
    scores = learner.predict(part)
    assert scores.shape == (n,) and np.isfinite(scores[-1])


@pytest.mark.parametrize("name", SEQUENCE)
def test_bf16_autocast_and_tf32_are_used_and_agree_with_fp32(name: str) -> None:
    train_part, valid, test = parts("direction")
    bf16 = build_learner(tiny_params(name), _context(**A10))
    bf16.fit(train_part, valid, NullReporter())
    assert torch.backends.cuda.matmul.fp32_precision == "tf32"
    seen: list[object] = []
    head = bf16.model_.head  # type: ignore[attr-defined]
    handle = head.register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    scores = bf16.predict(test)
    handle.remove()
    assert seen and all(d == torch.bfloat16 for d in seen)
    fp32 = build_learner(tiny_params(name), _context(device="cuda", precision="fp32"))
    fp32.fit(train_part, valid, NullReporter())
    assert torch.backends.cuda.matmul.fp32_precision == "ieee"
    reference = fp32.predict(test)
    ok = np.isfinite(scores) & np.isfinite(reference)
    assert ok.sum() == len(test) - 7  # sequence_len 8: the first 7 rows have no window
    assert ((scores[ok] > 0) & (scores[ok] < 1)).all()
    # same seed, same data: bf16 rounding moves the scores, not the model's ranking of rows
    assert np.corrcoef(scores[ok], reference[ok])[0, 1] > 0.9


@pytest.mark.parametrize("name", SEQUENCE)
def test_gpu_precision_benchmark_runs(name: str) -> None:
    from benchmarks.gpu_precision import samples_per_s

    for precision in ("fp32", "bf16"):
        assert samples_per_s(name, precision, batches=2, batch_size=64, repeats=1) > 0
