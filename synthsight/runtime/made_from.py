"""Which bundle weights an exported file was made from, and the refusal of an export its bundle no longer matches.

`synthsight export` writes the SHA-256 of the bundle's ``model.safetensors`` into every file it makes (the
spec's ``weights_sha256``, in the ONNX metadata or the engine sidecar). An export that lies in a bundle
folder (where `export` writes by default) must have been made from that folder's weights: retrained in
place with the old exports left beside it, the folder would otherwise scan with the old model's verdicts
and not a word. So whatever opens or describes such a file (scan, explain, bench, eval, info, ``--ray``'s
driver) refuses a mismatch in one line (exit 2).

An export made before the mark existed is compared by the training time both specs carry (``created``,
written once when the bundle is saved), the architecture and the preprocessing: a difference is another
training run, refused the same way, and so is such an export beside a bundle that records no training time.
`calibrate` stores a calibration only in the exports this same rule (``mismatch``) accepts.
"""

from __future__ import annotations

from pathlib import Path

from synthsight.artifacts import (
    EXPORT_NAMES,
    SIDECAR_SUFFIX,
    WEIGHTS_NAME,
    bundle_paths,
    file_sha256,
    is_bundle,
    model_kind,
    onnx_spec,
)
from synthsight.errors import ModelFileError
from synthsight.spec import ModelSpec


def export_spec(path: str | Path) -> ModelSpec | None:
    """The spec an exported file carries (ONNX metadata or engine sidecar); None when it has none readable
    (the backend that opens it refuses such a file with its own message)."""
    try:
        kind = model_kind(path)
        if kind == "onnx":
            return onnx_spec(path)
        if kind == "engine":
            from synthsight.runtime.engine_sidecar import read_sidecar

            return ModelSpec.from_dict(read_sidecar(path).get("spec"))
    except (ModelFileError, OSError):
        return None
    return None


def bundle_beside(path: str | Path) -> Path | None:
    """The bundle folder an exported file lies in, or None."""
    folder = Path(path).parent
    return folder if is_bundle(folder) else None


def mismatch(export: ModelSpec, bundle: ModelSpec, weights_sha256: str, weights_name: str = WEIGHTS_NAME) -> str:
    """Why an exported file (its spec ``export``) was not made from the bundle whose spec is ``bundle`` and whose
    weights hash to ``weights_sha256``; "" when it was. The one rule of scan, explain, bench, info, export and
    calibrate.

    A marked export (``weights_sha256``) is decided by the hash. An older one is matched by the training time,
    architecture and preprocessing, which training writes afresh for every new model; a bundle that records no
    training time cannot vouch for an unmarked export, which is then refused too (re-exporting marks it).
    """
    if export.weights_sha256:
        if export.weights_sha256 != weights_sha256:
            have = weights_sha256[:12]
            return f"made from weights {export.weights_sha256[:12]}, not those of {weights_name} ({have})"
        return ""
    if not bundle.created:
        return f"it names no weights and the bundle of {weights_name} records no training time to match it by"
    if export.created != bundle.created:
        made = export.created or "at an unknown time"
        return f"made from the bundle trained {made}, not that of {weights_name} (trained {bundle.created})"
    if export.arch != bundle.arch:
        return f"made from a {export.arch} bundle, not the {bundle.arch} of {weights_name}"
    if export.preprocess != bundle.preprocess:
        return f"made with other preprocessing than the bundle of {weights_name}"
    return ""


def stale_reason(export: ModelSpec, bundle: str | Path) -> str:
    """``mismatch`` against the bundle folder ``bundle`` (its model.json and the hash of its weights file)."""
    weights, spec_file = bundle_paths(bundle)
    try:
        spec = ModelSpec.from_json(spec_file.read_text(encoding="utf-8"))
    except (ModelFileError, OSError, UnicodeDecodeError):
        spec = ModelSpec(arch=export.arch, preprocess=export.preprocess)  # unreadable: no training time to match
    have = file_sha256(weights) if export.weights_sha256 else ""
    return mismatch(export, spec, have, weights.name)


def check_export(path: str | Path) -> None:
    """Refuse, in one line, an exported file whose bundle folder holds other weights than it was made from."""
    bundle = bundle_beside(path)
    if bundle is None or model_kind(path) == "bundle":
        return
    spec = export_spec(path)
    why = stale_reason(spec, bundle) if spec is not None else ""
    if why:
        raise stale_export(path, bundle, why, "scan")


def stale_export(path: str | Path, bundle: str | Path, why: str, verb: str) -> ModelFileError:
    """The one line refusing a stale export (``why`` from ``mismatch``); ``verb``: what to do with the bundle."""
    return ModelFileError(
        f"{path}: stale export, {why} (retrained since?): re-export it (synthsight export {bundle}) "
        f"or {verb} the bundle itself"
    )


def exports_in(folder: str | Path) -> list[Path]:
    """The export files (and engine sidecars) that lie in ``folder``."""
    names = [*EXPORT_NAMES.values(), EXPORT_NAMES["engine"] + SIDECAR_SUFFIX]
    return [Path(folder) / n for n in names if (Path(folder) / n).is_file()]


def stale_exports(folder: str | Path, bundle: str | Path | None = None) -> list[Path]:
    """The exports in ``folder`` provably made from other weights than ``bundle``'s (default: the bundle
    ``folder`` is); an engine's sidecar goes with its engine."""
    bundle = bundle or folder
    if not is_bundle(bundle):
        return []
    out = []
    for path in exports_in(folder):
        spec = None if path.name.endswith(SIDECAR_SUFFIX) else export_spec(path)
        if spec is not None and stale_reason(spec, bundle):
            sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
            out += [path, sidecar] if sidecar.is_file() else [path]
    return out
