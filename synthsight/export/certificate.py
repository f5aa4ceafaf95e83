"""Fidelity certificates: every reduced-precision way to run an export, measured against the FP32 reference.

For each option of :data:`synthsight.runtime.cpu.precision.LAYOUT` but the reference (FP32 on ONNX
Runtime), the same decoded images go through the option and through the reference, and
:func:`synthsight.export.verify.compare_scores` gives verdict agreement at the model's threshold and
max / mean |dp(ai)|. The certificate is stored in the file the option runs (``synthsight.certificates``
in its ONNX metadata) with the images, the CPU and the runtime versions it was measured with;
``synthsight info`` shows it and ``scan --precision auto`` passes it through the gate.

An option is measured only where it runs natively at export time: a certificate measured on
emulated arithmetic would certify other numbers than the ones a scan computes. Where it cannot run,
the certificate says so (``measured: false`` and why) and ``auto`` never chooses that option.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from synthsight.artifacts import fp32_name
from synthsight.export.verify import CheckSet, compare_scores, scores
from synthsight.runtime.cpu.features import CpuFeatures, host
from synthsight.runtime.cpu.measure import runtime_versions
from synthsight.runtime.cpu.precision import REFERENCE, Family, Option, certificate_line, options
from synthsight.runtime.registry import open_option
from synthsight.spec import CERTIFICATES_KEY, SOURCE_KEY


def measure(option: Option, check: CheckSet, reference_scores, threshold: float, features: CpuFeatures) -> dict:
    """The certificate of one option: its figures against the reference on ``check``."""
    with open_option(option) as backend:
        candidate = scores(backend, check.pixels)
    parity = compare_scores(reference_scores, candidate, threshold, names=(REFERENCE, option.label),
                            images=check.description)  # fmt: skip
    return {
        "precision": option.precision,
        "runtime": option.runtime,
        "file": option.path.name,
        "measured": True,
        "reference": f"{REFERENCE} ({option.path.parent.name}/{fp32_name(option.path.name)})",
        "n": parity.n,
        "agreement": parity.agreement,
        "disagreements": parity.disagreements,
        "max_abs": parity.max_abs,
        "mean_abs": parity.mean_abs,
        "threshold": parity.threshold,
        "images": check.description,
        "cpu": features.model,
        "cpu_flags": features.shown_flags,
        "versions": runtime_versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def not_measured(option: Option, why: str) -> dict:
    return {"precision": option.precision, "runtime": option.runtime, "file": option.path.name,
            "measured": False, "why": why}  # fmt: skip


def certify(
    fam: Family,
    check: CheckSet | None,
    threshold: float,
    *,
    why_none: str = "",
    features: CpuFeatures | None = None,
    echo: Callable[[str], None] = print,
) -> dict[Path, dict[str, dict]]:
    """Certificates of every option of ``fam`` (keyed by file, then ``precision/runtime``), printed as measured.

    By default measured on this machine's own features (:func:`host`, never a simulated CPU): a certificate
    states the arithmetic it was measured on."""
    features = features or host()
    todo = [o for o in options(fam, features) if not o.reference]
    out: dict[Path, dict[str, dict]] = {}
    reference_scores = None
    for option in todo:
        if check is None:
            cert = not_measured(option, f"no images to certify on at export: {why_none}")
        elif not option.runs:
            cert = not_measured(option, f"not measured at export: this CPU ({features.name}) has {option.why}")
        else:
            if reference_scores is None:
                ref = Option("fp32", "onnxruntime", fam.fp32, None, True, "")
                with open_option(ref) as backend:
                    reference_scores = scores(backend, check.pixels)
            cert = measure(option, check, reference_scores, threshold, features)
        out.setdefault(option.path, {})[option.label] = cert
        echo(f"certificate {option.label} ({option.path.name}): {certificate_line(cert)}")
    return out


def store(path: Path, certs: dict[str, dict], source: dict | None = None) -> None:
    """Write ``certs`` (and, for an INT8 file, the FP32 file it belongs to) into ``path``'s ONNX metadata."""
    import onnx

    from synthsight.export.onnx import set_props

    proto = onnx.load(str(path))
    values = {CERTIFICATES_KEY: json.dumps(certs, sort_keys=True)}
    if source is not None:
        values[SOURCE_KEY] = json.dumps(source, sort_keys=True)
    set_props(proto, values)
    onnx.save(proto, str(path))
