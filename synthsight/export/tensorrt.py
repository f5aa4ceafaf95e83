"""FP16 ONNX -> strongly typed TensorRT engine (a pure plan) + ``NAME.engine.json`` sidecar.

Written against the TensorRT 10.12+ / 11.x Python API. Precision comes from the graph
(export/fp16.py): the network is strongly typed - requested with
``NetworkDefinitionCreationFlag.STRONGLY_TYPED`` on 10.x, always on in 11.x (where the flag is
deprecated and ignored, so it is not passed) - and no precision builder flag is used
(``BuilderFlag.FP16`` was removed in 11.0). ``tensorrt`` is imported lazily: without it, or
without a CUDA GPU, :func:`require_builder` raises BackendUnavailable naming what is missing.

Every TensorRT name used here is checked against the names in the TensorRT 11.4 bindings by
tests/test_tensorrt_names.py, so a misspelt call fails on a CPU machine, not on the first GPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from synthsight.atomic import Atomic
from synthsight.errors import BackendUnavailable, ModelFileError, SynthsightError, UsageError
from synthsight.extras import install_hint
from synthsight.runtime.engine_sidecar import sidecar_path
from synthsight.spec import INPUT_NAME, ModelSpec

MIN_VERSION = (10, 12)


@dataclass(frozen=True)
class EngineConfig:
    """How to build: optimisation profile (min 1 / opt / max), workspace limit, timing cache file."""

    batch: int = 32
    max_batch: int = 256
    workspace_gb: float = 4.0
    timing_cache: Path | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.batch <= self.max_batch:
            raise UsageError(f"need 1 <= --batch ({self.batch}) <= --max-batch ({self.max_batch})")
        if self.workspace_gb <= 0:
            raise UsageError(f"--workspace must be positive, got {self.workspace_gb} GB")


def require_builder():
    """The ``tensorrt`` module and the CUDA device name, or BackendUnavailable saying what is missing."""
    try:
        import tensorrt as trt
    except ImportError:
        raise BackendUnavailable(
            f"TensorRT engine export needs the 'tensorrt' Python package ({install_hint('gpu')}) "
            "and an NVIDIA GPU; tensorrt is not installed"
        ) from None
    import torch

    if not torch.cuda.is_available():
        raise BackendUnavailable("TensorRT engine export needs an NVIDIA CUDA GPU; torch sees none on this machine")
    version = tuple(int(p) for p in trt.__version__.split(".")[:2])
    if version < MIN_VERSION:
        raise BackendUnavailable(
            f"TensorRT {trt.__version__} is too old: strongly typed FP16 engines need TensorRT >= "
            f"{'.'.join(map(str, MIN_VERSION))}"
        )
    return trt


def build_engine(
    onnx_path: str | Path,
    engine_path: str | Path,
    spec: ModelSpec,
    config: EngineConfig,
    echo: Callable[[str], None] = print,
) -> Path:
    """Parse ``onnx_path`` (normally model.fp16.onnx), build and write ``engine_path`` + its JSON sidecar.

    The engine is written first, then its sidecar, then the timing cache: a timing cache that
    cannot be written costs the next build some minutes, never this engine.
    """
    trt = require_builder()
    logger = _make_logger(trt)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt))
    _parse(trt, network, logger, Path(onnx_path))
    _check_input(network, spec, onnx_path)

    build_config = builder.create_builder_config()
    build_config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(config.workspace_gb * (1 << 30)))
    size = spec.preprocess.size
    profile = builder.create_optimization_profile()
    shapes = [(n, size, size, 3) for n in (1, config.batch, config.max_batch)]
    profile.set_shape(INPUT_NAME, *shapes)
    build_config.add_optimization_profile(profile)
    cache = _attach_timing_cache(build_config, config.timing_cache, echo)  # must outlive the build

    plan = builder.build_serialized_network(network, build_config)
    if plan is None:
        raise SynthsightError(f"TensorRT could not build an engine from {onnx_path}: {logger.summary()}")
    engine_path = Path(engine_path)
    # An old sidecar must never describe the new plan, even if this process dies between the two writes.
    sidecar_path(engine_path).unlink(missing_ok=True)
    _atomic_write(engine_path, plan)  # a pure plan: trtexec --loadEngine reads it as is
    write_sidecar(engine_path, spec, trt.__version__, config, precision=_engine_precision(onnx_path))
    if config.timing_cache is not None and cache is not None:
        _save_timing_cache(build_config, Path(config.timing_cache), echo)
    return engine_path


def _engine_precision(onnx_path: str | Path) -> str:
    """The engine's precision is its graph's: a strongly typed network runs the graph's own types."""
    from synthsight.artifacts import file_precision

    return file_precision(onnx_path)


def _network_flags(trt) -> int:
    if int(trt.__version__.split(".")[0]) >= 11:
        return 0  # strongly typed is the only mode; STRONGLY_TYPED is deprecated and ignored
    return 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)


