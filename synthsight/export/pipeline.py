"""What `synthsight export` runs: bundle -> model.onnx -> model.fp16.onnx -> model.engine, each checked;
and model.int8.onnx, calibrated on the bundle's training images.

Every file is compared with the PyTorch fp32 model on the same decoded images (export/verify.py)
and its parity figures are written into its own metadata (``metrics["parity"]`` of the spec in
ONNX ``metadata_props`` or in the engine sidecar). The reduced CPU precisions (OpenVINO fp32 and
bf16 of model.onnx, INT8 of model.int8.onnx) get fidelity certificates against ONNX Runtime fp32 on
the bundle's validation images (export/certificate.py), and model.int8.onnx records the SHA-256 of
the model.onnx it belongs to.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from synthsight.artifacts import EXPORT_NAMES, bundle_paths, file_sha256, is_bundle
from synthsight.errors import BackendUnavailable, ModelFileError, UsageError
from synthsight.export import verify
from synthsight.export.onnx import DEFAULT_OPSET
from synthsight.export.tensorrt import EngineConfig
from synthsight.spec import ModelSpec

FORMATS = ("onnx", "fp16", "int8", "engine", "all")
# Parity bounds the export warns about (the acceptance bounds of the export issue).
EXPECTED = {"onnx": (1e-4, 1.0), "fp16": (0.02, 0.995), "engine": (0.02, 0.995)}


@dataclass
class ExportConfig:
    model: Path
    format: str = "all"
    out: Path | None = None  # default: the bundle directory
    opset: int = DEFAULT_OPSET
    engine: EngineConfig = field(default_factory=EngineConfig)
    check_images: Path | None = None
    check: bool = True
    calibration_data: Path | None = None  # INT8 calibration (default: the bundle's training images)
    calibration_count: int = 300

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {self.format!r}")


@dataclass
class ExportResult:
    files: dict[str, Path] = field(default_factory=dict)  # format -> path
    parity: dict[str, verify.Parity] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # format -> why


def export_model(config: ExportConfig, echo: Callable[[str], None] = print) -> ExportResult:
    """Write the requested files; a missing TensorRT/GPU fails ``--format engine`` and skips it under ``all``."""
    from synthsight.model import load_bundle

    if not is_bundle(config.model):
        raise ModelFileError(f"{config.model}: export needs a model bundle (model.safetensors + model.json)")
    wanted = ("onnx", "fp16", "int8", "engine") if config.format == "all" else (config.format,)
    result = ExportResult()
    if "engine" in wanted:
        try:
            from synthsight.export.tensorrt import require_builder

            require_builder()
        except BackendUnavailable as exc:
            if config.format == "engine":
                raise
            result.skipped["engine"] = str(exc)
    out = Path(config.out) if config.out else Path(config.model)
    model, spec = load_bundle(config.model)
    # Every export names the weights it was made from: a calibration (fitted for those weights) is checked
    # against it at scan time, and `synthsight calibrate` knows which exports belong to a bundle.
    spec.weights_sha256 = file_sha256(bundle_paths(config.model)[0])
    paths = {fmt: out / name for fmt, name in EXPORT_NAMES.items()}

    _timed(result, "onnx", lambda: _onnx(model, spec, paths["onnx"], config.opset), echo)
    if {"fp16", "engine"} & set(wanted):
        _timed(result, "fp16", lambda: _fp16(paths["onnx"], paths["fp16"]), echo)
    if "engine" in wanted and "engine" not in result.skipped:
        _timed(result, "engine", lambda: _engine(paths["fp16"], paths["engine"], spec, config.engine, echo), echo)
    if "engine" in result.skipped:
        echo(f"engine skipped: {result.skipped['engine']}")
    if "int8" in wanted:
        _int8(config, spec, paths, result, echo)
    if config.check:
        _check_all(config, spec, result, echo)
    from synthsight.export.reduced import finish_reduced

    _remove_stale(out, config.model, echo)
    finish_reduced(config, spec, paths, result, echo)
    return result


def _remove_stale(out: Path, bundle: Path, echo) -> None:
    """Exports left in ``out`` from other weights (a format not made this time): removed, each with a line.
    Each export names the weights it was made from (above), so one beside other weights is refused when
    opened (runtime/made_from.py); removing it here says so at once."""
    from synthsight.runtime.made_from import stale_exports

    for path in stale_exports(out, bundle):
        path.unlink(missing_ok=True)
        echo(f"removed {path}: made from other weights than {bundle} (re-export that format to have it again)")


def _timed(result: ExportResult, fmt: str, make: Callable[[], Path], echo) -> None:
    start = time.perf_counter()
    path = make()
    result.seconds[fmt] = time.perf_counter() - start
    result.files[fmt] = path
    echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) in {result.seconds[fmt]:.1f} s")


def _onnx(model, spec: ModelSpec, path: Path, opset: int) -> Path:
    from synthsight.export.graph_check import check_file
    from synthsight.export.onnx import export_onnx

    return check_file(export_onnx(model, spec, path, opset=opset))


def _fp16(src: Path, dst: Path) -> Path:
    from synthsight.export.fp16 import convert_fp16
    from synthsight.export.graph_check import check_file

    return check_file(convert_fp16(src, dst))


def _int8(config: ExportConfig, spec: ModelSpec, paths: dict[str, Path], result: ExportResult, echo) -> None:
    """model.int8.onnx; under ``all`` a CPU without INT8 dot products, or a bundle without reachable training
    images, skips it with the reason."""
    from synthsight.export.reduced import make_int8
    from synthsight.runtime.cpu.features import here

    features = here()  # what a scan here would choose by (SYNTHSIGHT_CPUINFO simulates another CPU)
    if config.format == "all" and not features.native("int8"):
        # Calibrating, quantising and certifying took 45 of 81 s of `export` on an AVX2-only EPYC, for a file
        # that CPU neither certifies nor runs (a scan refuses INT8 there): made only when asked.
        result.skipped["int8"] = (
            f"this CPU ({features.name}) has {features.why('int8')}: it could neither certify nor run "
            f"{paths['int8'].name} (--format int8 makes it anyway, for a CPU that has them)"
        )
        echo(f"int8 skipped: {result.skipped['int8']}")
        return
    try:
        _timed(result, "int8", lambda: make_int8(config, spec, paths, echo), echo)
    except UsageError as exc:
        if config.format == "int8":
            raise
        result.skipped["int8"] = str(exc)
        echo(f"int8 skipped: {exc}")


def _engine(src: Path, dst: Path, spec: ModelSpec, engine: EngineConfig, echo) -> Path:
    from synthsight.export.tensorrt import build_engine

    return build_engine(src, dst, spec, engine, echo=echo)


def _check_all(config: ExportConfig, spec: ModelSpec, result: ExportResult, echo) -> None:
    """Parity of every written file against PyTorch fp32, printed and stored in the file's metadata."""
    from synthsight.runtime import open_backend

    check = verify.check_set(spec.preprocess, config.check_images)
    with open_backend(config.model, backend="torch", device="cpu", precision="fp32") as ref:
        ref_scores = verify.scores(ref, check.pixels)
        ref_name = verify.label(ref)
    for fmt, path in result.files.items():
        if fmt == "int8":  # judged against ONNX Runtime fp32 by its certificate (export/reduced.py)
            continue
        device = "cuda" if fmt == "engine" else "cpu"
        runtime = "tensorrt" if fmt == "engine" else "onnxruntime"
        with open_backend(path, backend=runtime, device=device, precision=None) as cand:  # the file as exported
            cand_scores = verify.scores(cand, check.pixels)
            names = (ref_name, f"{path.name} ({verify.label(cand)})")
        parity = verify.compare_scores(ref_scores, cand_scores, spec.threshold, names=names, images=check.description)
        result.parity[fmt] = parity
        echo(parity.report())
        max_abs, agreement = EXPECTED[fmt]
        if parity.max_abs > max_abs or parity.agreement < agreement:
            echo(f"WARNING: {path.name} parity is outside max |dp| <= {max_abs}, agreement >= {agreement}")
        _store_parity(fmt, path, spec, parity)


def _store_parity(fmt: str, path: Path, spec: ModelSpec, parity: verify.Parity) -> None:
    stored = ModelSpec.from_dict({**spec.to_dict(), "metrics": {**spec.metrics, "parity": parity.to_dict()}})
    if fmt == "engine":
        from synthsight.export.tensorrt import update_sidecar_spec

        update_sidecar_spec(path, stored)
    else:
        from synthsight.export.onnx import embed_spec

        embed_spec(path, stored)
