"""OpenVINO backend: a synthsight ``.onnx`` file read directly by OpenVINO's CPU plugin.

Precision is always set explicitly. The CPU plugin's default on a machine with native bf16
(AMX or AVX512_BF16) is to compute in bf16 (``EXECUTION_MODE_HINT=PERFORMANCE``), which would
change verdicts silently, so fp32 forces ``INFERENCE_PRECISION_HINT=f32``; bf16 is set only where
:mod:`synthsight.runtime.cpu.features` finds it native (asked explicitly on an AVX-512 CPU without
``avx512_bf16``, OpenVINO would emulate it). An INT8 (QDQ) file runs its quantised operations in
INT8 and keeps the rest in f32, the arithmetic its certificate measured. After compiling, the
precision OpenVINO reports is checked against the one asked for.

Threading: ``threads`` (or the usable cores) single-threaded streams, and each batch is split into
parts (infer requests started together, which OpenVINO hands to its streams as they free up), so
no core waits at a barrier for another. Under load from other processes on the 2-core reference
machine, two one-thread streams ran the FP32 model up to 2x faster than one two-thread stream; on a
quiet one OpenVINO fp32 runs 1.1-1.3x ONNX Runtime fp32 (benchmarks/RESULTS.md). Images share no
arithmetic across a batch, so the split changes no score. When the caller sized ``threads`` to share
the machine with decode workers, thread pinning is off (OpenVINO pins by default on Linux, which
fights the decode processes for their cores), as onnxrt.py turns spinning off. Not
``AsyncInferQueue``: destroying one after use aborted the process ("Resource deadlock avoided")
within a few open/close cycles under OpenVINO 2026.4; plain infer requests did not.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from synthsight.artifacts import file_precision, onnx_spec
from synthsight.errors import BackendUnavailable, ModelFileError, UsageError
from synthsight.extras import install_hint, missing
from synthsight.machine import parse_device, usable_cores
from synthsight.runtime import signal_stack
from synthsight.runtime.base import Backend
from synthsight.runtime.cpu.features import CpuFeatures, here
from synthsight.spec import INPUT_NAME, OUTPUT_NAME

# The file's precision -> the precisions OpenVINO may run it at; the first is ``auto``.
RUNS_AS = {"fp32": ("fp32", "bf16"), "int8": ("int8",)}
HINTS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}  # INT8 files: the non-quantised rest in f32
MAX_PART = 4  # images per infer request when the largest batch is known


def openvino_version() -> str | None:
    """The installed OpenVINO's version, or None when it is absent (without importing the runtime twice)."""
    try:
        import openvino as ov
    except ImportError:
        return None
    return ov.__version__.split("-")[0]


def _port(port) -> SimpleNamespace:
    """An OpenVINO port in the shape :func:`synthsight.runtime.onnxrt.check_graph` reads."""
    types = {"u8": "tensor(uint8)", "f32": "tensor(float)", "f16": "tensor(float16)"}
    dims = [d.get_length() if d.is_static else None for d in port.get_partial_shape()]
    element = port.get_element_type().get_type_name()
    return SimpleNamespace(name=port.get_any_name(), type=types.get(element, f"tensor({element})"), shape=dims)


