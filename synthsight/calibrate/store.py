"""Where a calibration is kept: the bundle's ``model.json`` and the spec of every export made from the same weights.

Exports are not re-made (the weights did not change): each ``.onnx`` file gets the calibration in the spec of
its ``metadata_props`` (written to a temporary file, then renamed over it), each engine in its
``NAME.engine.json`` sidecar. ``model.int8.onnx`` names the SHA-256 of the ``model.onnx`` it was made from,
so after ``model.onnx`` is rewritten the INT8 file gets the new hash (model.onnx is done first). A file made
from other weights is left alone and named; a file that cannot be rewritten is named with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from synthsight.artifacts import ENGINE_SUFFIXES, INT8_SUFFIX, bundle_paths, file_sha256
from synthsight.errors import ModelFileError
from synthsight.runtime.made_from import mismatch
from synthsight.spec import SOURCE_KEY, ModelSpec


@dataclass
class Stored:
    """What storing a calibration did to each file beside the bundle."""

    spec_path: Path
    updated: list[Path] = field(default_factory=list)
    left_alone: list[tuple[Path, str]] = field(default_factory=list)  # not synthsight's, or other weights
    failed: list[tuple[Path, str]] = field(default_factory=list)


def export_files(folder: Path) -> list[Path]:
    """The .onnx files (INT8 ones after their FP32 source) and engines in ``folder``."""
    onnx = sorted(p for p in folder.glob("*.onnx") if p.is_file())
    engines = sorted(p for p in folder.iterdir() if p.suffix in ENGINE_SUFFIXES and p.is_file())
    return sorted(onnx, key=lambda p: p.name.endswith(INT8_SUFFIX)) + engines


def store_calibration(bundle: str | Path, calibration: dict, weights_sha256: str) -> Stored:
    """Write ``calibration`` into the bundle's spec and every export beside it made from the same weights."""
    from synthsight.model import read_spec, write_spec

    spec = read_spec(bundle)
    spec.calibration = calibration
    stored = Stored(write_spec(spec, bundle))
    renamed: dict[str, tuple[str, str]] = {}  # FP32 file name -> (old, new SHA-256)
    for path in export_files(bundle_paths(bundle)[1].parent):
        try:
            why = _update(path, spec, calibration, weights_sha256, renamed)
        except Exception as exc:  # a damaged or read-only file: named, the others still updated
            stored.failed.append((path, _reason(exc)))
            continue
        if why:
            stored.left_alone.append((path, why))
        else:
            stored.updated.append(path)
    return stored


def _update(path: Path, bundle: ModelSpec, calibration: dict, weights: str, renamed: dict) -> str:
    """Rewrite one export's spec; returns why it was left alone (empty when updated)."""
    if path.suffix in ENGINE_SUFFIXES:
        return _update_engine(path, bundle, calibration, weights)
    import onnx

    from synthsight.export.onnx import set_props

    proto = onnx.load(str(path))
    props = {p.key: p.value for p in proto.metadata_props}
    try:
        spec = ModelSpec.from_onnx_metadata(props)
    except ModelFileError:
        return "not exported by synthsight (no spec in its metadata)"
    why = mismatch(spec, bundle, weights)
    if why:
        return f"{why}: re-export it to calibrate it"
    spec.calibration, spec.weights_sha256 = calibration, weights
    values = spec.to_onnx_metadata()
    source = _json(props.get(SOURCE_KEY))
    if source.get("file") in renamed and source.get("sha256") == renamed[source["file"]][0]:
        values[SOURCE_KEY] = json.dumps({**source, "sha256": renamed[source["file"]][1]}, sort_keys=True)
    old = file_sha256(path)
    set_props(proto, values)
    _save(proto, path)
    renamed[path.name] = (old, file_sha256(path))
    return ""


def _update_engine(path: Path, bundle: ModelSpec, calibration: dict, weights: str) -> str:
    from synthsight.export.tensorrt import update_sidecar_spec
    from synthsight.runtime.engine_sidecar import read_sidecar

    spec = ModelSpec.from_dict(read_sidecar(path).get("spec"))
    why = mismatch(spec, bundle, weights)
    if why:
        return f"{why}: re-export it to calibrate it"
    spec.calibration, spec.weights_sha256 = calibration, weights
    update_sidecar_spec(path, spec)
    return ""


def _save(proto, path: Path) -> None:
    import onnx

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        onnx.save(proto, str(tmp))
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _json(text: str | None) -> dict:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
