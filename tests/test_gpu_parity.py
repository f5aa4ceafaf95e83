"""Every GPU path against CPU FP32 on the same images (marker ``gpu``: run by `make gpu-check`).

Two trained models - the ``trained_bundle`` convnext_atto at 64 px (trained on the CPU, the same model
every machine trains) and a convnext_tiny at 224 px trained here on the GPU (random weights hide FP16
drift, docs/design.md) - each run through the TensorRT engine, ONNX Runtime's TensorRT and CUDA providers
(FP16 and FP32 files) and PyTorch CUDA fp16 autocast, and compared with PyTorch on the CPU in FP32:
max |delta p(ai)| <= 0.02 on 200 images, and no verdict flips for an image whose reference p(ai) lies
farther than that from the threshold. A short-trained model puts images near its threshold, where a flip
within the tolerance is what FP16 may do; a flip anywhere else is a real difference (a fixed agreement
rate such as 99.5 % would let one such flip pass, or fail on a tolerated one). Each test also checks
what really ran (a silent CPU fallback fails),
and sends a batch above the profile maximum (chunked, never a rebuild) and batches that are not a
multiple of the profile's optimum.

On a machine without the component a test skips with the reason; under gpu-check that skip is a
failure (tests/conftest.py). Nothing here has been run yet: no GPU was available when it was written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from synthsight import gpucheck
from synthsight.export import verify

MAX_ABS = 0.02
N_IMAGES = 200
PROFILE_OPT, PROFILE_MAX = 16, 64  # the engine's profile; ORT's TensorRT EP profile max is TRT_MAX_BATCH (64)
BATCHES = (130, 37, 33)  # 130 > the profile maximum (chunked), 37 and 33 are not multiples of the optimum


def _need(row: str) -> None:
    """Skip (a failure under gpu-check) unless ``row`` can run on this machine."""
    try:
        device = gpucheck.probe_device()
    except gpucheck.NoDevice as exc:
        pytest.skip(str(exc))
    why = gpucheck.row_problems(device)[row]
    if why:
        pytest.skip(f"{row}: {why}")


@dataclass
class Model:
    name: str
    bundle: Path
    out: Path
    threshold: float
    pixels: np.ndarray  # uint8 [N_IMAGES, S, S, 3]
    reference: np.ndarray  # p(ai) from PyTorch FP32 on the CPU
    _onnx: dict[str, Path] | None = None

    @property
    def onnx(self) -> dict[str, Path]:
        """ "fp32" / "fp16" -> file, exported on first use: the torch row runs the bundle and needs neither
        the files nor the exporter's packages (onnxslim, onnxconverter-common)."""
        if self._onnx is None:
            from synthsight.export.fp16 import convert_fp16
            from synthsight.export.graph_check import check_file
            from synthsight.export.onnx import export_onnx
            from synthsight.model import load_bundle

            model, spec = load_bundle(self.bundle)
            fp32 = check_file(export_onnx(model, spec, self.out / "model.onnx"))
            self._onnx = {"fp32": fp32, "fp16": check_file(convert_fp16(fp32, self.out / "model.fp16.onnx"))}
        return self._onnx


def _prepare(name: str, bundle: Path, images: Path, out: Path) -> Model:
    from synthsight.model import read_spec
    from synthsight.runtime import open_backend

    spec = read_spec(bundle)
    real = verify.decode_folder(images, spec.preprocess).pixels[:N_IMAGES]
    extra = verify.synthetic_pixels(spec.preprocess, N_IMAGES - len(real), seed=1) if len(real) < N_IMAGES else None
    pixels = real if extra is None else np.concatenate([real, extra])
    with open_backend(bundle, backend="torch", device="cpu", precision="fp32") as cpu:
        reference = verify.scores(cpu, pixels)
    return Model(name, bundle, out, spec.threshold, pixels, reference)


@pytest.fixture(scope="module")
def atto64(request, tmp_path_factory) -> Model:
    bundle = request.getfixturevalue("trained_bundle")  # trained on the GPU when there is one
    return _prepare("convnext_atto 64 px", bundle, bundle.parent / "data" / "val", tmp_path_factory.mktemp("atto"))


