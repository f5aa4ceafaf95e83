"""TensorRT backend: a strongly typed ``NAME.engine`` plan plus its ``NAME.engine.json`` sidecar.

Written against the TensorRT 10.12+ / 11.x Python API (name-based I/O tensors:
``num_io_tensors``, ``get_tensor_name/mode/dtype``, ``set_input_shape``,
``set_tensor_address``, ``execute_async_v3``; nothing that 11.x removed). Memory comes from
torch's CUDA allocator and work runs on torch CUDA streams, so no pycuda build step:
one execution context fed by runtime/cuda_feed.py (two pinned staging slots allocated once at
``max_batch``, a copy stream, events instead of a sync per batch), ``set_input_shape`` per batch.

The sidecar is checked before deserialising, so a plan built for another TensorRT or GPU
fails with one line that says to re-export rather than with TensorRT's own error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synthsight.errors import BackendUnavailable, ModelFileError, SynthsightError, UsageError
from synthsight.extras import install_hint, installed
from synthsight.machine import parse_device
from synthsight.runtime.base import Backend
from synthsight.runtime.engine_sidecar import REEXPORT, check_sidecar, profile_bounds, read_sidecar
from synthsight.spec import INPUT_NAME, OUTPUT_NAME, ModelSpec

GPU_HINT = f"{install_hint('gpu')} (tensorrt from NVIDIA's index) on a machine with an NVIDIA GPU and driver"


@dataclass(frozen=True)
class TensorInfo:
    """One engine I/O tensor: name, ``input``/``output``, numpy dtype name, shape (-1 = dynamic)."""

    name: str
    mode: str
    dtype: str
    shape: tuple[int, ...]


def require_tensorrt(device: str = "auto"):
    """(tensorrt, torch, device index), or BackendUnavailable naming what is missing here."""
    wanted = parse_device(device)
    if wanted.kind == "cpu":
        raise BackendUnavailable(
            "TensorRT engines run on NVIDIA GPUs only; on a CPU use the .onnx file with --backend onnxruntime"
        )
    try:
        import tensorrt as trt
    except ImportError:
        raise BackendUnavailable(f"TensorRT is not installed: {GPU_HINT}") from None
    if not installed("torch"):  # engines run on torch's CUDA allocator and streams
        raise BackendUnavailable(f"TensorRT engines here run through PyTorch's CUDA, not installed: {GPU_HINT}")
    import torch

    if not torch.cuda.is_available():
        raise BackendUnavailable(f"TensorRT needs CUDA, but torch sees no CUDA GPU here ({GPU_HINT})")
    if wanted.gpu >= torch.cuda.device_count():
        raise BackendUnavailable(f"--device {wanted}: only {torch.cuda.device_count()} CUDA device(s) here")
    return trt, torch, wanted.gpu


def check_io(tensors: list[TensorInfo], spec: ModelSpec, low: int, high: int, where: str) -> None:
    """Refuse an engine whose I/O differs from the synthsight contract or its own sidecar."""
    by_name = {t.name: t for t in tensors}
    size = spec.preprocess.size
    pixels, logits = by_name.get(INPUT_NAME), by_name.get(OUTPUT_NAME)
    if pixels is None or pixels.mode != "input" or logits is None or logits.mode != "output":
        found = sorted(by_name)
        raise ModelFileError(f"{where}: expected input {INPUT_NAME!r} and output {OUTPUT_NAME!r}, found {found}")
    if pixels.dtype != "uint8" or logits.dtype != "float32":
        raise ModelFileError(
            f"{where}: I/O types {pixels.dtype} -> {logits.dtype}, expected uint8 -> float32; {REEXPORT}"
        )
    if tuple(pixels.shape[1:]) != (size, size, 3):
        raise ModelFileError(
            f"{where}: input shape {list(pixels.shape)} does not match the sidecar's {size} px; {REEXPORT}"
        )
    if len(logits.shape) != 2 or logits.shape[1] != spec.num_classes:
        raise ModelFileError(
            f"{where}: output shape {list(logits.shape)} does not match {spec.num_classes} classes; {REEXPORT}"
        )
    if pixels.shape[0] != -1 and not low <= pixels.shape[0] <= high:
        raise ModelFileError(f"{where}: fixed batch {pixels.shape[0]} outside the sidecar profile {low}..{high}")


def chunk_size(max_batch: int | None, low: int, high: int) -> int:
    """Largest batch sent to the engine: the caller's max_batch, capped by the profile's max."""
    if max_batch is not None and max_batch < low:
        raise UsageError(f"max_batch {max_batch} is below the engine profile's minimum batch {low}")
    return min(max_batch or high, high)


def padded(n: int, low: int) -> int:
    """Rows actually sent for ``n`` images: a profile with min > 1 needs zero-padded batches."""
    return max(n, low)


class TensorRTBackend(Backend):
    """Runs a synthsight ``.engine`` (strongly typed, built by ``synthsight export --format engine``)."""

    name = "tensorrt"
    overlaps = True  # submit() queues on the GPU and returns (runtime/cuda_feed.py)

    @classmethod
    def probe(cls, details: dict) -> dict[str, tuple[bool, str]]:
        cpu = (False, "TensorRT engines run on NVIDIA GPUs only")
        try:
            import tensorrt as trt
        except ImportError:
            return {"cpu": cpu, "cuda": (False, f"tensorrt is not installed ({install_hint('gpu')})")}
        from synthsight.runtime.torch import torch_cuda

        ok, why = torch_cuda()
        if not ok:
            return {"cpu": cpu, "cuda": (False, why)}
        if details:  # an engine's sidecar: built for this TensorRT and this GPU?
            import torch

            props = torch.cuda.get_device_properties(0)
            here = dict(tensorrt_version=trt.__version__, gpu_name=props.name)
            try:
                check_sidecar(details, **here, compute_capability=(props.major, props.minor))
            except SynthsightError as exc:
                return {"cpu": cpu, "cuda": (False, str(exc))}
        return {"cpu": cpu, "cuda": (True, f"TensorRT {trt.__version__} on {why}")}

    def __init__(
        self,
        path: str | Path,
        device: str = "auto",
        precision: str = "auto",
        max_batch: int | None = None,
        threads: int | None = None,  # noqa: ARG002 - GPU backend: CPU threads do not apply
    ):
        path = Path(path)
        trt, torch, index = require_tensorrt(device)
        sidecar = read_sidecar(path)
        props = torch.cuda.get_device_properties(index)
        spec = check_sidecar(
            sidecar,
            tensorrt_version=trt.__version__,
            gpu_name=props.name,
            compute_capability=(props.major, props.minor),
        )
        low, high = profile_bounds(sidecar)
        self._low = low
        super().__init__(spec, max_batch=chunk_size(max_batch, low, high), source=str(path))
        self.device = f"cuda:{index}"
        self.precision = str(sidecar.get("precision", "fp16"))
        if precision not in (None, "", "auto", self.precision):
            raise UsageError(f"--precision {precision}: {path.name} is a {self.precision} engine (fixed at export)")
        self._torch = torch
        with torch.cuda.device(index):
            self._load(trt, path, spec, low, high)

    def _load(self, trt, path: Path, spec: ModelSpec, low: int, high: int) -> None:
        torch = self._torch
        logger = trt.Logger(trt.Logger.ERROR)
        self._runtime = trt.Runtime(logger)
        self._engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
        if self._engine is None:
            raise ModelFileError(f"{path}: TensorRT could not deserialise the engine; {REEXPORT}")
        check_io(engine_tensors(trt, self._engine), spec, low, high, str(path))
        self._bind(torch, self._engine.create_execution_context(), spec.num_classes, low)

    def _bind(self, torch, context, classes: int, low: int) -> None:
        """``context``'s output buffer (bound once) and the feed whose slots take turns as its input."""
        from synthsight.runtime.cuda_feed import CudaFeed

        self._context, rows = context, max(self.max_batch, low)
        # One output buffer serves both slots: executions and their output copies are queued on one stream.
        self._out_dev = torch.empty((rows, classes), dtype=torch.float32, device=self.device)
        self._context.set_tensor_address(OUTPUT_NAME, self._out_dev.data_ptr())
        pad = lambda n: padded(n, low)  # noqa: E731 - the engine's profile starts at low rows
        self._feed = CudaFeed(torch, self.device, self.input_shape, classes, rows, self._execute, pad)

    def _execute(self, x, stream):
        """The engine on device batch ``x``, queued on ``stream``; the feed's slots alternate, so the input
        address is set for each batch."""
        rows = x.shape[0]
        self._context.set_tensor_address(INPUT_NAME, x.data_ptr())
        if not self._context.set_input_shape(INPUT_NAME, (rows, *self.input_shape)):
            raise UsageError(f"TensorRT refused batch {rows} (engine profile {self._low}..{self.max_batch})")
        if not self._context.execute_async_v3(stream.cuda_stream):
            raise ModelFileError(f"{self.source}: TensorRT execution failed")
        return self._out_dev[:rows]

    def submit(self, pixels: np.ndarray):
        return self._feed.submit(self.check_input(pixels))

    def _infer(self, pixels: np.ndarray) -> np.ndarray:
        return self._feed.submit(pixels).result()

    def close(self) -> None:
        if not self._closed and hasattr(self, "_context"):
            self._feed.close()
            # Context before engine before runtime: TensorRT's destruction order.
            for attr in ("_context", "_engine", "_runtime", "_feed", "_out_dev"):
                setattr(self, attr, None)
        super().close()


def engine_tensors(trt, engine) -> list[TensorInfo]:
    """The engine's I/O tensors through the name-based API (TensorRT >= 10)."""
    out = []
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        mode = "input" if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT else "output"
        dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name))).name
        out.append(TensorInfo(name, mode, dtype, tuple(engine.get_tensor_shape(name))))
    return out
