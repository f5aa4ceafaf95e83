"""CPU feature detection: which precisions run natively, from /proc/cpuinfo text; hiding features."""

from __future__ import annotations

import pytest

from synthsight.runtime.cpu.features import DISABLE_ENV, detect, parse_cpuinfo

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
CASCADE_LAKE = """model name\t: Intel(R) Xeon(R) Gold 6230 CPU
flags\t\t: avx2 avx512f avx512bw avx512_vnni
"""
GRAVITON = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics asimddp bf16 i8mm
CPU implementer\t: 0x41
"""


def _features(tmp_path, text: str, disable: str = ""):
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    return detect(path, disable=disable)


def test_first_processor_model_and_flags_are_read():
    model, flags = parse_cpuinfo(SAPPHIRE_RAPIDS)
    assert model.startswith("Intel(R) Xeon(R) Platinum 8481C") and "amx_bf16" in flags and "fpu" in flags
    assert parse_cpuinfo(GRAVITON)[1] >= {"asimddp", "bf16"}


@pytest.mark.parametrize(
    "text, bf16, int8",
    [(SAPPHIRE_RAPIDS, True, True), (EPYC_ROME, False, False), (CASCADE_LAKE, False, True), (GRAVITON, False, False)],
    ids=["sapphire-rapids", "epyc-rome", "cascade-lake", "graviton"],
)
def test_native_precisions(tmp_path, text, bf16, int8):
    cpu = _features(tmp_path, text)
    assert (cpu.native("fp32"), cpu.native("bf16"), cpu.native("int8")) == (True, bf16, int8)


def test_why_names_the_flag_or_what_is_missing(tmp_path):
    assert _features(tmp_path, SAPPHIRE_RAPIDS).why("bf16") == "native bf16 (amx_bf16)"
    rome = _features(tmp_path, EPYC_ROME)
    assert "needs amx_bf16 or avx512_bf16" in rome.why("bf16") and "emulate" in rome.why("bf16")
    assert "avx512_vnni" in rome.why("int8")


def test_hidden_features_are_gone_and_said_so(tmp_path, monkeypatch):
    cpu = _features(tmp_path, SAPPHIRE_RAPIDS, disable="amx_bf16,avx512_bf16")
    assert not cpu.native("bf16") and cpu.native("int8")
    assert "hidden by " + DISABLE_ENV in cpu.why("bf16")
    assert cpu.key() != _features(tmp_path, SAPPHIRE_RAPIDS).key()  # a measurement cached for one is not the other's
    monkeypatch.setenv(DISABLE_ENV, "avx512_vnni")
    (tmp_path / "cascade").write_text(CASCADE_LAKE)
    assert not detect(tmp_path / "cascade").native("int8")  # the environment variable is the default


def test_unreadable_cpuinfo_falls_back_without_claiming_int8(tmp_path):
    cpu = detect(tmp_path / "missing", disable="")
    assert not cpu.native("int8")  # OpenVINO lists INT8 on every x86 CPU: it proves nothing about VNNI
    assert cpu.source in ("openvino", "")
