"""The CPU-precision part of `synthsight bench`: which rows an export family brings, what `auto` picks.

These helpers only know :mod:`synthsight.runtime.cpu.precision`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def cpu_rows(path: Path) -> list[tuple[Path, str, str, str]] | None:
    """(file, runtime, "cpu", precision) for every CPU option of ``path``'s export family (runtime/precision.py)."""
    from synthsight.errors import SynthsightError
    from synthsight.runtime.cpu.precision import family, options

    try:
        fam = family(path)
    except (SynthsightError, OSError):
        return None
    opts = options(fam)
    return [(o.path, o.runtime, "cpu", o.precision) for o in opts] or None


def auto_choice(model: Path, workers: int | None) -> dict[str, Any] | None:
    """What ``scan --precision auto`` picks for ``model`` here and why (the scan's own threads, its cache)."""
    from synthsight.artifacts import SUFFIXES, file_precision
    from synthsight.errors import SynthsightError
    from synthsight.runtime.cpu.precision import select
    from synthsight.scanner.pool import plan_cores

    if SUFFIXES.get(Path(model).suffix.lower()) != "onnx":
        return None
    try:
        if file_precision(model) != "fp32":
            return None
        threads = plan_cores(workers).threads
        selection, opened = select(model, "auto", threads=threads, batch=8)
    except SynthsightError as exc:
        return {"chosen": None, "why": str(exc)}
    if opened is not None:
        opened.close()
    return {"chosen": selection.option.label, "why": selection.why, "rates": selection.rates,
            "cpu": selection.features.to_dict()}  # fmt: skip


def certificate_cell(backend) -> str:
    """The certificate beside the speed: agreement and max |dp| against the FP32 reference."""
    if backend.selection is None:
        return ""
    if backend.certificate is None:
        return "reference" if backend.selection["chosen"] == "fp32/onnxruntime" else "none"
    cert = backend.certificate
    if not cert.get("measured", True):
        return "not measured"
    from synthsight.runtime.cpu.precision import passes_gate

    verdict = "passes" if passes_gate(cert)[0] else "FAILS"
    return f"{100 * cert['agreement']:.2f}% agree, max |dp| {cert['max_abs']:.1e} (n={cert['n']}): {verdict}"
