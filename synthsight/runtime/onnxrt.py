"""ONNX Runtime backend: TensorRT EP > CUDA EP > CPU EP, the spec read from the file's metadata.

The file must be a synthsight export: input ``pixels`` uint8 ``[N, H, W, 3]`` (dynamic N),
output ``logits`` float32 ``[N, C]`` and the ModelSpec under ``metadata_props["synthsight.spec"]``.
A file whose metadata is missing or disagrees with its graph is refused before the first batch.

Threading: ONNX Runtime's idle intra-op threads spin by default and steal the cores the
decode workers need, so when the caller sizes ``threads`` (it shares the machine) spinning
is turned off; inter-op parallelism is useless for a single-branch CNN, so 1.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from synthsight.artifacts import file_precision, onnx_spec
from synthsight.errors import BackendUnavailable, ModelFileError, UsageError
from synthsight.machine import parse_device, usable_cores
from synthsight.runtime.base import Backend, with_detail
from synthsight.spec import INPUT_NAME, OUTPUT_NAME, ModelSpec

TRT_EP, CUDA_EP, CPU_EP = "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"
GPU_HINT = (
    "install onnxruntime-gpu without onnxruntime (pip uninstall onnxruntime; pip install 'synthsight[gpu]') "
    "on a machine with an NVIDIA driver"
)
TRT_MAX_BATCH = 64  # the TensorRT EP's profile maximum when the caller gives no max_batch


def default_cache_dir() -> Path:
    """Where the TensorRT EP keeps its engines and timing cache (they take minutes to build)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "synthsight" / "ort-tensorrt"


def plan_providers(
    device: str,
    available: list[str],
    *,
    size: int,
    max_batch: int | None = None,
    cache_dir: Path | None = None,
    fp16: bool = False,
) -> list[tuple[str, dict[str, Any]]]:
    """Providers with their options, best first, for ``device`` given the providers this onnxruntime has.

    ``fp16``: the file is a mixed FP16 export. ONNX Runtime's TensorRT EP (1.31) builds weakly typed
    TensorRT 10 networks: without ``trt_fp16_enable`` TensorRT may pick FP32 kernels for the FP16 file
    (the label would lie), so it is enabled, with ``trt_layer_norm_fp32_fallback`` keeping the
    LayerNorms that the export kept in FP32 in FP32. An FP32 file gets no precision flag (FP32 kernels).
    """
    wanted = parse_device(device)
    if wanted.kind == "cpu":
        return [(CPU_EP, {})]
    gpu = [p for p in (TRT_EP, CUDA_EP) if p in available]
    if not gpu:
        if wanted.kind == "auto":
            return [(CPU_EP, {})]
        raise BackendUnavailable(f"--device {wanted}: this onnxruntime has no CUDA provider ({_gpu_hint()})")
    index = wanted.gpu
    plan: list[tuple[str, dict[str, Any]]] = []
    if TRT_EP in gpu:
        plan.append((TRT_EP, _trt_options(index, size, max_batch, cache_dir or default_cache_dir(), fp16)))
    if CUDA_EP in gpu:
        plan.append((CUDA_EP, cuda_options(index)))
    return [*plan, (CPU_EP, {})]


def cuda_options(index: int) -> dict[str, Any]:
    """The CUDA EP's options. EXHAUSTIVE (ORT's default) benchmarks every cuDNN algorithm again for each new
    input shape, so a scan's last, partial batch pays a search; HEURISTIC asks cuDNN once per shape.
    ``prefer_nhwc``: the input is NHWC, so NHWC kernels save the layout transposes."""
    return {"device_id": index, "cudnn_conv_algo_search": "HEURISTIC", "prefer_nhwc": "1"}


def _trt_options(index: int, size: int, max_batch: int | None, cache: Path, fp16: bool = False) -> dict[str, Any]:
    # One profile covering every batch the runtime sends (larger ones are chunked to its maximum),
    # so a change of N never makes the provider rebuild its engine.
    top = max_batch or TRT_MAX_BATCH
    shape = lambda n: f"{INPUT_NAME}:{n}x{size}x{size}x3"  # noqa: E731
    return {
        "device_id": index,
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": str(cache),
        "trt_timing_cache_enable": True,
        "trt_timing_cache_path": str(cache),
        "trt_profile_min_shapes": shape(1),
        "trt_profile_opt_shapes": shape(min(32, top)),
        "trt_profile_max_shapes": shape(top),
        **({"trt_fp16_enable": True, "trt_layer_norm_fp32_fallback": True} if fp16 else {}),
    }


