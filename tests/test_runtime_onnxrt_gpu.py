"""ONNX Runtime's GPU path on a CPU: provider options, cache folders, chunking and labels.

A stand-in session reports the GPU providers it was asked for while a real CPU session computes,
so the backend's own GPU wiring (I/O binding, labels, chunking, caches) runs here; what the GPU
providers themselves do is checked by tests/test_gpu_parity.py under `make gpu-check`.
"""

from __future__ import annotations

import numpy as np
import pytest

from synthsight.errors import BackendUnavailable
from synthsight.runtime.onnxrt import (
    CPU_EP,
    CUDA_EP,
    TRT_EP,
    TRT_MAX_BATCH,
    OnnxRuntimeBackend,
    plan_providers,
    prepare_caches,
    trt_profile_max,
)

EVERY = [TRT_EP, CUDA_EP, CPU_EP]


def test_profile_maximum_follows_max_batch():
    assert trt_profile_max(plan_providers("cuda", EVERY, size=64)) == TRT_MAX_BATCH
    assert trt_profile_max(plan_providers("cuda", EVERY, size=64, max_batch=256)) == 256
    assert trt_profile_max(plan_providers("cuda", [CUDA_EP, CPU_EP], size=64)) is None


def test_cache_folders_are_created_with_their_parents(tmp_path):
    deep = tmp_path / "home" / ".cache" / "synthsight" / "ort-tensorrt"
    prepare_caches(plan_providers("cuda", EVERY, size=64, cache_dir=deep))
    assert deep.is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(BackendUnavailable, match="cannot create ONNX Runtime's TensorRT cache folder") as info:
        prepare_caches(plan_providers("cuda", EVERY, size=64, cache_dir=tmp_path / "file" / "cache"))
    assert "\n" not in str(info.value)


@pytest.fixture
def pretend_gpu(monkeypatch, tmp_path):
    """onnxruntime that lists the GPU providers; sessions compute on CPU but report what was asked for."""
    import onnxruntime as ort

    asked: list[tuple[list, list]] = []
    real = ort.InferenceSession

    class Session:
        def __init__(self, path, sess_options=None, providers=(), provider_options=()):
            asked.append((list(providers), list(provider_options)))
            self._real = real(path, sess_options=sess_options, providers=[CPU_EP])
            self._providers = list(providers)

        def get_providers(self):
            return self._providers

        def __getattr__(self, name):
            return getattr(self._real, name)

    monkeypatch.setattr(ort, "get_available_providers", lambda: list(EVERY))
    monkeypatch.setattr(ort, "InferenceSession", Session)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # never the user's ~/.cache
    return asked


def test_tensorrt_ep_run_of_an_fp32_file_is_labelled_fp32_and_chunked(pretend_gpu, tiny_onnx, tmp_path):
    cache = tmp_path / "deep" / "ort-tensorrt"
    x = np.random.default_rng(0).integers(0, 256, (TRT_MAX_BATCH + 9, 64, 64, 3), dtype=np.uint8)
    with OnnxRuntimeBackend(tiny_onnx["onnx"], device="cuda", cache_dir=cache) as gpu:
        assert (gpu.device, gpu.precision, gpu.providers[0]) == ("cuda:0", "fp32", TRT_EP)
        assert gpu.max_batch == TRT_MAX_BATCH  # 73 images go as 64 + 9, inside the profile
        through_gpu_path = gpu.infer(x)  # I/O binding, as on a GPU
    with OnnxRuntimeBackend(tiny_onnx["onnx"], device="cpu") as cpu:
        np.testing.assert_allclose(through_gpu_path, cpu.infer(x), atol=1e-5, rtol=0)
    providers, options = next(asked for asked in pretend_gpu if asked[0] == EVERY)
    assert cache.is_dir()
    assert "trt_fp16_enable" not in options[0] and options[0]["trt_profile_max_shapes"] == "pixels:64x64x64x3"


def test_fp16_file_is_fp16_and_fp16_cannot_be_asked_of_an_fp32_file(pretend_gpu, tiny_onnx, tmp_path):
    from synthsight.errors import UsageError

    with OnnxRuntimeBackend(tiny_onnx["fp16"], device="cuda", max_batch=16, cache_dir=tmp_path) as gpu:
        assert (gpu.precision, gpu.max_batch) == ("fp16", 16)
    with pytest.raises(UsageError, match="runs as fp32 here"):
        OnnxRuntimeBackend(tiny_onnx["onnx"], device="cuda", precision="fp16", cache_dir=tmp_path)


def test_both_onnxruntime_packages_installed_is_named(monkeypatch):
    import synthsight.machine as machine

    versions = {"onnxruntime": "1.32.0", "onnxruntime-gpu": "1.31.1"}
    monkeypatch.setattr(machine, "installed", versions.get)
    with pytest.raises(BackendUnavailable, match="both onnxruntime 1.32.0 and onnxruntime-gpu 1.31.1"):
        plan_providers("cuda", [CPU_EP], size=64)


def test_fp16_file_on_the_tensorrt_ep_enables_fp16_and_says_what_ran(pretend_gpu, tiny_onnx, tmp_path):
    """ORT's TensorRT EP builds weakly typed TensorRT 10 networks: without trt_fp16_enable an fp16 file could
    run FP32 kernels under an fp16 label."""
    with OnnxRuntimeBackend(tiny_onnx["fp16"], device="cuda", cache_dir=tmp_path) as gpu:
        described = gpu.describe()
    _, options = next(asked for asked in pretend_gpu if asked[0] == EVERY)
    assert options[0]["trt_fp16_enable"] is True and options[0]["trt_layer_norm_fp32_fallback"] is True
    assert described["precision"] == "fp16" and described["providers"][0] == TRT_EP
    assert described["tensorrt_ep"]["trt_fp16_enable"] is True
    with OnnxRuntimeBackend(tiny_onnx["onnx"], device="cuda", cache_dir=tmp_path) as gpu:
        assert gpu.describe()["tensorrt_ep"] == {
            "trt_fp16_enable": False, "trt_layer_norm_fp32_fallback": False, "kernels": "fp32",
        }  # fmt: skip


def test_cuda_ep_searches_heuristically_and_prefers_nhwc():
    """EXHAUSTIVE (ORT's default) benchmarks cuDNN again for the scan's last, partial batch; the input is NHWC."""
    options = dict(plan_providers("cuda", [CUDA_EP, CPU_EP], size=64))[CUDA_EP]
    assert options == {"device_id": 0, "cudnn_conv_algo_search": "HEURISTIC", "prefer_nhwc": "1"}
