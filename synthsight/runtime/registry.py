"""Which backends exist, which kind of model file each runs, and how one is opened, by name.

Light at import (no backend module is loaded): the CLI reads :data:`BACKENDS` and :data:`PRECISIONS` for its
choices, and every part that opens a backend by name goes through :func:`backend_class`, so the backend
modules (and torch, onnxruntime, openvino, tensorrt) are imported only when chosen. The CPU precision choice
(runtime/cpu/) opens its options through :func:`open_option`.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from synthsight.artifacts import KIND_NAMES, PRECISIONS
from synthsight.errors import UsageError

if TYPE_CHECKING:
    from synthsight.runtime.base import Backend

# backend name -> "module:class", imported lazily.
BACKENDS: dict[str, str] = {
    "tensorrt": "synthsight.runtime.tensorrt:TensorRTBackend",
    "onnxruntime": "synthsight.runtime.onnxrt:OnnxRuntimeBackend",
    "openvino": "synthsight.runtime.openvino:OpenVinoBackend",
    "torch": "synthsight.runtime.torch:TorchBackend",
}
BACKEND_CHOICES = ("auto", *BACKENDS)
PRECISION_CHOICES = ("auto", *PRECISIONS)
# model kind -> the backends that run it, the automatic choice first.
RUNS_ON: dict[str, tuple[str, ...]] = {
    "engine": ("tensorrt",),
    "onnx": ("onnxruntime", "openvino"),
    "bundle": ("torch",),
}
# What to tell a user who asks a backend for a kind it cannot run.
CONVERT_HINT: dict[str, str] = {
    "bundle": "export it first: synthsight export MODEL --format onnx|engine",
    "onnx": "ONNX files run on onnxruntime or openvino (or build an engine: synthsight export BUNDLE --format engine)",
    "engine": "TensorRT engines run on tensorrt only",
}


def backend_class(name: str) -> type[Backend]:
    """The Backend class called ``name`` (its module imported now); a UsageError for an unknown name."""
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
        raise UsageError(f"--backend {backend} cannot run a {KIND_NAMES[kind]}: {CONVERT_HINT[kind]}")
    return backend


class Openable(Protocol):
    """What :func:`open_option` reads of a CPU option (runtime/cpu/precision.Option): named by shape, not by
    import, so the registry does not import the precision choice that imports it."""

    path: Path
    runtime: str
    precision: str


def open_option(option: Openable, *, max_batch: int | None = None, threads: int | None = None) -> Backend:
    """Open a CPU option's file on its runtime at its precision (ONNX Runtime: the file's own)."""
    precision = option.precision if option.runtime == "openvino" else "auto"
    return backend_class(option.runtime)(option.path, device="cpu", precision=precision, max_batch=max_batch,
                                         threads=threads)  # fmt: skip
