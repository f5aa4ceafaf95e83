"""PyTorch backend: device and precision resolution, bf16 autocast, channels_last model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cpu_kinds import BF16_KINDS, KINDS, needs_native

from synthsight.errors import BackendUnavailable, UsageError
from synthsight.runtime.torch import TorchBackend, resolve_device, resolve_precision


@pytest.mark.parametrize("simulated_cpu", KINDS, indirect=True)
def test_precision_per_device(simulated_cpu):
    assert resolve_precision("cpu", "auto") == "fp32"
    if simulated_cpu.native("bf16"):
        assert resolve_precision("cpu", "bf16") == "bf16"
    else:  # autocast would emulate it, ~10x slower than fp32: one line instead
        with pytest.raises(UsageError, match=r"^--precision bf16: this CPU \(.+\) has no native bf16") as refused:
            resolve_precision("cpu", "bf16")
        assert "\n" not in str(refused.value)
    assert resolve_precision("cuda:0", "auto") == "fp16"
    assert resolve_precision("cuda:0", "fp32") == "fp32"
    with pytest.raises(UsageError, match="fp16 is not available for PyTorch on cpu"):
        resolve_precision("cpu", "fp16")


def test_device_resolution():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda:0" if torch.cuda.is_available() else "cpu")
    with pytest.raises(UsageError, match="expected auto, cpu, cuda or cuda:N"):
        resolve_device("mps0")
    if not torch.cuda.is_available():
        with pytest.raises(BackendUnavailable, match="no CUDA GPU"):
            resolve_device("cuda:0")


@pytest.mark.parametrize("simulated_cpu", BF16_KINDS, indirect=True)
def test_bf16_is_taken_on_every_cpu_kind_with_it(tiny_bundle, simulated_cpu):
    with TorchBackend(tiny_bundle, device="cpu", precision="bf16") as bf:  # opened only: no bf16 kernel runs
        assert bf.precision == "bf16" and bf._autocast == ("cpu", torch.bfloat16)


@needs_native("bf16")
def test_bf16_runs_close_to_fp32_and_returns_float32(tiny_bundle):
    x = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    with (
        TorchBackend(tiny_bundle, device="cpu") as fp32,
        TorchBackend(tiny_bundle, device="cpu", precision="bf16") as bf,
    ):
        a, b = fp32.infer(x), bf.infer(x)
        assert b.dtype == np.float32 and bf.precision == "bf16"
        assert not np.array_equal(a, b)  # autocast really ran in bf16
        assert np.max(np.abs(fp32.scores(x) - bf.scores(x))) < 0.05
        assert fp32.model.training is False


def test_same_logits_as_the_model_itself(tiny_bundle):
    from synthsight.model import load_bundle

    model, _ = load_bundle(tiny_bundle)
    x = np.random.default_rng(1).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    with TorchBackend(tiny_bundle, device="cpu") as backend:
        np.testing.assert_allclose(backend.infer(x), expected, atol=1e-5)


def test_a_read_only_batch_runs_without_a_pytorch_warning(tiny_bundle):
    import warnings

    pixels = np.zeros((2, 64, 64, 3), np.uint8)
    pixels.flags.writeable = False  # as the decode pool's shared ring hands batches over (and explain's image)
    with TorchBackend(tiny_bundle, device="cpu") as backend, warnings.catch_warnings():
        warnings.simplefilter("error")
        assert backend.infer(pixels).shape == (2, 2)
