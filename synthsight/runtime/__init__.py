"""Run exported models behind one Backend interface: TensorRT, ONNX Runtime, OpenVINO or PyTorch.

``open_backend`` picks the backend from the file type through one dispatch table (registry.py); the
backend modules (and torch / onnxruntime / openvino / tensorrt) are imported only when chosen.
An exported FP32/INT8 file bound for the CPU goes through :mod:`synthsight.runtime.cpu.precision`,
which picks precision and runtime (``--precision auto``) or checks an explicit one.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthsight.artifacts import model_kind
from synthsight.errors import UsageError
from synthsight.machine import parse_device
from synthsight.runtime.registry import BACKENDS, backend_class, choose_backend

if TYPE_CHECKING:
    from synthsight.runtime.base import Backend


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
    if kind != "bundle":
        from synthsight.runtime.made_from import check_export

        check_export(path)  # retrained in place since: the old model's verdicts, refused
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


def __getattr__(name: str) -> Any:
    """``Backend`` and ``scores_from_logits`` load numpy: imported on first use, so the CLI's ``--help`` (which reads
    the registry) stays light."""
    if name in ("Backend", "scores_from_logits"):
        from synthsight.runtime import base

        return getattr(base, name)
    raise AttributeError(name)


__all__ = ["BACKENDS", "Backend", "open_backend", "scores_from_logits"]
