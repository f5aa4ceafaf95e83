"""TensorRT export: clear errors without TensorRT or a GPU; a real build where both exist (make gpu-check)."""

from __future__ import annotations

import json

import pytest

from synthsight.errors import BackendUnavailable, UsageError
from synthsight.export.tensorrt import EngineConfig, build_engine, require_tensorrt


def _trt_missing() -> str | None:
    try:
        require_tensorrt()
    except BackendUnavailable as exc:
        return str(exc)
    return None


MISSING = _trt_missing()


def test_profile_options_validated():
    with pytest.raises(UsageError, match="--max-batch"):
        EngineConfig(batch=64, max_batch=32)
    with pytest.raises(UsageError, match="--workspace"):
        EngineConfig(workspace_gb=0)


@pytest.mark.skipif(MISSING is None, reason="TensorRT and a GPU are present")
def test_missing_tensorrt_or_gpu_is_named(tiny_onnx, tiny_spec, tmp_path):
    with pytest.raises(BackendUnavailable) as info:
        build_engine(tiny_onnx["fp16"], tmp_path / "model.engine", tiny_spec, EngineConfig(batch=2, max_batch=8))
    message = str(info.value)
    assert "\n" not in message and ("tensorrt" in message.lower() or "GPU" in message)
    assert not (tmp_path / "model.engine").exists()


@pytest.mark.gpu
@pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
def test_engine_build_sidecar_and_timing_cache(tiny_onnx, tiny_spec, tmp_path):
    import tensorrt as trt

    cache = tmp_path / "timing.cache"
    config = EngineConfig(batch=4, max_batch=16, workspace_gb=1, timing_cache=cache)
    engine = build_engine(tiny_onnx["fp16"], tmp_path / "model.engine", tiny_spec, config)
    plan = engine.read_bytes()
    assert not plan.startswith(b"{")  # a pure plan, no JSON header
    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    loaded = runtime.deserialize_cuda_engine(plan)
    assert loaded is not None and loaded.get_tensor_profile_shape("pixels", 0)[2][0] == 16
    sidecar = json.loads((tmp_path / "model.engine.json").read_text())
    assert trt.__version__ in json.dumps(sidecar)
    assert cache.stat().st_size > 0
    build_engine(tiny_onnx["fp16"], tmp_path / "again.engine", tiny_spec, config)  # reuses the cache