def trt_profile_max(plan: list[tuple[str, dict[str, Any]]]) -> int | None:
    """The largest batch the TensorRT EP's profile in ``plan`` covers (None without the TensorRT EP)."""
    options = dict(plan).get(TRT_EP)
    if not options:
        return None
    return int(options["trt_profile_max_shapes"].rpartition(":")[2].split("x")[0])


def prepare_caches(plan: list[tuple[str, dict[str, Any]]]) -> None:
    """Create the TensorRT EP's cache folders with their parents: the provider creates only the last level
    and otherwise fails with an error that reads as if the model could not be loaded."""
    options = dict(plan).get(TRT_EP) or {}
    for key in ("trt_engine_cache_path", "trt_timing_cache_path"):
        if options.get(key):
            try:
                Path(options[key]).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise BackendUnavailable(
                    f"cannot create ONNX Runtime's TensorRT cache folder {options[key]} ({exc.strerror or exc}); "
                    "set XDG_CACHE_HOME to a writable folder"
                ) from None


def _gpu_hint() -> str:
    from synthsight.machine import onnxruntime_conflict

    return onnxruntime_conflict() or GPU_HINT


def check_graph(inputs: list, outputs: list, spec: ModelSpec, where: str) -> None:
    """Refuse a file whose graph does not match its own metadata (objects with name/type/shape)."""
    size = spec.preprocess.size
    if len(inputs) != 1 or inputs[0].name != INPUT_NAME:
        raise ModelFileError(f"{where}: expected one input {INPUT_NAME!r}, found {[i.name for i in inputs]}")
    pixels = inputs[0]
    if pixels.type != "tensor(uint8)":
        raise ModelFileError(f"{where}: input {INPUT_NAME!r} is {pixels.type}, expected uint8 pixels (re-export it)")
    if len(pixels.shape) != 4 or list(pixels.shape[1:]) != [size, size, 3]:
        raise ModelFileError(
            f"{where}: input shape {list(pixels.shape)} does not match the metadata's "
            f"[N, {size}, {size}, 3] (re-export it)"
        )
    logits = next((o for o in outputs if o.name == OUTPUT_NAME), None)
    if logits is None:
        raise ModelFileError(f"{where}: no {OUTPUT_NAME!r} output (found {[o.name for o in outputs]})")
    if logits.type != "tensor(float)":
        raise ModelFileError(f"{where}: output {OUTPUT_NAME!r} is {logits.type}, expected float32")
    if len(logits.shape) != 2 or logits.shape[1] != spec.num_classes:
        raise ModelFileError(
            f"{where}: output shape {list(logits.shape)} does not match the metadata's "
            f"{spec.num_classes} classes {spec.classes} (re-export it)"
        )


def session_options(ort, threads: int | None):
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = int(threads or usable_cores())
    opts.inter_op_num_threads = 1
    if threads is not None:
        # The caller sized threads to share the machine with decode workers: do not spin on their cores.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.log_severity_level = 3  # errors only: ORT's warnings are not for our users
    return opts


