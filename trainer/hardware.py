"""The `hardware` group resolved to what a process may use: device, precision, threads.

Called by ``trainer.train`` before any data work, so ``hardware=a10`` on a machine without CUDA
fails at once. torch is imported only when the device matters (sequence learners): a tree run
never loads it.
"""

from __future__ import annotations

import os
import random
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from trainer.errors import UserError

if TYPE_CHECKING:  # the schema lives with the others in trainer.config, above this module
    from trainer.config import HardwareConfig


@dataclass(frozen=True)
class Resources:
    device: str  # cpu | cuda, never auto
    precision: str  # fp32 | bf16 | fp16; always fp32 on CPU
    threads: int  # CPU threads this process may use
    batch_size: int | None  # hardware's override of the model's batch size
    tf32: bool
    cudnn_benchmark: bool


def cpu_count() -> int:
    """Cores this process may run on (the affinity mask, not the machine, in containers)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def threads_per_process(hw: HardwareConfig, n_parallel: int | None = None) -> int:
    """hw.threads when set, else the cores shared evenly among the parallel trials."""
    if hw.threads:
        return hw.threads
    return max(1, cpu_count() // (n_parallel or hw.n_jobs))


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _cuda_bf16_supported() -> bool:
    import torch

    return bool(torch.cuda.is_bf16_supported())


def resolve(
    hw: HardwareConfig, needs_device: bool = True, n_parallel: int | None = None
) -> Resources:
    """The resources of one process. ``needs_device=False`` (tree runs) is always CPU, no torch.

    Mixed precision is a CUDA feature here: on CPU the precision resolves to fp32 (CPU autocast
    is slower than fp32 for these small recurrent models).
    """
    threads = threads_per_process(hw, n_parallel)
    if not needs_device or hw.device == "cpu":
        device = "cpu"
    elif hw.device == "cuda":
        if not cuda_available():
            raise UserError(
                f"hardware={hw.name} needs a CUDA device and none was found;"
                " use hardware=auto or hardware=cpu"
            )
        device = "cuda"
    else:  # auto
        device = "cuda" if cuda_available() else "cpu"
    precision = hw.precision if device == "cuda" else "fp32"
    if precision == "bf16" and not _cuda_bf16_supported():
        raise UserError(
            f"hardware.precision=bf16 (hardware={hw.name}): this GPU has no bfloat16 support;"
            " use hardware.precision=fp16 or fp32"
        )
    return Resources(
        device=device,
        precision=precision,
        threads=threads,
        batch_size=hw.batch_size,
        tf32=hw.tf32 and device == "cuda",
        cudnn_benchmark=hw.cudnn_benchmark and device == "cuda",
    )


def seed_everything(seed: int) -> dict[str, int]:
    """Seed python's and numpy's global generators, and torch's when it is loaded.

    Our own code draws from explicit generators; this covers libraries that use the globals.
    Returns the seeds set, for metadata.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    seeds = {"python": seed, "numpy": seed % 2**32}
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)  # also seeds every CUDA device
        seeds["torch"] = seed
    return seeds
