"""Run exported models behind one Backend interface: TensorRT, ONNX Runtime, OpenVINO or PyTorch.

``open_backend`` picks the backend from the file type through one dispatch table; the
backend modules (and torch / onnxruntime / openvino / tensorrt) are imported only when chosen.
An exported FP32/INT8 file bound for the CPU goes through :mod:`synthsight.runtime.cpu.precision`,
which picks precision and runtime (``--precision auto``) or checks an explicit one.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from synthsight.errors import ModelFileError, UsageError
from synthsight.machine import parse_device
from synthsight.runtime.base import Backend, scores_from_logits
from synthsight.spec import BUNDLE_SUFFIXES, SPEC_NAME, WEIGHTS_NAME, bundle_paths

# backend name -> "module:class", imported lazily.
BACKENDS: dict[str, str] = {
    "tensorrt": "synthsight.runtime.tensorrt:TensorRTBackend",
    "onnxruntime": "synthsight.runtime.onnxrt:OnnxRuntimeBackend",
    "openvino": "synthsight.runtime.openvino:OpenVinoBackend",
    "torch": "synthsight.runtime.torch:TorchBackend",
}
# model kind -> the backends that run it, the automatic choice first.
RUNS_ON: dict[str, tuple[str, ...]] = {
    "engine": ("tensorrt",),
    "onnx": ("onnxruntime", "openvino"),
    "bundle": ("torch",),
}
SUFFIXES: dict[str, str] = {
    ".engine": "engine",
    ".plan": "engine",
    ".onnx": "onnx",
    **dict.fromkeys(BUNDLE_SUFFIXES, "bundle"),
}
# What to tell a user who asks a backend for a kind it cannot run.
CONVERT_HINT: dict[str, str] = {
    "bundle": "export it first: synthsight export MODEL --format onnx|engine",
    "onnx": "ONNX files run on onnxruntime or openvino (or build an engine: synthsight export BUNDLE --format engine)",
    "engine": "TensorRT engines run on tensorrt only",
}


def model_kind(path: str | Path) -> str:
    """``bundle``, ``onnx`` or ``engine`` by what ``path`` is; ModelFileError when it is none of them."""
    path = Path(path)
    if path.is_dir():
        if all(p.is_file() for p in bundle_paths(path)):
            return "bundle"
        raise ModelFileError(f"{path}: directory is not a model bundle (needs {WEIGHTS_NAME} and {SPEC_NAME})")
    if not path.exists():
        raise ModelFileError(f"{path}: model file not found")
    if path.name.lower().endswith(".engine.json"):
        engine = path.name[: -len(".json")]
        raise ModelFileError(f"{path}: this is a TensorRT engine's sidecar; pass {engine} itself")
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ModelFileError(
            f"{path}: not a model file (expected a bundle directory, NAME.safetensors, .onnx or .engine)"
        )
    return kind


def weights_file(path: str | Path) -> Path:
    """The file whose bytes a backend runs: a bundle's weights, else the model file itself.

    Reports hash this file, so ``--resume`` sees new weights however the bundle was named.
    """
    return bundle_paths(path)[0] if model_kind(path) == "bundle" else Path(path)


def backend_class(name: str) -> type[Backend]:
    if name not in BACKENDS:
        raise UsageError(f"--backend {name!r}: expected auto, {', '.join(BACKENDS)}")
    module, attr = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), attr)


def choose_backend(kind: str, backend: str = "auto") -> str:
    """The backend that runs a ``kind`` file: the automatic choice, or ``backend`` if it can."""
    if backend in (None, "", "auto"):
        return RUNS_ON[kind][0]
    if backend not in BACKENDS:
        raise UsageError(f"--backend {backend!r}: expected auto, {', '.join(BACKENDS)}")
    if backend not in RUNS_ON[kind]:
        raise UsageError(f"--backend {backend} cannot run a {_KIND_NAMES[kind]}: {CONVERT_HINT[kind]}")
    return backend


_KIND_NAMES = {"bundle": "model bundle", "onnx": ".onnx file", "engine": "TensorRT .engine file"}


def open_backend(
    path: str | Path,
    backend: str = "auto",
    device: str = "auto",
    precision: str | None = "auto",
    max_batch: int | None = None,
    threads: int | None = None,
) -> Backend:
    """Open ``path`` (bundle directory / NAME.safetensors, .onnx or .engine) on the best backend here.

    Args:
        backend: ``auto`` (by file type), ``tensorrt``, ``onnxruntime``, ``openvino`` or ``torch``.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        precision: ``auto``, ``fp32``, ``fp16``, ``bf16`` or ``int8``. PyTorch: fp32 or bf16 on CPU (bf16
            only where native), fp16/bf16/fp32 on CUDA. Exported files on a CPU: see
            :mod:`synthsight.runtime.cpu.precision` (``auto`` measures and takes the fastest certified option);
            ``None`` runs an exported file exactly as exported, on the backend named (no choice is made).
        max_batch: larger batches are split into chunks of this size.
        threads: CPU inference threads (the cores the decode workers leave free).

    Raises:
        ModelFileError: the file is missing, of an unknown kind or inconsistent.
        BackendUnavailable: the backend or device is not present on this machine.
        UsageError: the backend cannot run this kind of file, or a bad option.
    """
    if max_batch is not None and int(max_batch) < 1:
        raise UsageError(f"max_batch must be >= 1, got {max_batch}")
    if threads is not None and int(threads) < 1:
        raise UsageError(f"threads must be >= 1, got {threads}")
    kind = model_kind(path)
    name = choose_backend(kind, backend)
    if kind == "onnx" and precision is not None and _onnx_on_cpu(device, backend, precision):
        from synthsight.runtime.cpu.precision import open_on_cpu

        return open_on_cpu(path, backend=backend or "auto", precision=precision or "auto", max_batch=max_batch,
                           threads=threads)  # fmt: skip
    return backend_class(name)(path, device=device, precision=precision, max_batch=max_batch, threads=threads)


def _onnx_on_cpu(device: str, backend: str, precision: str) -> bool:
    """Whether an ONNX file will run on this machine's CPU (GPU requests keep ONNX Runtime's providers)."""
    wanted = parse_device(device)
    cpu_only = backend == "openvino" or precision in ("bf16", "int8")
    if wanted.kind == "cuda":
        if cpu_only:
            raise UsageError(f"--device {wanted}: --backend openvino and --precision bf16/int8 run on the CPU only")
        return False
    if wanted.kind == "cpu" or cpu_only:
        return True
    try:
        import onnxruntime as ort
    except ImportError:
        return True  # OpenVINO may still run it
    from synthsight.runtime.onnxrt import CUDA_EP, TRT_EP

    return not {CUDA_EP, TRT_EP} & set(ort.get_available_providers())


__all__ = ["BACKENDS", "Backend", "choose_backend", "model_kind", "open_backend", "scores_from_logits", "weights_file"]
