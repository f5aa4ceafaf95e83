"""The ``NAME.engine.json`` sidecar of a TensorRT engine (pure Python, no TensorRT needed).

Engines stay pure plans that ``trtexec`` can load, so everything the runtime needs to know
about one lives beside it: the ModelSpec, the TensorRT version and GPU it was built for,
its optimisation profile and precision. A serialised plan only runs on the TensorRT library
version it was built with - major.minor.patch, the ``NV_TENSORRT_VERSION`` TensorRT compares
("The engine plan file is not compatible with this version of TensorRT, expecting library
version 8.0.0 got 8.0.1, please rebuild"); the fourth, build number is not part of it - and on
the GPU model it was built on. Checking the sidecar first turns TensorRT's deserialisation
failure into one line that says to re-export.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from synthsight.errors import ModelFileError
from synthsight.spec import ModelSpec

SIDECAR_FORMAT = "synthsight.engine"
SIDECAR_VERSION = 1
REEXPORT = "re-export it on this machine with `synthsight export MODEL --format engine`"


def sidecar_path(engine_path: str | Path) -> Path:
    """``model.engine`` -> ``model.engine.json``."""
    path = Path(engine_path)
    return path.with_name(path.name + ".json")


def make_sidecar(
    spec: ModelSpec,
    *,
    tensorrt_version: str,
    gpu_name: str,
    compute_capability: str | tuple[int, int],
    profile: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The sidecar as a JSON-ready dict (written by the export engine builder)."""
    spec.validate()
    sidecar: dict[str, Any] = {
        "format": SIDECAR_FORMAT,
        "format_version": SIDECAR_VERSION,
        "spec": spec.to_dict(),
        "tensorrt_version": str(tensorrt_version),
        "gpu_name": str(gpu_name),
        "compute_capability": _capability(compute_capability),
        "profile": dict(profile),
    }
    for key, value in (extra or {}).items():
        sidecar.setdefault(key, value)  # extra never overwrites the contract keys
    return sidecar


def read_sidecar(engine_path: str | Path) -> dict[str, Any]:
    """Load ``NAME.engine.json`` beside ``engine_path``; a missing or unreadable one is a ModelFileError."""
    path = sidecar_path(engine_path)
    if not path.is_file():
        raise ModelFileError(f"{path} not found: a TensorRT engine needs its sidecar; {REEXPORT}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: unreadable engine sidecar ({exc}); {REEXPORT}") from None
    if not isinstance(data, dict):
        raise ModelFileError(f"{path}: engine sidecar is not a JSON object; {REEXPORT}")
    return data


def check_sidecar(
    sidecar: dict[str, Any],
    *,
    tensorrt_version: str,
    gpu_name: str,
    compute_capability: str | tuple[int, int],
) -> ModelSpec:
    """The engine's ModelSpec, after checking it was built for this TensorRT and this GPU.

    Raises ModelFileError (one line, saying to re-export) on another TensorRT library version
    (major.minor.patch), a different compute capability or GPU model, or a missing / malformed spec.
    """
    if not isinstance(sidecar, dict) or sidecar.get("format", SIDECAR_FORMAT) != SIDECAR_FORMAT:
        raise ModelFileError(f"not a synthsight engine sidecar; {REEXPORT}")
    if not isinstance(sidecar.get("spec"), dict):
        raise ModelFileError(f"engine sidecar has no model spec; {REEXPORT}")
    spec = ModelSpec.from_dict(sidecar["spec"])
    built_trt = str(sidecar.get("tensorrt_version", ""))
    built_version = library_version(built_trt)
    if not built_version or built_version != library_version(tensorrt_version):
        raise ModelFileError(
            f"engine was built with TensorRT {built_trt or '(unknown)'} but this machine has TensorRT "
            f"{tensorrt_version}; {REEXPORT}"
        )
    built_cc = _capability(sidecar.get("compute_capability", ""))
    here_cc = _capability(compute_capability)
    if built_cc != here_cc:
        raise ModelFileError(
            f"engine was built for compute capability {built_cc or '(unknown)'} "
            f"({sidecar.get('gpu_name', 'unknown GPU')}) but this GPU is {gpu_name} ({here_cc}); {REEXPORT}"
        )
    built_gpu = str(sidecar.get("gpu_name", ""))
    if _norm(built_gpu) != _norm(gpu_name):
        built = built_gpu or "(unknown GPU)"
        raise ModelFileError(f"engine was built on {built} but this GPU is {gpu_name}; {REEXPORT}")
    return spec


def profile_bounds(sidecar: dict[str, Any]) -> tuple[int, int]:
    """(min, max) batch of the engine's optimisation profile; (1, 1) when the sidecar does not say."""
    profile = sidecar.get("profile") or {}
    try:
        low, high = int(profile.get("min", 1)), int(profile.get("max", 1))
    except (TypeError, ValueError):
        raise ModelFileError(f"engine sidecar has a malformed profile {profile!r}; {REEXPORT}") from None
    if not 1 <= low <= high:
        raise ModelFileError(f"engine sidecar profile min={low} max={high} is not a valid batch range; {REEXPORT}")
    return low, high


def library_version(version: str) -> tuple[int, ...]:
    """``11.4.0.106`` -> ``(11, 4, 0)``: the part of a TensorRT version an engine plan is tied to."""
    parts = str(version).strip().split(".")[:3]
    try:
        return tuple(int(p) for p in parts) + (0,) * (3 - len(parts))
    except ValueError:
        return ()


def _capability(value: Any) -> str:
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return f"{int(value[0])}.{int(value[1])}"
    return str(value).strip()


def _norm(name: str) -> str:
    return " ".join(str(name).split()).lower()
