"""The CPUs the suite simulates through the one feature reader (``SYNTHSIGHT_CPUINFO``), never the host's.

Each is a ``/proc/cpuinfo`` text of a real CPU kind. A test parametrized over them asserts what a user of
that CPU sees (which precisions are refused, which ``auto`` considers); the arithmetic stays the host's,
so a test that needs a precision's real native arithmetic skips, saying so, on a host without it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from synthsight.runtime.cpu.features import host

# The machine the suite runs on, whatever is simulated: for what only its real arithmetic can show.
HOST = host()


def needs_native(precision: str):
    """Skip, saying why, where this machine (not a simulated CPU) lacks ``precision``'s instructions: a test
    of real reduced-precision arithmetic must not run emulated kernels instead."""
    why = f"needs real native {precision} arithmetic; this CPU has {HOST.why(precision)}"
    return pytest.mark.skipif(not HOST.native(precision), reason=why)


SAPPHIRE_RAPIDS = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16 avx512_vnni amx_bf16 amx_tile amx_int8 avx_vnni

processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu
"""
EPYC_ROME = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B12
flags\t\t: fpu sse2 avx avx2 fma bmi2 sha_ni
"""
SKYLAKE = """model name\t: Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl
"""
CASCADE_LAKE = """model name\t: Intel(R) Xeon(R) Gold 6230 CPU
flags\t\t: avx2 avx512f avx512bw avx512_vnni
"""
COOPER_LAKE = """model name\t: Intel(R) Xeon(R) Platinum 8380H CPU @ 2.90GHz
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw avx512_vnni avx512_bf16
"""
GRAVITON = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics asimddp bf16 i8mm
CPU implementer\t: 0x41
"""

# kind -> (cpuinfo text, native bf16, native int8)
KINDS: dict[str, tuple[str, bool, bool]] = {
    "avx2": (EPYC_ROME, False, False),
    "avx512": (SKYLAKE, False, False),
    "avx512-vnni": (CASCADE_LAKE, False, True),
    "avx512-bf16-vnni": (COOPER_LAKE, True, True),
    "amx": (SAPPHIRE_RAPIDS, True, True),
    "aarch64": (GRAVITON, False, False),
}
BF16_KINDS = [k for k, (_, bf16, _) in KINDS.items() if bf16]
NO_BF16_KINDS = [k for k, (_, bf16, _) in KINDS.items() if not bf16]


def cpuinfo_file(folder: Path, kind: str) -> Path:
    """``kind``'s cpuinfo text written in ``folder`` (what ``SYNTHSIGHT_CPUINFO`` names)."""
    path = folder / f"cpuinfo-{kind}"
    path.write_text(KINDS[kind][0], encoding="utf-8")
    return path
