"""Backend: one small interface over TensorRT, ONNX Runtime and PyTorch (Polygraphy-runner style).

Input is checked once here, at the boundary, so a wrong dtype or shape is a clear error
rather than a crash inside a native library. Batches larger than ``max_batch`` are chunked.
What a ``--device`` string means and how many CPUs this process may use live in :mod:`synthsight.machine`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Protocol

import numpy as np

from synthsight.errors import UsageError
from synthsight.image.preprocess import PreprocessSpec
from synthsight.spec import ModelSpec


class Pending(Protocol):
    """A submitted batch: ``result()`` waits for its logits (a ``concurrent.futures.Future`` is one)."""

    def result(self) -> np.ndarray: ...


class Done:
    """A batch whose logits are already computed: what the synchronous :meth:`Backend.submit` returns."""

    __slots__ = ("logits",)

    def __init__(self, logits: np.ndarray):
        self.logits = logits

    def result(self) -> np.ndarray:
        return self.logits


class Backend(ABC):
    """Runs uint8 ``[N, H, W, 3]`` pixels to float32 logits ``[N, C]``.

    Subclasses set ``name`` (``onnxruntime`` / ``tensorrt`` / ``torch``), ``device``
    (``cpu`` / ``cuda:0``), ``precision`` (``fp32`` / ``fp16`` / ``bf16``) and implement ``_infer``.
    """

    name: str = "backend"
    device: str = "cpu"
    precision: str = "fp32"
    # Set by runtime.precision when it chose this backend: the fidelity certificate of what runs (None for
    # the FP32 reference), how it was chosen (for the run manifest) and a warning line for the user.
    certificate: dict | None = None
    selection: dict | None = None
    warning: str = ""
    # True when submit() returns before the batch is computed (the CUDA feed); otherwise the scan runs
    # infer() on a worker thread of its own (runtime/background.py) to overlap it with the next batch.
    overlaps: bool = False

    @classmethod
    def probe(cls, details: dict) -> dict[str, tuple[bool, str]]:
        """Whether this backend can run here, per device (``cpu``, ``cuda``): (yes/no, why), cheaply and
        without opening a model; ``details`` are what ``info`` read of the file (an engine's sidecar)."""
        raise NotImplementedError

    def __init__(self, model_spec: ModelSpec, max_batch: int | None = None, source: str = ""):
        self.model_spec = model_spec
        self.max_batch = max_batch
        self.source = source
        self._closed = False

    @property
    def preprocess(self) -> PreprocessSpec:
        """How pixels must be made for this model (``model_spec.preprocess``)."""
        return self.model_spec.preprocess

    @property
    def classes(self) -> list[str]:
        return self.model_spec.classes

    @property
    def positive_index(self) -> int:
        return self.model_spec.positive_index

    @property
    def input_shape(self) -> tuple[int, int, int]:
        s = self.preprocess.size
        return (s, s, 3)

    def check_input(self, pixels: np.ndarray) -> np.ndarray:
        if self._closed:
            raise UsageError(f"{self.name} backend is closed")
        if not isinstance(pixels, np.ndarray):
            raise UsageError(f"expected a numpy uint8 array, got {type(pixels).__name__}")
        if pixels.dtype != np.uint8:
            raise UsageError(
                f"expected uint8 pixels, got {pixels.dtype} (pass preprocess output, not normalised floats)"
            )
        if pixels.ndim != 4 or tuple(pixels.shape[1:]) != self.input_shape:
            raise UsageError(
                f"expected pixels of shape [N, {', '.join(map(str, self.input_shape))}], got {list(pixels.shape)}"
            )
        if pixels.shape[0] == 0:
            raise UsageError("empty batch")
        return np.ascontiguousarray(pixels)

    def infer(self, pixels: np.ndarray) -> np.ndarray:
        """Logits for a batch of any size (chunked to ``max_batch``)."""
        pixels = self.check_input(pixels)
        step = self.max_batch or pixels.shape[0]
        if pixels.shape[0] <= step:
            return self._infer(pixels)
        return np.concatenate([self._infer(pixels[i : i + step]) for i in range(0, pixels.shape[0], step)])

    def submit(self, pixels: np.ndarray) -> Pending:
        """Start the logits of ``pixels``; ``result()`` gives them. ``pixels`` must stay unchanged until then.
        This default computes them now; a backend with ``overlaps`` returns first and keeps the device busy."""
        return Done(self.infer(pixels))

    def scores(self, pixels: np.ndarray) -> np.ndarray:
        """Probability of the positive (AI-generated) class for each image."""
        return scores_from_logits(self.infer(pixels), self.positive_index)

    @abstractmethod
    def _infer(self, pixels: np.ndarray) -> np.ndarray: ...

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> dict:
        """What runs, as the run manifest records it: backend, device, precision, plus what each backend adds
        (ONNX Runtime its providers, OpenVINO its version, threads and streams). The model file is the manifest's
        own ``model`` entry."""
        return {"backend": self.name, "device": self.device, "precision": self.precision}


def scores_from_logits(logits: np.ndarray, positive_index: int) -> np.ndarray:
    """Softmax probability of class ``positive_index``, computed stably in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e[:, positive_index] / e.sum(axis=1)).astype(np.float64)


def with_detail(probe: tuple[bool, str], what: str) -> tuple[bool, str]:
    """A probe's answer with what runs added to its reason when it is a yes."""
    ok, why = probe
    return (ok, f"{why} ({what})") if ok else probe