class OpenVinoBackend(Backend):
    """Runs a synthsight ``.onnx`` file (FP32, or an INT8 QDQ export) with OpenVINO on the CPU."""

    name = "openvino"

    @classmethod
    def probe(cls, details: dict) -> dict[str, tuple[bool, str]]:
        version = openvino_version()
        cuda = (False, "synthsight runs OpenVINO on the CPU only")
        if version is None:
            return {"cpu": (False, f"openvino is not installed ({install_hint('openvino')})"), "cuda": cuda}
        native = ", ".join(p for p in ("fp32", "bf16", "int8") if here().native(p))
        return {"cpu": (True, f"OpenVINO {version} ({native} native here)"), "cuda": cuda}

    def __init__(
        self,
        path: str | Path,
        device: str = "auto",
        precision: str = "auto",
        max_batch: int | None = None,
        threads: int | None = None,
        features: CpuFeatures | None = None,
    ):
        with signal_stack.kept():  # OpenVINO's CPU plugin would leave this thread a stack it unmaps later
            self._open(path, device, precision, max_batch, threads, features)

    def _open(self, path, device, precision, max_batch, threads, features) -> None:
        wanted = parse_device(device)
        if wanted.kind == "cuda":
            raise BackendUnavailable(f"--device {wanted}: synthsight runs OpenVINO on the CPU only (use --device cpu)")
        try:
            import openvino as ov
        except ImportError:
            why = missing("openvino") or "--backend openvino: openvino could not be imported"
            raise BackendUnavailable(why) from None
        path = Path(path)
        if not path.is_file():
            raise ModelFileError(f"{path}: ONNX file not found")
        core = ov.Core()
        try:
            model = core.read_model(str(path))
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelFileError(f"{path}: OpenVINO could not read it ({first[:200]})") from None
        spec = onnx_spec(path)
        from synthsight.runtime.onnxrt import check_graph

        check_graph([_port(p) for p in model.inputs], [_port(p) for p in model.outputs], spec, str(path))
        super().__init__(spec, max_batch=max_batch, source=str(path))
        self.precision = resolve_precision(path, file_precision(path), precision, features or here())
        self.device = "cpu"
        self.threads = int(threads or usable_cores())
        # With a known largest batch, requests get a static shape of at most MAX_PART images: OpenVINO's
        # kernels for a fixed shape ran 10-15 % faster than for a dynamic one, and small parts keep a
        # block's activations in cache (INT8 convnext_tiny: 3.0x ONNX Runtime fp32 in parts of 2-4 images,
        # 2.1x in parts of 16, same run). A short part is zero-padded.
        self.part = min(-(-int(max_batch) // self.threads), MAX_PART) if max_batch else None
        if self.part:
            model.reshape({INPUT_NAME: [self.part, *self.input_shape]})
        self.config = {
            "INFERENCE_PRECISION_HINT": HINTS[self.precision],
            "PERFORMANCE_HINT": "THROUGHPUT",
            "NUM_STREAMS": self.threads,
            "INFERENCE_NUM_THREADS": self.threads,
            "ENABLE_CPU_PINNING": threads is None,
        }
        try:
            self._compiled = core.compile_model(model, "CPU", self.config)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise BackendUnavailable(f"{path}: OpenVINO could not compile it for this CPU ({first[:200]})") from None
        ran = self._compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        if ran != HINTS[self.precision]:
            raise BackendUnavailable(f"{path}: OpenVINO compiled it as {ran}, not {HINTS[self.precision]}; refusing")
        self.streams = int(self._compiled.get_property("NUM_STREAMS"))
        self._requests = [self._compiled.create_infer_request() for _ in range(self.streams)]
        self._output = self._compiled.output(OUTPUT_NAME)
        self.version = ov.__version__.split("-")[0]

    def describe(self) -> dict:
        return {**super().describe(), "openvino": self.version, "threads": self.threads, "streams": self.streams}

    def _infer(self, pixels: np.ndarray) -> np.ndarray:
        if self.part is None:
            parts = [p for p in np.array_split(pixels, min(self.streams, len(pixels))) if len(p)]
        else:
            parts = [pixels[i : i + self.part] for i in range(0, len(pixels), self.part)]
        while len(self._requests) < len(parts):  # OpenVINO queues requests beyond its streams itself
            self._requests.append(self._compiled.create_infer_request())
        requests = self._requests[: len(parts)]
        for request, part in zip(requests, parts, strict=True):
            request.start_async({INPUT_NAME: self._fit(part)})
        out = []
        for request, part in zip(requests, parts, strict=True):
            request.wait()
            out.append(np.array(request.get_tensor(self._output).data[: len(part)], dtype=np.float32))
        return np.concatenate(out)

    def _fit(self, part: np.ndarray) -> np.ndarray:
        """``part`` as the request's input: zero-padded to the static shape when shorter."""
        if self.part is None or len(part) == self.part:
            return np.ascontiguousarray(part)
        padded = np.zeros((self.part, *part.shape[1:]), dtype=part.dtype)
        padded[: len(part)] = part
        return padded

    def close(self) -> None:
        self._requests = []
        self._compiled = None
        super().close()


def resolve_precision(path: Path, file_precision: str, asked: str | None, features: CpuFeatures) -> str:
    """The precision to run ``path`` (a ``file_precision`` file) at, refusing what is not native here."""
    if file_precision not in RUNS_AS:
        raise UsageError(
            f"--backend openvino: {path.name} is a {file_precision} file; OpenVINO runs the FP32 or INT8 "
            "export (model.onnx, model.int8.onnx)"
        )
    allowed = RUNS_AS[file_precision]
    precision = allowed[0] if asked in (None, "", "auto") else asked
    if precision not in allowed:
        raise UsageError(
            f"--precision {precision}: {path.name} is a {file_precision} file, which OpenVINO runs as "
            f"{' or '.join(allowed)}"
        )
    if not features.native(precision):
        raise UsageError(f"--precision {precision}: this CPU ({features.name}) has {features.why(precision)}")
    return precision
