"""The hardware group: device resolution, GPU presets, threads, seeding, and no torch for trees."""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Callable

import numpy as np
import pytest
from omegaconf import DictConfig

from trainer import hardware
from trainer.config import HardwareConfig, validate
from trainer.errors import UserError
from trainer.hardware import resolve, seed_everything


@pytest.fixture
def no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hardware, "cuda_available", lambda: False)


@pytest.fixture
def fake_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hardware, "cuda_available", lambda: True)
    monkeypatch.setattr(hardware, "_cuda_bf16_supported", lambda: True)


@pytest.mark.parametrize("preset", ["a10", "rtx3090"])
def test_gpu_presets_compose_to_cuda_with_mixed_precision(
    compose_cfg: Callable[..., DictConfig], preset: str
) -> None:
    hw = validate(compose_cfg(f"hardware={preset}")).hardware
    assert (hw.name, hw.device) == (preset, "cuda")
    assert hw.precision in ("bf16", "fp16")
    assert hw.batch_size and hw.tf32 and hw.cudnn_benchmark


@pytest.mark.parametrize("preset", ["a10", "rtx3090"])
def test_a_gpu_preset_without_cuda_names_the_fix(
    compose_cfg: Callable[..., DictConfig], no_cuda: None, preset: str
) -> None:
    hw = validate(compose_cfg(f"hardware={preset}")).hardware
    with pytest.raises(UserError) as err:
        resolve(hw, needs_device=True)
    msg = str(err.value)
    assert f"hardware={preset}" in msg and "hardware=auto" in msg and "hardware=cpu" in msg


def test_gpu_preset_resolves_with_cuda(
    compose_cfg: Callable[..., DictConfig], fake_cuda: None
) -> None:
    res = resolve(validate(compose_cfg("hardware=a10")).hardware, needs_device=True)
    assert (res.device, res.precision, res.batch_size) == ("cuda", "bf16", 512)
    assert res.tf32 and res.cudnn_benchmark


def test_bf16_on_a_gpu_without_it_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hardware, "cuda_available", lambda: True)
    monkeypatch.setattr(hardware, "_cuda_bf16_supported", lambda: False)
    with pytest.raises(UserError, match=r"hardware\.precision=fp16"):
        resolve(HardwareConfig(name="a10", device="cuda", precision="bf16"))


def test_auto_picks_cuda_when_present_else_cpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hardware, "_cuda_bf16_supported", lambda: True)
    for present, device in ((True, "cuda"), (False, "cpu")):
        monkeypatch.setattr(hardware, "cuda_available", lambda p=present: p)
        assert resolve(HardwareConfig(device="auto")).device == device


def test_cpu_runs_in_fp32_without_gpu_settings(no_cuda: None) -> None:
    res = resolve(HardwareConfig(device="auto", precision="bf16", tf32=True, cudnn_benchmark=True))
    assert (res.device, res.precision, res.tf32, res.cudnn_benchmark) == (
        "cpu",
        "fp32",
        False,
        False,
    )


def test_tree_runs_never_ask_for_a_device(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom() -> bool:
        raise AssertionError("a tree run must not probe CUDA")

    monkeypatch.setattr(hardware, "cuda_available", boom)
    res = resolve(HardwareConfig(name="a10", device="cuda", precision="bf16"), needs_device=False)
    assert (res.device, res.precision) == ("cpu", "fp32")


def test_threads_are_shared_among_parallel_trials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hardware, "cpu_count", lambda: 16)
    assert resolve(HardwareConfig(device="cpu")).threads == 16
    assert resolve(HardwareConfig(device="cpu", n_jobs=4)).threads == 4
    assert resolve(HardwareConfig(device="cpu", n_jobs=32)).threads == 1
    assert resolve(HardwareConfig(device="cpu", threads=3, n_jobs=4)).threads == 3
    assert resolve(HardwareConfig(device="cpu"), n_parallel=8).threads == 2


def test_seed_everything_makes_global_generators_repeat() -> None:
    seeds = seed_everything(11)
    a = (random.random(), np.random.random())
    seed_everything(11)
    assert (random.random(), np.random.random()) == a
    assert seeds["python"] == 11 and seeds["numpy"] == 11


def test_a_tree_run_never_imports_torch() -> None:
    code = (
        "import sys\n"
        "import trainer.config, trainer.learners.base, trainer.hardware, trainer.learners\n"
        "import trainer.learners.trees, trainer.train, trainer.dataset\n"
        "from trainer.config import HardwareConfig\n"
        "res = trainer.hardware.resolve(HardwareConfig(), needs_device=False)\n"
        "trainer.hardware.seed_everything(0)\n"
        "assert res.device == 'cpu'\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "False"
