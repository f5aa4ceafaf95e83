"""TensorRT backend: I/O and batch logic without TensorRT; the real engine only on a GPU machine."""

from __future__ import annotations

import pytest

from synthsight.errors import BackendUnavailable, ModelFileError, UsageError
from synthsight.runtime.tensorrt import TensorInfo, check_io, chunk_size, padded, require_tensorrt


def _has_tensorrt_gpu() -> bool:
    try:
        import tensorrt  # noqa: F401
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


GOOD = [TensorInfo("pixels", "input", "uint8", (-1, 64, 64, 3)), TensorInfo("logits", "output", "float32", (-1, 2))]


def test_good_io_passes(tiny_spec):
    check_io(GOOD, tiny_spec, 1, 64, "m.engine")


@pytest.mark.parametrize(
    "tensors, words",
    [
        ([GOOD[0]], "expected input 'pixels' and output 'logits'"),
        ([TensorInfo("pixels", "input", "float32", (-1, 64, 64, 3)), GOOD[1]], "float32 -> float32, expected uint8"),
        ([GOOD[0], TensorInfo("logits", "output", "float16", (-1, 2))], "expected uint8 -> float32"),
        ([TensorInfo("pixels", "input", "uint8", (-1, 224, 224, 3)), GOOD[1]], "does not match the sidecar's 64 px"),
        ([GOOD[0], TensorInfo("logits", "output", "float32", (-1, 3))], "does not match 2 classes"),
        ([TensorInfo("pixels", "input", "uint8", (128, 64, 64, 3)), GOOD[1]], "fixed batch 128 outside"),
    ],
)
def test_io_mismatch_says_what_and_to_reexport(tiny_spec, tensors, words):
    with pytest.raises(ModelFileError, match=words):
        check_io(tensors, tiny_spec, 1, 64, "m.engine")


def test_batch_sizes_follow_the_profile():
    assert chunk_size(None, 1, 64) == 64
    assert chunk_size(16, 1, 64) == 16
    assert chunk_size(256, 1, 64) == 64  # larger batches are chunked by Backend.infer
    with pytest.raises(UsageError, match="below the engine profile's minimum batch 4"):
        chunk_size(2, 4, 64)
    assert (padded(1, 4), padded(9, 4), padded(3, 1)) == (4, 9, 3)


def test_missing_pieces_are_named():
    with pytest.raises(BackendUnavailable, match="NVIDIA GPUs only"):
        require_tensorrt("cpu")
    with pytest.raises(UsageError, match="expected auto, cpu, cuda or cuda:N"):
        require_tensorrt("npu")
    if not _has_tensorrt_gpu():
        with pytest.raises(BackendUnavailable, match="TensorRT is not installed|torch sees no CUDA GPU"):
            require_tensorrt("auto")


@pytest.mark.gpu("engine")
@pytest.mark.skipif(not _has_tensorrt_gpu(), reason="needs tensorrt and a CUDA GPU (runs in `make gpu-check`)")
def test_engine_matches_onnx_on_gpu(tiny_bundle, tiny_onnx, tmp_path):
    import numpy as np

    from synthsight.export.tensorrt import EngineConfig, build_engine
    from synthsight.model import read_spec
    from synthsight.runtime import open_backend

    engine_file = build_engine(
        tiny_onnx["fp16"], tmp_path / "model.engine", read_spec(tiny_bundle), EngineConfig(batch=8, max_batch=16)
    )
    x = np.random.default_rng(0).integers(0, 256, (37, 64, 64, 3), dtype=np.uint8)
    with open_backend(engine_file) as gpu, open_backend(tiny_onnx["onnx"], device="cpu") as cpu:
        assert (gpu.name, gpu.device, gpu.max_batch, gpu.precision) == ("tensorrt", "cuda:0", 16, "fp16")
        assert np.max(np.abs(gpu.scores(x) - cpu.scores(x))) < 0.02
        assert gpu.infer(x[:1]).shape == (1, 2)