class OnnxRuntimeBackend(Backend):
    """Runs a synthsight ``.onnx`` file (FP32 or mixed FP16) with ONNX Runtime."""

    name = "onnxruntime"

    @classmethod
    def probe(cls, details: dict) -> dict[str, tuple[bool, str]]:
        try:
            import onnxruntime as ort
        except ImportError:
            missing = (False, "onnxruntime is not installed (pip install onnxruntime)")
            return {"cpu": missing, "cuda": missing}
        from synthsight.runtime.torch import torch_cuda

        providers = ort.get_available_providers()
        gpu = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in providers]
        if not gpu:
            cuda = (False, f"onnxruntime {ort.__version__} has no CUDA provider (install onnxruntime-gpu)")
        else:
            cuda = with_detail(torch_cuda(), ", ".join(gpu))
        return {"cpu": (True, f"onnxruntime {ort.__version__} CPUExecutionProvider"), "cuda": cuda}

    def __init__(
        self,
        path: str | Path,
        device: str = "auto",
        precision: str = "auto",
        max_batch: int | None = None,
        threads: int | None = None,
        cache_dir: str | Path | None = None,
    ):
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise ModelFileError(f"{path}: ONNX file not found")
        if precision not in (None, "", "auto", "fp32", "fp16"):
            raise UsageError(f"--precision {precision}: ONNX Runtime runs the file's own precision (fp32 or fp16)")
        cache = Path(cache_dir) if cache_dir else None
        plan = plan_providers(device, ort.get_available_providers(), size=0)
        if len(plan) == 1:  # CPU: one session (ONNX Runtime says first why a file that is not ONNX is refused)
            self._session = self._open(ort, path, plan, threads)
            spec = onnx_spec(path)
        else:  # GPU: the TensorRT EP profile needs the image size before the session exists
            spec = onnx_spec(path)
            fp16 = file_precision(path) == "fp16"
            kwargs = dict(size=spec.preprocess.size, max_batch=max_batch, cache_dir=cache, fp16=fp16)
            plan = plan_providers(device, ort.get_available_providers(), **kwargs)
            prepare_caches(plan)
            self._session = self._open(ort, path, plan, threads)
        check_graph(self._session.get_inputs(), self._session.get_outputs(), spec, str(path))
        self.providers = self._session.get_providers()
        self._plan = dict(plan)
        # Batches above the TensorRT EP's profile are chunked to it: a larger one would make it rebuild.
        top = trt_profile_max(plan) if self.providers[0] == TRT_EP else None
        super().__init__(spec, max_batch=min(max_batch or top, top) if top else max_batch, source=str(path))
        self.device, self.precision = self._resolve(device, plan), file_precision(path)
        if precision in ("fp16", "fp32") and self.precision != precision:
            self._session = None
            raise UsageError(
                f"--precision {precision}: {path.name} runs as {self.precision} here "
                f"(precision is fixed by the exported file; export --format fp16 for an FP16 file)"
            )
        self._binding = self._session.io_binding() if self.device.startswith("cuda") else None

    @staticmethod
    def _open(ort, path: Path, plan, threads: int | None):
        names = [name for name, _ in plan]
        options = [opts for _, opts in plan]
        opts = session_options(ort, threads)
        try:
            return ort.InferenceSession(str(path), sess_options=opts, providers=names, provider_options=options)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelFileError(f"{path}: ONNX Runtime could not load it ({first[:200]})") from None

    def _resolve(self, device: str, plan) -> str:
        """The device that really runs (every provider computes in the file's own precision)."""
        active = self.providers[0]
        if active == CPU_EP:
            wanted = parse_device(device)  # what the user typed: "CPU" is cpu
            if wanted.kind == "cuda":
                why = _gpu_hint()
                raise BackendUnavailable(f"--device {wanted}: ONNX Runtime's GPU providers failed to load ({why})")
            return "cpu"
        index = dict(plan).get(active, {}).get("device_id", 0)
        return f"cuda:{index}"

    def describe(self) -> dict:
        """What ran: the providers the session really got (best first) and, on the TensorRT EP, the precision
        flags it was built with (``kernels`` says what TensorRT was allowed to pick)."""
        out = {**super().describe(), "providers": list(self.providers)}
        if self.providers and self.providers[0] == TRT_EP:
            options = self._plan.get(TRT_EP, {})
            fp16 = bool(options.get("trt_fp16_enable"))
            out["tensorrt_ep"] = {
                "trt_fp16_enable": fp16,
                "trt_layer_norm_fp32_fallback": bool(options.get("trt_layer_norm_fp32_fallback")),
                "kernels": "fp16 where TensorRT finds it faster, LayerNorm in fp32" if fp16 else "fp32",
            }
        return out

    def _infer(self, pixels: np.ndarray) -> np.ndarray:
        if self._binding is None:
            return self._session.run([OUTPUT_NAME], {INPUT_NAME: pixels})[0]
        # I/O binding: the input is copied to the GPU once and the output once back, no staging copies.
        binding = self._binding
        binding.bind_cpu_input(INPUT_NAME, pixels)
        binding.bind_output(OUTPUT_NAME, "cpu")
        self._session.run_with_iobinding(binding)
        out = binding.copy_outputs_to_cpu()[0]
        binding.clear_binding_inputs()
        binding.clear_binding_outputs()
        return out

    def close(self) -> None:
        self._session = None
        self._binding = None
        super().close()