def _parse(trt, network, logger, onnx_path: Path) -> None:
    if not onnx_path.is_file():
        raise ModelFileError(f"ONNX file not found: {onnx_path}")
    parser = trt.OnnxParser(network, logger)
    if parser.parse_from_file(str(onnx_path)):
        return
    errors = [_describe_parser_error(parser.get_error(i)) for i in range(parser.num_errors)]
    raise ModelFileError(f"TensorRT cannot parse {onnx_path}: " + "; ".join(errors or [logger.summary()]))


def _describe_parser_error(error) -> str:
    where = ""
    name, op = getattr(error, "node_name", None), getattr(error, "node_operator", None)
    if callable(name) and name():
        where = f" at node {name()}" + (f" ({op()})" if callable(op) and op() else "")
    return f"{error.desc()}{where}"


def _check_input(network, spec: ModelSpec, onnx_path) -> None:
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    names = [t.name for t in inputs]
    if names != [INPUT_NAME]:
        raise ModelFileError(f"{onnx_path}: expected one input named {INPUT_NAME!r}, found {names}")
    shape = tuple(inputs[0].shape)
    size = spec.preprocess.size
    if shape[1:] != (size, size, 3) or shape[0] != -1:
        raise ModelFileError(f"{onnx_path}: input shape {shape} is not [-1, {size}, {size}, 3] (re-export it)")


def _attach_timing_cache(build_config, path: Path | None, echo: Callable[[str], None]):
    """Give the builder the timing cache at ``path`` (or a new one); say so when TensorRT will not use it.

    ``set_timing_cache`` verifies the cache's header and returns False for one made on another GPU
    or TensorRT version; the build then starts from an empty cache, which replaces the file.
    Returns the attached cache (it must outlive the build), or None when none could be attached.
    """
    data = Path(path).read_bytes() if path is not None and Path(path).is_file() else b""
    if data:
        try:
            cache = build_config.create_timing_cache(data)
        except Exception as exc:  # a truncated or foreign file: the bindings raise
            cache, why = None, f"is unreadable ({type(exc).__name__})"
        else:
            why = "was made for another GPU or TensorRT version and is not used"
        if cache is not None and build_config.set_timing_cache(cache, ignore_mismatch=False):
            return cache
        echo(f"note: timing cache {path} {why}; building without it (the file will be replaced)")
    cache = build_config.create_timing_cache(b"")
    if not build_config.set_timing_cache(cache, ignore_mismatch=False):
        echo("note: TensorRT refused a new timing cache; building without one")
        return None
    return cache


def _save_timing_cache(build_config, path: Path, echo: Callable[[str], None]) -> None:
    try:
        _atomic_write(path, build_config.get_timing_cache().serialize())
    except OSError as exc:
        echo(f"note: could not write the timing cache {path} ({exc.strerror or exc}); the engine is written")


def _atomic_write(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with Atomic(path) as tmp, open(tmp, "wb") as f:
        f.write(memoryview(data))


def write_sidecar(
    engine_path: Path, spec: ModelSpec, trt_version: str, config: EngineConfig, *, precision: str
) -> Path:
    """``NAME.engine.json``: the spec plus TensorRT version, GPU, compute capability, profile and precision."""
    from synthsight.runtime.engine_sidecar import make_sidecar

    gpu_name, capability = _gpu_identity()
    profile = {"input": INPUT_NAME, "min": 1, "opt": config.batch, "max": config.max_batch}
    sidecar = make_sidecar(
        spec,
        tensorrt_version=trt_version,
        gpu_name=gpu_name,
        compute_capability=capability,
        profile=profile,
        extra={"precision": precision},
    )
    path = sidecar_path(engine_path)
    _atomic_write(path, _json(sidecar).encode("utf-8"))
    return path


def update_sidecar_spec(engine_path: Path, spec: ModelSpec) -> Path:
    """Replace the spec in an engine's sidecar (e.g. to add parity figures); everything else is kept."""
    from synthsight.runtime.engine_sidecar import read_sidecar

    spec.validate()
    sidecar = {**read_sidecar(engine_path), "spec": spec.to_dict()}
    path = sidecar_path(engine_path)
    _atomic_write(path, _json(sidecar).encode("utf-8"))
    return path


def _gpu_identity() -> tuple[str, tuple[int, int]]:
    """Name and compute capability of the current CUDA device: what the engine was built for."""
    import torch

    return torch.cuda.get_device_name(), tuple(torch.cuda.get_device_capability())


def _json(data) -> str:
    import json

    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _make_logger(trt):
    """A TensorRT logger that prints warnings and keeps errors, so a failed build can say why in one line."""
    levels = trt.ILogger.Severity
    errors = {levels.INTERNAL_ERROR, levels.ERROR}
    shown = {*errors, levels.WARNING}

    class Logger(trt.ILogger):
        def __init__(self):
            trt.ILogger.__init__(self)
            self.errors: list[str] = []

        def log(self, severity, msg):
            if severity in errors:
                self.errors.append(msg)
            if severity in shown:
                print(f"[TensorRT] {msg}", flush=True)

        def summary(self) -> str:
            return self.errors[-1] if self.errors else "no error message from TensorRT"

    return Logger()
