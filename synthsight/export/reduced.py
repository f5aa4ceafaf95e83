"""The reduced-precision CPU part of `synthsight export`: model.int8.onnx and every option's certificate.

Called by :mod:`synthsight.export.pipeline` after the files are written and checked against PyTorch:
the certificates go into model.onnx (OpenVINO fp32 and bf16) and model.int8.onnx (INT8 on OpenVINO
and ONNX Runtime), and model.int8.onnx gets the SHA-256 of the final model.onnx, written last so
that it names the bytes a scan will find.
"""

from __future__ import annotations

from pathlib import Path

from synthsight.artifacts import file_sha256
from synthsight.export.calibration import calibration_set, certificate_set
from synthsight.export.certificate import certify, store
from synthsight.export.int8 import quantize_int8
from synthsight.runtime.cpu.family import Family
from synthsight.spec import ModelSpec


def make_int8(config, spec: ModelSpec, paths: dict[str, Path], echo) -> Path:
    """model.int8.onnx from model.onnx, calibrated per ``config`` (UsageError when there is nothing to calibrate on)."""
    calibration = calibration_set(spec, config.calibration_data, config.calibration_count)
    echo(f"calibrating INT8 on {calibration.description}")
    return quantize_int8(paths["onnx"], paths["int8"], calibration.pixels, description=calibration.description)


def finish_reduced(config, spec: ModelSpec, paths: dict[str, Path], result, echo) -> None:
    """Certify (when ``config.check``) and store the certificates; tie model.int8.onnx to model.onnx."""
    fp32 = result.files.get("onnx")
    if fp32 is None:
        return
    int8 = result.files.get("int8")
    certs: dict[Path, dict[str, dict]] = {}
    if config.check:
        check, why = certificate_set(spec, config.calibration_data, config.check_images)
        certs = certify(Family(fp32, int8), check, spec.threshold, why_none=why, echo=echo)
    store(fp32, certs.get(fp32, {}))
    if int8 is not None:
        store(int8, certs.get(int8, {}), source={"file": fp32.name, "sha256": file_sha256(fp32)})
    elif paths["int8"].exists():
        echo(
            f"note: {paths['int8'].name} from an earlier export does not belong to the new {fp32.name}; "
            "scans ignore it until you export --format int8 again"
        )
