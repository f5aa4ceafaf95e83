"""What this CPU computes natively: bf16 and INT8 dot products, read from the kernel's CPU flags.

A lower precision is only worth running where the CPU has instructions for it. Without them a
runtime either emulates (OpenVINO runs bf16 in a software "simulation mode" on AVX-512 CPUs without
``avx512_bf16`` when asked explicitly, PyTorch autocast bf16 ran 0.67 img/s on an AMD EPYC) or
takes another arithmetic path whose results the export-time certificate never measured (INT8 on
x86 without VNNI multiplies through ``pmaddubsw``, which saturates in int16). So synthsight runs a
precision only where these flags say it is native:

- bf16: ``amx_bf16`` (AMX tiles, 4th-gen Xeon and later) or ``avx512_bf16`` (Cooper Lake, Zen 4)
- int8: ``amx_int8``, ``avx512_vnni`` or ``avx_vnni`` (x86 dot-product instructions)

Flags come from ``/proc/cpuinfo`` (Linux). Elsewhere, or when it cannot be read, OpenVINO's
``OPTIMIZATION_CAPABILITIES`` are asked for bf16 (its CPU plugin lists ``BF16`` only when oneDNN
may use ``avx512_core_bf16`` or AVX2-VNNI-2) and INT8 is taken as absent, since that list names INT8 on
every x86 CPU. Arm flags name none of these: on Arm every model runs fp32 (OpenVINO runs quantized
models there "in simulation mode", in floating point). ``SYNTHSIGHT_CPU_DISABLE``
(a comma list of flags) hides features, to reproduce what a CPU without them would choose.

``SYNTHSIGHT_CPUINFO`` is a test and diagnostic hook, not a setting: it names a file in ``/proc/cpuinfo``'s
format (e.g. one copied from another machine) that :func:`here` reads instead of this machine's, to
reproduce what that CPU would choose and refuse. The choices follow its flags; the arithmetic stays this
machine's, so what only real arithmetic can show (export certificates, benchmark figures) reads
:func:`host`, which ignores it. While it is set, every refusal names the file, a scan says so in a
warning line even with ``--quiet``, the run manifest records it, and auto's cached measurements are keyed
by both CPUs (a simulated figure is never read back on a real machine of the simulated kind). The test
suite simulates every CPU kind this way.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from synthsight.errors import UsageError
from synthsight.runtime import signal_stack

DISABLE_ENV = "SYNTHSIGHT_CPU_DISABLE"
CPUINFO_ENV = "SYNTHSIGHT_CPUINFO"
CPUINFO = "/proc/cpuinfo"
# precision -> the flags of which any one makes it native, strongest first
NATIVE_FLAGS: dict[str, tuple[str, ...]] = {
    "bf16": ("amx_bf16", "avx512_bf16"),
    "int8": ("amx_int8", "avx512_vnni", "avx_vnni"),
}
# What a user must hear when a precision is not native here.
MISSING = {
    "bf16": "no native bf16 (needs amx_bf16 or avx512_bf16; OpenVINO would emulate it)",
    "int8": "no INT8 dot-product instructions (needs amx_int8, avx512_vnni or avx_vnni)",
}
# Flags worth printing beside a benchmark figure (the full list is hundreds of names).
SHOWN_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "avx512_vnni", "avx_vnni",
               "amx_tile", "amx_bf16", "amx_int8")  # fmt: skip


@dataclass(frozen=True)
class CpuFeatures:
    """The CPU's model name and flags, and which reduced precisions it runs natively."""

    model: str
    flags: frozenset[str]
    source: str  # where the flags came from: /proc/cpuinfo, openvino, or "given"
    disabled: frozenset[str] = frozenset()
    simulated_on: str = ""  # under SYNTHSIGHT_CPUINFO: the real machine's key (see key())

    @property
    def name(self) -> str:
        """The model name, and where the flags came from when they are not this machine's."""
        return f"{self.model}, as simulated by {CPUINFO_ENV}={self.source}" if self.simulated_on else self.model

    def native(self, precision: str) -> bool:
        """Whether ``precision`` (fp32, bf16 or int8) runs on instructions made for it."""
        if precision == "fp32":
            return True
        return any(flag in self.flags for flag in NATIVE_FLAGS.get(precision, ()))

    def why(self, precision: str) -> str:
        """One phrase: the flag that makes ``precision`` native, or what is missing."""
        if precision == "fp32":
            return "fp32 runs everywhere"
        found = [f for f in NATIVE_FLAGS.get(precision, ()) if f in self.flags]
        if found:
            return f"native {precision} ({found[0]})"
        hidden = [f for f in NATIVE_FLAGS.get(precision, ()) if f in self.disabled]
        note = f"; {', '.join(hidden)} hidden by {DISABLE_ENV}" if hidden else ""
        if self.simulated_on:
            note += f"; flags read from {CPUINFO_ENV}={self.source}"
        return MISSING.get(precision, f"unknown precision {precision}") + note

    @property
    def shown_flags(self) -> list[str]:
        return [f for f in SHOWN_FLAGS if f in self.flags]

    def key(self) -> str:
        """What identifies this CPU for a cached measurement: its model and every flag (and, simulated, the
        real machine's: the arithmetic measured was that machine's)."""
        own = f"{self.model}|{','.join(sorted(self.flags))}"
        return f"{own}|simulated on {self.simulated_on}" if self.simulated_on else own

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "flags": self.shown_flags,
            "native": [p for p in NATIVE_FLAGS if self.native(p)],
            "source": self.source,
            "disabled": sorted(self.disabled),
            **({"simulated_by": f"{CPUINFO_ENV}={self.source}"} if self.simulated_on else {}),
        }

    @property
    def warning(self) -> str:
        """A line for the user while the flags are simulated; empty otherwise."""
        if not self.simulated_on:
            return ""
        return (f"WARNING: CPU flags read from {CPUINFO_ENV}={self.source} ({self.model}), not this machine's "
                "(a test/diagnostic hook): precision choices follow them, the arithmetic is this CPU's")  # fmt: skip


