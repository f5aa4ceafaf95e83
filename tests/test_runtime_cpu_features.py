"""CPU feature detection: which precisions run natively, from /proc/cpuinfo text; hiding features."""

from __future__ import annotations

import pytest
from cpu_kinds import CASCADE_LAKE, EPYC_ROME, GRAVITON, KINDS, SAPPHIRE_RAPIDS, cpuinfo_file

from synthsight.errors import UsageError
from synthsight.runtime.cpu.features import DISABLE_ENV, detect, parse_cpuinfo


def _features(tmp_path, text: str, disable: str = ""):
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    return detect(path, disable=disable)


def test_first_processor_model_and_flags_are_read():
    model, flags = parse_cpuinfo(SAPPHIRE_RAPIDS)
    assert model.startswith("Intel(R) Xeon(R) Platinum 8481C") and "amx_bf16" in flags and "fpu" in flags
    assert parse_cpuinfo(GRAVITON)[1] >= {"asimddp", "bf16"}


@pytest.mark.parametrize("kind", KINDS)
def test_native_precisions(tmp_path, kind):
    text, bf16, int8 = KINDS[kind]
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


def test_here_reads_the_cpu_that_synthsight_cpuinfo_names(tmp_path, monkeypatch):
    from synthsight.runtime.cpu.features import CPUINFO_ENV, here

    monkeypatch.delenv(DISABLE_ENV, raising=False)
    for kind, (_, bf16, int8) in KINDS.items():
        monkeypatch.setenv(CPUINFO_ENV, str(cpuinfo_file(tmp_path, kind)))
        assert (here().native("bf16"), here().native("int8")) == (bf16, int8), kind
    monkeypatch.setenv(CPUINFO_ENV, str(tmp_path / "absent"))
    with pytest.raises(UsageError, match="SYNTHSIGHT_CPUINFO=.*no such file"):
        here()


def test_a_simulated_cpu_says_so_and_never_passes_for_this_machine(tmp_path, monkeypatch):
    from synthsight.runtime.cpu.features import CPUINFO_ENV, here, host

    monkeypatch.delenv(DISABLE_ENV, raising=False)
    real = host()
    monkeypatch.setenv(CPUINFO_ENV, str(cpuinfo_file(tmp_path, "avx512")))
    simulated = here()
    assert host() == real and not real.warning  # certificates and benchmark figures read the real one
    assert simulated.model == "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz" and simulated.simulated_on == real.key()
    assert CPUINFO_ENV in simulated.why("bf16") and CPUINFO_ENV in simulated.name  # every refusal names the file
    warning = simulated.warning
    assert warning.startswith(f"WARNING: CPU flags read from {CPUINFO_ENV}=") and "\n" not in warning
    assert simulated.to_dict()["simulated_by"].startswith(CPUINFO_ENV)
    # a measurement cached under simulation is keyed by both CPUs: never read back on a real Skylake
    plain = detect(tmp_path / "cpuinfo-avx512", disable="")
    assert plain.key() != simulated.key() and simulated.key().startswith(plain.key())
    (tmp_path / "empty").write_text("processor\t: 0\n", encoding="utf-8")
    monkeypatch.setenv(CPUINFO_ENV, str(tmp_path / "empty"))
    with pytest.raises(UsageError, match="no 'flags' or 'Features' line"):
        here()
