"""Which precision and runtime scan an exported model on this CPU: options, certificates, gate, choice.

An export is a family of files: ``model.onnx`` (FP32) and, when ``export --format int8`` made one,
``model.int8.onnx`` (INT8 QDQ), whose metadata names the FP32 file and its SHA-256 (a stale INT8 file
from an older export is never mixed in). The ways to run them on a CPU:

=========  ===========  ================  ==================================================
precision  runtime      file              runs when
=========  ===========  ================  ==================================================
fp32       onnxruntime  model.onnx        always: the exact reference
fp32       openvino     model.onnx        openvino is installed (``INFERENCE_PRECISION_HINT=f32``)
bf16       openvino     model.onnx        the CPU has native bf16 (AMX-BF16 or AVX512_BF16)
int8       openvino     model.int8.onnx   the CPU has INT8 dot products (AMX-INT8 or VNNI)
int8       onnxruntime  model.int8.onnx   as above
=========  ===========  ================  ==================================================

Every option but the reference carries a fidelity certificate, measured at export against the
reference on the bundle's validation images and stored in the file's metadata. ``auto`` times the
options that run natively here and whose certificate passes the gate (verdict agreement >= 99.5 %,
max |dp(ai)| <= 0.02), once per model and machine (:mod:`synthsight.runtime.cpu.measure`, cached), and
takes the fastest if it beats the reference by :data:`SPEED_MARGIN`; otherwise fp32 on ONNX Runtime.
An explicit precision this CPU cannot run natively is a UsageError (one line, exit 2).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthsight.artifacts import EXPORT_NAMES, file_precision
from synthsight.errors import BackendUnavailable, UsageError
from synthsight.extras import install_hint
from synthsight.runtime.base import Backend
from synthsight.runtime.cpu.family import Family, certificates, family
from synthsight.runtime.cpu.features import CpuFeatures, here
from synthsight.runtime.registry import backend_class, open_option

CPU_PRECISIONS = ("auto", "fp32", "bf16", "int8")
GATE_AGREEMENT = 0.995
GATE_MAX_ABS = 0.02
REFERENCE = "fp32/onnxruntime"
# A reduced precision must beat the reference by this factor to be chosen: a gain inside timing noise
# is not worth leaving the exact reference.
SPEED_MARGIN = 1.10
# (precision, runtime, which file of the family), in the order an explicit --precision prefers them.
LAYOUT: tuple[tuple[str, str, str], ...] = (
    ("fp32", "onnxruntime", "fp32"),
    ("fp32", "openvino", "fp32"),
    ("bf16", "openvino", "fp32"),
    ("int8", "openvino", "int8"),
    ("int8", "onnxruntime", "int8"),
)
RUNTIME_MODULES = {"onnxruntime": "onnxruntime", "openvino": "openvino"}


def passes_gate(certificate: dict | None) -> tuple[bool, str]:
    """Whether ``certificate`` passes the gate, and a phrase with its figures."""
    if not certificate:
        return False, "no certificate (re-export the model to measure one)"
    if not certificate.get("measured", True):
        return False, f"not certified: {certificate.get('why', 'not measured')}"
    agreement, max_abs, n = certificate["agreement"], certificate["max_abs"], certificate["n"]
    ok = agreement >= GATE_AGREEMENT and max_abs <= GATE_MAX_ABS
    figures = f"agreement {100 * agreement:.2f}%, max |dp| {max_abs:.2g} on {n} images"
    return ok, f"{'passes' if ok else 'fails'} the gate ({figures})"


def certificate_line(cert: dict) -> str:
    """One line: a certificate's figures and the gate's verdict, or why it was not measured."""
    if not cert.get("measured", True):
        why = str(cert.get("why") or "")
        return why if why.startswith("not measured") else f"not measured ({why})"
    ok, _ = passes_gate(cert)
    return (
        f"verdicts agree {100 * cert['agreement']:.2f}% ({cert['n'] - cert['disagreements']}/{cert['n']}), "
        f"max |dp(ai)| {cert['max_abs']:.2e}, mean {cert['mean_abs']:.2e} on {cert['images']}: "
        f"{'passes' if ok else 'FAILS'} the gate"
    )


@dataclass(frozen=True)
class Option:
    """One way to run the model here."""

    precision: str
    runtime: str
    path: Path
    certificate: dict | None
    runs: bool  # native on this CPU and its runtime installed
    why: str  # why it runs, or why not

    @property
    def label(self) -> str:
        return f"{self.precision}/{self.runtime}"

    @property
    def reference(self) -> bool:
        return self.label == REFERENCE

    def gate(self) -> tuple[bool, str]:
        return (True, "the reference") if self.reference else passes_gate(self.certificate)

    def to_dict(self) -> dict[str, Any]:
        ok, gate = self.gate()
        return {"option": self.label, "file": self.path.name, "runs": self.runs, "why": self.why,
                "certified": ok, "certificate": gate}  # fmt: skip


def runtime_installed(runtime: str) -> bool:
    return importlib.util.find_spec(RUNTIME_MODULES[runtime]) is not None


def options(fam: Family, features: CpuFeatures | None = None) -> list[Option]:
    """Every way the family may run on this CPU, runnable or not (with the reason)."""
    features = features or here()
    out = []
    for precision, runtime, which in LAYOUT:
        path = fam.file(which)
        if path is None:
            continue
        cert = None if f"{precision}/{runtime}" == REFERENCE else certificates(path).get(f"{precision}/{runtime}")
        if not runtime_installed(runtime):
            # OpenVINO is an extra; onnxruntime is in the base install (missing only where it was removed)
            hint = install_hint(runtime) if runtime == "openvino" else f"pip install {runtime}"
            runs, why = False, f"{runtime} is not installed ({hint})"
        else:
            runs, why = features.native(precision), features.why(precision)
        out.append(Option(precision, runtime, path, cert, runs, why))
    return out


@dataclass
class Selection:
    """What runs, and why: goes into the run manifest as ``precision_choice``."""

    option: Option
    asked: str
    why: str
    options: list[Option]
    features: CpuFeatures
    rates: dict[str, float] = field(default_factory=dict)
    measurement: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def warning(self) -> str:
        """A line for the user when an explicitly asked option has no passing certificate."""
        ok, gate = self.option.gate()
        return "" if ok else f"WARNING: {self.option.label} {gate}; its verdicts may differ from fp32"

    def to_dict(self) -> dict[str, Any]:
        rows = []
        for o in self.options:
            row = o.to_dict()
            if o.label in self.rates:
                row["images_per_s"] = round(self.rates[o.label], 2)
            rows.append(row)
        return {"asked": self.asked, "chosen": self.option.label, "file": str(self.option.path), "why": self.why,
                "cpu": self.features.to_dict(), "options": rows, "measurement": self.measurement or None,
                "notes": self.notes}  # fmt: skip


def choose_explicit(opts: list[Option], precision: str, backend: str, features: CpuFeatures) -> tuple[Option, str]:
    """The option an explicit ``--precision`` (and ``--backend``) names, or a one-line UsageError."""
    wanted = [o for o in opts if o.precision == precision and backend in ("auto", o.runtime)]
    if not wanted:
        return _missing(opts, precision, backend)
    runnable = [o for o in wanted if o.runs]
    if not runnable:
        first = wanted[0]
        if not features.native(precision):
            raise UsageError(f"--precision {precision}: this CPU ({features.name}) has {features.why(precision)}")
        raise BackendUnavailable(f"--precision {precision}: {first.why}")
    certified = [o for o in runnable if o.gate()[0]]
    chosen = (certified or runnable)[0]
    return chosen, f"--precision {precision} asked; {chosen.why}"


def choose_named_int8(
    path: Path, opts: list[Option], precision: str, backend: str, features: CpuFeatures
) -> tuple[Option, str]:
    """What runs when the user named an INT8 file: that file (``auto`` chooses no other member of its family),
    or a one-line UsageError saying why it cannot run here and what to name instead."""
    fp32 = next((o.path.name for o in opts if o.precision == "fp32"), EXPORT_NAMES["onnx"])
    if precision not in ("auto", "int8"):
        raise UsageError(f"--precision {precision}: {path.name} is an INT8 file; name {fp32} to run {precision}")
    if not features.native("int8"):
        raise UsageError(
            f"{path.name} is an INT8 file and this CPU ({features.name}) has {features.why('int8')}: "
            f"name {fp32} to scan at fp32"
        )
    chosen, why = choose_explicit(opts, "int8", backend, features)
    return chosen, f"{path.name} named; {why.split('; ', 1)[-1]}"


def _missing(opts: list[Option], precision: str, backend: str):
    if precision == "bf16" and backend == "onnxruntime":
        raise UsageError("--precision bf16 runs on --backend openvino (ONNX Runtime's CPU provider has no bf16 path)")
    if precision == "int8":
        raise UsageError(
            "--precision int8: no INT8 export of this model beside it "
            "(make one: synthsight export BUNDLE --format int8)"
        )
    raise UsageError(f"--precision {precision}: the FP32 model.onnx of this export is not beside it")


def candidates(opts: list[Option], backend: str = "auto") -> list[Option]:
    """What ``auto`` may choose from: runnable here, certified (or the reference), on the asked runtime."""
    return [o for o in opts if o.runs and o.gate()[0] and backend in ("auto", o.runtime)]


def fastest(cands: list[Option], rates: dict[str, float]) -> tuple[Option, str]:
    """The fastest candidate if it beats the reference by SPEED_MARGIN; else the reference (or the first).

    The rates are inference only (the timing runs batches of decoded pixels, no decoding): named so, since a
    scan's progress line shows the whole scan's files/s, which decoding bounds."""
    ranked = sorted(cands, key=lambda o: rates.get(o.label, 0.0), reverse=True)
    base = next((o for o in cands if o.reference), None)
    best = ranked[0]
    if base is None or best is base:
        return best, f"fastest certified option; inference only {rates.get(best.label, 0):.1f} images/s"
    gain = rates.get(best.label, 0.0) / max(rates.get(base.label, 0.0), 1e-9)
    if gain < SPEED_MARGIN:
        return base, f"none beats {REFERENCE} by {SPEED_MARGIN:.2f}x; best {best.label} {gain:.2f}x, inference only"
    return best, (
        f"timed {gain:.2f}x {REFERENCE}; {rates[best.label]:.1f} vs {rates[base.label]:.1f} images/s, "
        f"inference only; {best.gate()[1]}"
    )


def select(
    path: str | Path,
    precision: str = "auto",
    backend: str = "auto",
    *,
    threads: int | None = None,
    batch: int = 8,
    features: CpuFeatures | None = None,
    measure=None,
) -> tuple[Selection, Backend | None]:
    """Choose how to run ``path`` here; returns the selection and, when ``auto`` timed them, the winner's open backend.

    ``measure(options, threads, batch)`` -> (rates, measurement info, {label: open backend}); by default
    :func:`synthsight.runtime.cpu.measure.measure_options` (cached per model and machine).
    """
    features = features or here()
    if precision not in CPU_PRECISIONS:
        raise UsageError(f"--precision {precision}: exported files run as {', '.join(CPU_PRECISIONS)} on a CPU")
    fam = family(path)
    opts = options(fam, features)
    if file_precision(path) == "int8":  # the INT8 file named: it runs, or one line says why not
        chosen, why = choose_named_int8(Path(path), opts, precision, backend, features)
        return Selection(chosen, precision, why, opts, features, notes=fam.notes), None
    if precision != "auto":
        chosen, why = choose_explicit(opts, precision, backend, features)
        return Selection(chosen, precision, why, opts, features, notes=fam.notes), None
    cands = candidates(opts, backend)
    if not cands:
        if backend != "auto":
            ran = [o for o in opts if o.runtime == backend and o.runs]
            if ran:  # the asked runtime, uncertified: run its fp32 (never a reduced precision without a certificate)
                fp32 = [o for o in ran if o.precision == "fp32"] or ran
                return Selection(fp32[0], precision, f"--backend {backend}: {fp32[0].why}", opts, features,
                                 notes=fam.notes), None  # fmt: skip
            raise BackendUnavailable(f"--backend {backend}: {next((o.why for o in opts if o.runtime == backend), '')}")
        int8 = [o for o in opts if o.precision == "int8"]
        why = "; ".join(f"{o.label}: {o.why if not o.runs else o.gate()[1]}" for o in int8) or "no option runs here"
        fp32 = EXPORT_NAMES["onnx"]
        raise UsageError(f"{Path(path).name}: no way to run it on this CPU ({why}); scan the FP32 {fp32}")
    if len(cands) == 1:
        only = cands[0]
        why = "the reference; " if only.reference else ""
        return Selection(only, precision, why + _only_reason(opts, only), opts, features, notes=fam.notes), None
    if measure is None:
        from synthsight.runtime.cpu.measure import measure_options as measure
    rates, info, opened = measure(cands, threads, batch)
    chosen, why = fastest(cands, rates)
    why += _left_out(opts, cands)
    for label, b in opened.items():
        if label != chosen.label:
            b.close()
    selection = Selection(chosen, precision, why, opts, features, rates, info, fam.notes)
    return selection, opened.get(chosen.label)


def _left_out(opts: list[Option], cands: list[Option]) -> str:
    """``; left out: bf16/openvino (not native here), ...`` for the options auto could not consider."""
    out = []
    for o in opts:
        if o in cands:
            continue
        if not o.runs:
            reason = "not installed" if "not installed" in o.why else "not native here"
        else:
            reason = "no certificate" if not o.certificate else "fails the gate"
        out.append(f"{o.label} ({reason})")
    return f"; left out: {', '.join(out)}" if out else ""


def _only_reason(opts: list[Option], only: Option) -> str:
    others = [o for o in opts if o is not only]
    reasons = [f"{o.label}: {o.why if not o.runs else o.gate()[1]}" for o in others]
    return "the only option that runs here and passes the gate" + (f" ({'; '.join(reasons)})" if reasons else "")


def open_on_cpu(
    path: str | Path,
    backend: str = "auto",
    precision: str = "auto",
    max_batch: int | None = None,
    threads: int | None = None,
    features: CpuFeatures | None = None,
) -> Backend:
    """Open an exported FP32/INT8 file on this CPU by :func:`select`; the backend carries ``selection`` and
    ``certificate`` (the dict stored in the file, None for the reference) for the run manifest."""
    if file_precision(path) not in ("fp32", "int8") or precision == "fp16":  # FP16 files run as exported
        name = "onnxruntime" if backend == "auto" else backend
        return backend_class(name)(path, device="cpu", precision=precision, max_batch=max_batch, threads=threads)
    selection, opened = select(path, precision, backend, threads=threads, batch=min(max_batch or 8, 8),
                               features=features)  # fmt: skip
    if opened is not None and opened.max_batch != max_batch:  # timed at another batch: reopen for this one
        opened.close()
        opened = None
    chosen = opened or open_option(selection.option, max_batch=max_batch, threads=threads)
    chosen.selection = selection.to_dict()
    chosen.certificate = selection.option.certificate
    chosen.warning = selection.warning
    return chosen


__all__ = ["CPU_PRECISIONS", "Family", "Option", "Selection", "certificates", "family", "open_on_cpu", "options",
           "passes_gate", "select"]  # fmt: skip