@pytest.fixture(scope="module")
def tiny224(tmp_path_factory) -> Model:
    """convnext_tiny at 224 px trained on the GPU on the synthetic set: trained weights at the real size."""
    from synthsight.train.loop import TrainConfig, fit
    from synthsight.train.synthetic import make_synthetic

    root = tmp_path_factory.mktemp("tiny224")
    data = make_synthetic(root / "data", n=320, size=224, seed=0)
    config = TrainConfig(
        data=str(data), out=str(root / "bundle"), arch="convnext_tiny", size=224, init="random", epochs=4,
        batch_size=32, lr=5e-4, patience=2, seed=0, device="cuda", workers=0, progress=False,
    )  # fmt: skip
    return _prepare("convnext_tiny 224 px", fit(config), data / "val", root)


@pytest.fixture(params=["atto64", "tiny224"])
def model(request) -> Model:
    """Each model, once its test's row is known to run here (so a CPU machine trains and exports nothing)."""
    _need(request.node.get_closest_marker("gpu").args[0])
    return request.getfixturevalue(request.param)


def _odd_batches(backend, pixels: np.ndarray) -> np.ndarray:
    """p(ai) with calls of BATCHES images: one above the profile maximum, the others off the optimum."""
    from synthsight.runtime.base import scores_from_logits

    logits, start = [], 0
    for n in BATCHES:
        chunk = pixels[start : start + n]
        out = backend.infer(chunk)
        assert out.shape == (len(chunk), len(backend.classes)) and np.isfinite(out).all()
        logits.append(out)
        start += n
    assert start == len(pixels)
    return scores_from_logits(np.concatenate(logits), backend.positive_index)


def parity_failure(reference: np.ndarray, scores: np.ndarray, threshold: float) -> str:
    """Why ``scores`` are not within the GPU gate of the CPU FP32 ``reference`` ("" when they are)."""
    reference, scores = np.asarray(reference, np.float64), np.asarray(scores, np.float64)
    delta = np.abs(reference - scores)
    flipped = (reference >= threshold) != (scores >= threshold)
    outside = flipped & (np.abs(reference - threshold) > MAX_ABS)
    why = []
    if delta.max() > MAX_ABS:
        why.append(f"max |delta p(ai)| {delta.max():.4f} > {MAX_ABS}")
    if outside.any():
        why.append(f"{int(outside.sum())} verdict(s) flipped farther than {MAX_ABS} from the threshold")
    return "; ".join(why)


def _assert_parity(model: Model, scores: np.ndarray, what: str) -> None:
    names = ("PyTorch fp32 CPU", f"{what} on {model.name}")
    parity = verify.compare_scores(model.reference, scores, model.threshold, names=names, images=f"{N_IMAGES}")
    assert not parity_failure(model.reference, scores, model.threshold), parity.report()


def test_the_gate_tolerates_flips_at_the_threshold_and_no_flip_elsewhere():
    """Runs on any machine: the rule the GPU tests apply."""
    reference = np.array([0.10, 0.49, 0.51, 0.90] * 50)
    assert parity_failure(reference, reference, 0.5) == ""
    at_threshold = reference.copy()
    at_threshold[1::4] += 0.015  # 0.49 -> 0.505: flips, within the tolerance, on 50 of 200 images
    assert parity_failure(reference, at_threshold, 0.5) == ""
    one_flip = reference.copy()
    one_flip[0] = 0.55  # one clear real image called AI: a 99.5 % agreement rate would let it pass
    assert parity_failure(reference, one_flip, 0.5) == (
        "max |delta p(ai)| 0.4500 > 0.02; 1 verdict(s) flipped farther than 0.02 from the threshold"
    )


def _providers_that_ran(path: Path, plan, profile_dir: Path, pixels: np.ndarray) -> set[str]:
    """The execution providers ONNX Runtime's profiler saw running nodes, for a session like the backend's."""
    import onnxruntime as ort

    from synthsight.runtime.onnxrt import session_options

    opts = session_options(ort, None)
    opts.enable_profiling = True
    opts.profile_file_prefix = str(profile_dir / "ort-profile")
    session = ort.InferenceSession(
        str(path), sess_options=opts, providers=[p for p, _ in plan], provider_options=[o for _, o in plan]
    )
    session.run(None, {"pixels": pixels})
    events = json.loads(Path(session.end_profiling()).read_text())
    return {e["args"]["provider"] for e in events if e.get("cat") == "Node" and "provider" in e.get("args", {})}