def parse_cpuinfo(text: str) -> tuple[str, frozenset[str]]:
    """(model name, flags) of the first processor in a /proc/cpuinfo text (x86 ``flags``, Arm ``Features``)."""
    model, flags = "", frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and not model:
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = frozenset(value.split())
        if model and flags:
            break
    return model, flags


def detect(cpuinfo: str | Path = CPUINFO, disable: str | None = None) -> CpuFeatures:
    """This machine's features; ``disable`` (default: ``$SYNTHSIGHT_CPU_DISABLE``) hides some flags."""
    hidden = frozenset(f.strip().lower() for f in (disable if disable is not None else _env_disable()).split(",") if f)
    try:
        model, flags = parse_cpuinfo(Path(cpuinfo).read_text(encoding="utf-8", errors="replace"))
        source = str(cpuinfo)
    except OSError:
        model, flags, source = "", frozenset(), ""
    if not flags:
        model, flags, source = model or platform.processor() or platform.machine(), _openvino_flags(), "openvino"
    return CpuFeatures(model or platform.machine(), frozenset(flags - hidden), source, hidden & flags)


def _env_disable() -> str:
    return os.environ.get(DISABLE_ENV, "")


def _openvino_flags() -> frozenset[str]:
    """Stand-in flags from OpenVINO's capability list when /proc/cpuinfo is unreadable (macOS, Windows)."""
    try:
        import openvino as ov

        with signal_stack.kept():
            caps = set(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    except Exception:  # openvino missing or unable to see a CPU: nothing is assumed native
        return frozenset()
    return frozenset({"avx512_bf16"} if "BF16" in caps else set())


@lru_cache(maxsize=8)
def _cached(cpuinfo: str, disable: str) -> CpuFeatures:
    return detect(cpuinfo, disable=disable)


def host() -> CpuFeatures:
    """This machine's own features, whatever ``$SYNTHSIGHT_CPUINFO`` says (``$SYNTHSIGHT_CPU_DISABLE``
    still hides flags): for what only its real arithmetic can show."""
    return _cached(CPUINFO, _env_disable())


def here() -> CpuFeatures:
    """The features synthsight chooses by: this machine's, or those of the file ``$SYNTHSIGHT_CPUINFO`` names
    (read once per process and per value of the two variables)."""
    given = os.environ.get(CPUINFO_ENV)
    if not given:
        return host()
    if not Path(given).is_file():
        raise UsageError(f"{CPUINFO_ENV}={given}: no such file (it names a /proc/cpuinfo copy to read instead)")
    return _simulated(str(Path(given).resolve()), _env_disable())


@lru_cache(maxsize=8)
def _simulated(cpuinfo: str, disable: str) -> CpuFeatures:
    features = detect(cpuinfo, disable=disable)
    if features.source != cpuinfo:  # no flags in it: detect fell back on this machine's OpenVINO
        raise UsageError(f"{CPUINFO_ENV}={cpuinfo}: no 'flags' or 'Features' line in it")
    return replace(features, simulated_on=host().key())
