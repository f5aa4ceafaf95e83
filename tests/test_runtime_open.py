"""open_backend: selection by file type, explicit overrides, and one clear error for impossible requests."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from synthsight.artifacts import model_kind
from synthsight.errors import BackendUnavailable, ModelFileError, UsageError
from synthsight.runtime import Backend, open_backend
from synthsight.runtime.registry import choose_backend


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def test_bundle_dir_and_safetensors_pair_open_on_torch(tiny_bundle, tmp_path):
    with open_backend(tiny_bundle) as backend:
        assert isinstance(backend, Backend)
        assert (backend.name, backend.classes, backend.positive_index) == ("torch", ["ai", "real"], 0)
        assert backend.preprocess.size == 64 and backend.input_shape == (64, 64, 3)
    pair = tmp_path / "detector.safetensors"
    shutil.copy(tiny_bundle / "model.safetensors", pair)
    shutil.copy(tiny_bundle / "model.json", tmp_path / "detector.json")
    with open_backend(pair, backend="torch", device="cpu") as backend:
        assert backend.name == "torch" and backend.device == "cpu"


def test_onnx_opens_on_onnxruntime_with_best_provider(tiny_onnx):
    with open_backend(tiny_onnx["onnx"]) as backend:
        assert backend.name == "onnxruntime"
        expected = "cuda:0" if _cuda() and "CUDAExecutionProvider" in backend.providers else "cpu"
        assert backend.device == expected and backend.precision in ("fp32", "fp16")
    with open_backend(tiny_onnx["fp16"], backend="onnxruntime", device="cpu") as backend:
        assert backend.precision == "fp16" and backend.providers == ["CPUExecutionProvider"]


@pytest.mark.parametrize(
    "kind, backend, words",
    [
        ("bundle", "onnxruntime", "cannot run a model bundle: export it first"),
        ("bundle", "tensorrt", "cannot run a model bundle"),
        ("onnx", "torch", "cannot run a .onnx file"),
        ("engine", "onnxruntime", "cannot run a TensorRT .engine file"),
        ("onnx", "tflite", "expected auto, tensorrt, onnxruntime, openvino, torch"),
        ("bundle", "openvino", "cannot run a model bundle"),
    ],
)
def test_impossible_backend_for_the_file_is_a_usage_error(kind, backend, words):
    with pytest.raises(UsageError, match=words):
        choose_backend(kind, backend)


def test_dispatch_defaults():
    assert [choose_backend(k) for k in ("engine", "onnx", "bundle")] == ["tensorrt", "onnxruntime", "torch"]


def test_model_kind_errors(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        model_kind(tmp_path / "missing.onnx")
    with pytest.raises(ModelFileError, match="not a model bundle"):
        model_kind(tmp_path)
    (tmp_path / "weights.pt").write_bytes(b"x")
    with pytest.raises(ModelFileError, match="not a model file"):
        model_kind(tmp_path / "weights.pt")
    (tmp_path / "m.engine.json").write_text("{}")
    with pytest.raises(ModelFileError, match="sidecar.*pass m.engine"):
        model_kind(tmp_path / "m.engine.json")


def test_engine_on_cpu_or_without_tensorrt_is_one_clear_line(tmp_path, tiny_spec):
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"plan")
    with pytest.raises(BackendUnavailable, match="NVIDIA GPUs only.*onnxruntime"):
        open_backend(engine, device="cpu")
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        with pytest.raises(BackendUnavailable, match="TensorRT is not installed: pip install"):
            open_backend(engine)


@pytest.mark.skipif(_cuda(), reason="checks the error on a machine without CUDA")
def test_cuda_request_without_cuda(tiny_bundle, tiny_onnx):
    with pytest.raises(BackendUnavailable, match="no CUDA GPU"):
        open_backend(tiny_bundle, device="cuda")
    with pytest.raises(BackendUnavailable, match="CUDA provider|GPU providers"):
        open_backend(tiny_onnx["onnx"], device="cuda:0")


@pytest.mark.parametrize("bad", [dict(device="tpu"), dict(max_batch=0), dict(threads=0), dict(precision="int8")])
def test_bad_options(tiny_bundle, bad):
    with pytest.raises(UsageError):
        open_backend(tiny_bundle, **bad)


def test_onnx_precision_is_fixed_by_the_file(tiny_onnx):
    with pytest.raises(UsageError, match="fixed by the exported file"):
        open_backend(tiny_onnx["onnx"], device="cpu", precision="fp16")
    with pytest.raises(UsageError, match="runs on --backend openvino"):
        open_backend(tiny_onnx["onnx"], backend="onnxruntime", precision="bf16")
    with pytest.raises(UsageError, match="no INT8 export of this model"):
        open_backend(tiny_onnx["onnx"], precision="int8")


def test_max_batch_chunks_give_the_same_logits(tiny_onnx):
    x = np.random.default_rng(1).integers(0, 256, (7, 64, 64, 3), dtype=np.uint8)
    with (
        open_backend(tiny_onnx["onnx"], device="cpu") as whole,
        open_backend(tiny_onnx["onnx"], device="cpu", max_batch=3, threads=1) as chunked,
    ):
        np.testing.assert_allclose(chunked.infer(x), whole.infer(x), atol=1e-5)
        assert chunked.max_batch == 3


def test_spec_json_of_sidecar_is_not_a_bundle(tmp_path, tiny_spec):
    (tmp_path / "x.json").write_text(json.dumps(tiny_spec.to_dict()))
    with pytest.raises(ModelFileError, match="weights not found"):
        open_backend(tmp_path / "x.json")