@pytest.mark.gpu("engine")
def test_tensorrt_engine_matches_cpu_fp32(model, tmp_path):
    from synthsight.export.tensorrt import EngineConfig, build_engine
    from synthsight.model import read_spec
    from synthsight.runtime import open_backend

    config = EngineConfig(batch=PROFILE_OPT, max_batch=PROFILE_MAX, workspace_gb=2, timing_cache=tmp_path / "tc")
    engine_file = build_engine(model.onnx["fp16"], tmp_path / "model.engine", read_spec(model.bundle), config)
    with open_backend(engine_file) as gpu:
        assert (gpu.name, gpu.device, gpu.precision, gpu.max_batch) == ("tensorrt", "cuda:0", "fp16", PROFILE_MAX)
        assert gpu._out_dev.device.type == "cuda"  # the engine writes into torch CUDA memory
        scores = _odd_batches(gpu, model.pixels)
    _assert_parity(model, scores, "TensorRT engine fp16")


@pytest.mark.gpu("ort-trt")
@pytest.mark.parametrize("kind", ["fp16", "fp32"])
def test_ort_tensorrt_provider_matches_cpu_fp32(model, kind, tmp_path):
    from synthsight.runtime.onnxrt import CPU_EP, TRT_EP, TRT_MAX_BATCH, OnnxRuntimeBackend, plan_providers

    cache = tmp_path / "cache" / "ort-tensorrt"  # its parents do not exist yet: the backend makes them
    with OnnxRuntimeBackend(model.onnx[kind], device="cuda", cache_dir=cache) as gpu:
        assert (gpu.providers[0], gpu.device, gpu.precision) == (TRT_EP, "cuda:0", kind)
        assert gpu.max_batch == TRT_MAX_BATCH  # 130 images go as 64 + 64 + 2: never beyond the profile
        scores = _odd_batches(gpu, model.pixels)
    _assert_parity(model, scores, f"ORT TensorRT EP {kind}")
    import onnxruntime as ort

    size = model.pixels.shape[1]  # the backend's plan and options, its engine cache reused
    plan = plan_providers("cuda", ort.get_available_providers(), size=size, cache_dir=cache)
    ran = _providers_that_ran(model.onnx[kind], plan, tmp_path, model.pixels[:37])
    assert TRT_EP in ran and CPU_EP not in ran, ran


@pytest.mark.gpu("ort-cuda")
@pytest.mark.parametrize("kind", ["fp16", "fp32"])
def test_ort_cuda_provider_matches_cpu_fp32(model, kind, tmp_path, monkeypatch):
    import onnxruntime as ort

    from synthsight.runtime.onnxrt import CPU_EP, CUDA_EP, TRT_EP, OnnxRuntimeBackend, plan_providers

    # Hide the TensorRT EP so the runtime plans the CUDA EP, as on a machine without TensorRT.
    listed = [p for p in ort.get_available_providers() if p != TRT_EP]
    monkeypatch.setattr(ort, "get_available_providers", lambda: list(listed))
    with OnnxRuntimeBackend(model.onnx[kind], device="cuda", max_batch=PROFILE_MAX) as gpu:
        assert (gpu.providers[0], gpu.device, gpu.precision) == (CUDA_EP, "cuda:0", kind)
        scores = _odd_batches(gpu, model.pixels)
    _assert_parity(model, scores, f"ORT CUDA EP {kind}")
    plan = plan_providers("cuda", listed, size=model.pixels.shape[1])
    ran = _providers_that_ran(model.onnx[kind], plan, tmp_path, model.pixels[:37])
    assert CUDA_EP in ran and CPU_EP not in ran, ran


@pytest.mark.gpu("torch")
def test_torch_cuda_fp16_autocast_matches_cpu_fp32(model):
    from synthsight.runtime import open_backend

    with open_backend(model.bundle, backend="torch", device="cuda", precision="fp16", max_batch=PROFILE_MAX) as gpu:
        assert (gpu.name, gpu.device, gpu.precision) == ("torch", "cuda:0", "fp16")
        assert {p.device.type for p in gpu.model.parameters()} == {"cuda"}
        scores = _odd_batches(gpu, model.pixels)
    _assert_parity(model, scores, "PyTorch CUDA fp16 autocast")
