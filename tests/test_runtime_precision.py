"""Reduced CPU precisions: certificates made at export, the gate, `auto`'s choice, explicit refusals, the cache.

The exports come from ``trained_bundle`` (trained weights: random ones hide precision trouble). A model
whose INT8 certificate genuinely fails is made by breaking the weight scales of a real INT8 export and
certifying it with the export's own code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cpu_kinds import HOST, KINDS, cpuinfo_file, needs_native
from scanner_support import random_pngs

from synthsight.artifacts import file_sha256 as sha256
from synthsight.artifacts import read_props
from synthsight.errors import UsageError
from synthsight.runtime import open_backend
from synthsight.runtime.cpu.features import CPUINFO_ENV, DISABLE_ENV, CpuFeatures, here
from synthsight.runtime.cpu.precision import (
    GATE_AGREEMENT,
    GATE_MAX_ABS,
    certificates,
    family,
    options,
    passes_gate,
    select,
)
from synthsight.spec import CALIBRATION_KEY, SOURCE_KEY

pytest.importorskip("openvino", reason="openvino is not installed")
REPO = Path(__file__).resolve().parents[1]
# The export measures an INT8 certificate only on real INT8 dot-product hardware (the host's, not a simulated one).
native_int8 = needs_native("int8")
PLAIN = CpuFeatures("test CPU without bf16 or VNNI", frozenset({"avx2", "fma"}), "given")


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "synthsight", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300, check=False, env={**os.environ, **(env or {})})  # fmt: skip


@pytest.fixture(scope="session")
def failing_export(reduced_export, trained_bundle, tmp_path_factory) -> dict[str, Path]:
    """A copy of the INT8 export with its weight scales 16x off (what a broken quantiser would write),
    certified for real: its certificate fails the gate (measured where this CPU has VNNI; elsewhere it
    says "not measured"). Activation damage would not do: the tiny model's scores stay saturated."""
    import onnx
    from onnx import numpy_helper

    from synthsight.export.calibration import certificate_set
    from synthsight.export.certificate import certify, store
    from synthsight.runtime.cpu.precision import Family
    from synthsight.spec import ModelSpec

    out = tmp_path_factory.mktemp("failing")
    for name in ("model.onnx", "model.int8.onnx"):
        shutil.copy(reduced_export["dir"] / name, out / name)
    proto = onnx.load(str(out / "model.int8.onnx"))
    weights = {i.name for i in proto.graph.initializer}
    scales = {n.input[1] for n in proto.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in weights}
    for init in proto.graph.initializer:
        if init.name in scales:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * 16, init.name))
    onnx.save(proto, str(out / "model.int8.onnx"))
    spec = ModelSpec.from_onnx_metadata(read_props(out / "model.onnx"))
    check, _ = certificate_set(spec, None)
    fam = Family(out / "model.onnx", out / "model.int8.onnx")
    certs = certify(fam, check, spec.threshold, echo=lambda line: None)
    store(fam.int8, certs[fam.int8], source={"file": "model.onnx", "sha256": sha256(fam.fp32)})
    return {"onnx": fam.fp32, "int8": fam.int8}


def test_certificates_are_measured_and_stored_at_export(reduced_export, trained_bundle):
    fp32, int8 = reduced_export["onnx"], reduced_export["int8"]
    expected = {fp32: {"fp32/openvino", "bf16/openvino"}, int8: {"int8/openvino", "int8/onnxruntime"}}
    n_val = json.loads((trained_bundle / "model.json").read_text())["data"]["val"]["n"]
    for path, labels in expected.items():
        certs = certificates(path)
        assert set(certs) == labels, (path.name, certs)
        for label, cert in certs.items():
            precision = label.split("/")[0]
            if not HOST.native(precision):  # measured only on native arithmetic: says why instead
                assert cert["measured"] is False and precision in cert["why"], cert
                continue
            assert cert["measured"] and cert["n"] == n_val and "validation images" in cert["images"], cert
            assert 0 <= cert["max_abs"] <= 1 and 0 <= cert["agreement"] <= 1 and cert["cpu"] == HOST.model
    assert json.loads(read_props(int8)[SOURCE_KEY]) == {"file": "model.onnx", "sha256": sha256(fp32)}
    calibration = json.loads(read_props(int8)[CALIBRATION_KEY])
    assert calibration["images"] == 32 and "training images" in calibration["source"]
    assert family(fp32).int8 == int8 and family(int8).fp32 == fp32


@native_int8
def test_int8_certificate_of_the_trained_model_passes_the_gate(reduced_export):
    for label, cert in certificates(reduced_export["int8"]).items():
        assert passes_gate(cert)[0], (label, cert)


def test_auto_falls_back_to_fp32_when_the_certificate_fails(failing_export):
    int8_certs = certificates(failing_export["int8"])
    for cert in int8_certs.values():  # measured and failing, or (without VNNI) never measured
        assert not passes_gate(cert)[0], cert
        if cert["measured"]:
            assert cert["max_abs"] > GATE_MAX_ABS or cert["agreement"] < GATE_AGREEMENT, cert
    fastest_int8 = {"int8/openvino": 1e6, "int8/onnxruntime": 1e6, "fp32/onnxruntime": 1.0, "fp32/openvino": 1.0}
    timed = []

    def measure(cands, threads, batch):  # int8 "measures" fastest: the gate alone must keep it out
        timed.extend(o.label for o in cands)
        return {o.label: fastest_int8.get(o.label, 1.0) for o in cands}, {}, {}

    selection, _ = select(failing_export["onnx"], "auto", measure=measure, features=here())
    assert selection.option.precision == "fp32" and not any(label.startswith("int8") for label in timed)
    row = next(r for r in selection.to_dict()["options"] if r["option"] == "int8/openvino")
    assert row["certified"] is False and ("fails the gate" in row["certificate"] or "not" in row["certificate"])


def test_auto_takes_the_fastest_certified_option_only_beyond_the_margin(reduced_export):
    cands_seen = []

    def measure(rates):
        def run(cands, threads, batch):
            cands_seen.append([o.label for o in cands])
            return {o.label: rates.get(o.label, 1.0) for o in cands}, {"cached": False}, {}

        return run

    sel, _ = select(reduced_export["onnx"], "auto", measure=measure({"fp32/openvino": 1.05}), features=here())
    assert sel.option.label == "fp32/onnxruntime" and "beats" in sel.why  # 5 % is inside the noise margin
    if len(cands_seen[0]) > 2:
        best = cands_seen[0][-1]
        sel, _ = select(reduced_export["onnx"], "auto", measure=measure({best: 3.0}), features=here())
        assert sel.option.label == best and "3.00x" in sel.why


def test_without_native_features_auto_keeps_fp32_and_says_why(reduced_export):
    def measure(cands, threads, batch):
        return {o.label: 1.0 for o in cands}, {}, {}

    selection, _ = select(reduced_export["onnx"], "auto", measure=measure, features=PLAIN)
    assert selection.option.precision == "fp32"
    whys = {r["option"]: r["why"] for r in selection.to_dict()["options"]}
    assert "no native bf16" in whys["bf16/openvino"] and "avx512_vnni" in whys["int8/openvino"]


LACKS = {"bf16": "no native bf16", "int8": "no INT8 dot"}


@pytest.mark.parametrize("simulated_cpu", KINDS, indirect=True)
@pytest.mark.parametrize("precision", sorted(LACKS))
def test_explicit_precision_runs_where_native_and_is_refused_elsewhere(reduced_export, simulated_cpu, precision):
    if simulated_cpu.native(precision):
        selection, _ = select(reduced_export["onnx"], precision)
        assert selection.option.precision == precision and selection.option.runs
        assert f"native {precision}" in selection.why
        assert precision == "int8" or selection.option.runtime == "openvino"  # ONNX Runtime's CPU has no bf16
    else:
        with pytest.raises(UsageError, match=rf"^--precision {precision}: this CPU \(.+\) has {LACKS[precision]}"):
            select(reduced_export["onnx"], precision)


@pytest.mark.parametrize(("precision", "kind"), [("bf16", "avx512-vnni"), ("int8", "avx512"), ("bf16", "aarch64")])
def test_explicit_precision_this_cpu_lacks_is_one_line_and_exit_2(reduced_export, tmp_path, precision, kind):
    args = ("scan", str(tmp_path), "--model", str(reduced_export["onnx"]), "--precision", precision)
    done = _cli(*args, env={CPUINFO_ENV: str(cpuinfo_file(tmp_path, kind)), DISABLE_ENV: ""})
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and LACKS[precision] in lines[0], done.stderr
    assert f"{CPUINFO_ENV}=" in lines[0]  # a user who left it set learns why this CPU "lacks" it
    assert "Traceback" not in done.stderr


def test_a_scan_on_a_simulated_cpu_warns_and_the_manifest_says_so(reduced_export, tiny_image_dir, tmp_path):
    out = tmp_path / "v.csv"
    args = ("scan", str(tiny_image_dir), "--model", str(reduced_export["onnx"]), "--precision", "fp32", "--quiet")
    done = _cli(*args, "--out", str(out), env={CPUINFO_ENV: str(cpuinfo_file(tmp_path, "aarch64")), DISABLE_ENV: ""})
    assert done.returncode == 0, done.stderr
    assert f"WARNING: CPU flags read from {CPUINFO_ENV}=" in done.stderr  # even with --quiet
    cpu = json.loads(Path(f"{out}.manifest.json").read_text())["precision_choice"]["cpu"]
    assert cpu["simulated_by"].startswith(CPUINFO_ENV) and cpu["native"] == []


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_explicit_precision_real_check_on_this_cpu(reduced_export, tiny_image_dir, tmp_path, precision):
    out = tmp_path / "v.csv"
    done = _cli("scan", str(tiny_image_dir), "--model", str(reduced_export["onnx"]), "--precision", precision,
                "--out", str(out))  # fmt: skip
    if HOST.native(precision):
        assert done.returncode == 0, done.stderr
        manifest = json.loads(Path(f"{out}.manifest.json").read_text())
        assert manifest["precision"] == precision and manifest["backend"] == "openvino"
        assert manifest["certificate"]["precision"] == precision
    else:
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.fixture(scope="session")
def certified_tiny(tiny_onnx, tmp_path_factory) -> Path:
    """tiny_onnx's FP32 file with certificates measured on 8 noise images (what the cache test needs: two
    certified options that run everywhere, fp32 on ONNX Runtime and on OpenVINO, in a second)."""
    import numpy as np

    from synthsight.export.certificate import certify, store
    from synthsight.export.verify import CheckSet
    from synthsight.runtime.cpu.family import Family

    path = tmp_path_factory.mktemp("certified") / "model.onnx"
    shutil.copy(tiny_onnx["onnx"], path)
    pixels = np.random.default_rng(0).integers(0, 256, (8, 64, 64, 3), dtype=np.uint8)
    fam = Family(path, None)
    certs = certify(fam, CheckSet(pixels, "8 noise images"), 0.5, features=HOST, echo=lambda line: None)
    store(path, certs[path])
    return path


@pytest.mark.parametrize(
    ("simulated_cpu", "other"), [("avx2", "amx"), ("amx", "avx512-vnni")], indirect=["simulated_cpu"]
)
def test_auto_measures_once_then_reads_the_cache(certified_tiny, simulated_cpu, other, tmp_path, monkeypatch):
    from synthsight.runtime.cpu import measure as autotune

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with open_backend(certified_tiny, precision="auto", threads=2, max_batch=4) as first:
        choice = first.selection
    assert choice["measurement"]["cached"] is False, choice  # fp32 on ONNX Runtime and on OpenVINO: timed
    cache = Path(choice["measurement"]["cache"]).parent
    assert cache == autotune.cache_dir() == tmp_path / "cache" / "synthsight" / "precision"
    with open_backend(certified_tiny, precision="auto", threads=2, max_batch=4) as second:
        assert second.selection["measurement"]["cached"] is True and second.selection["chosen"] == choice["chosen"]
    monkeypatch.setenv(CPUINFO_ENV, str(cpuinfo_file(tmp_path, other)))  # another CPU: measured again
    with open_backend(certified_tiny, precision="auto", threads=2, max_batch=4) as third:
        assert third.selection["measurement"]["cached"] is False
        assert third.selection["cpu"]["model"] != choice["cpu"]["model"]
    assert len(list(cache.glob("*.json"))) == 2


def test_a_stale_int8_file_is_never_mixed_in(reduced_export, tmp_path):
    from synthsight.artifacts import onnx_spec
    from synthsight.export.onnx import embed_spec

    for name in ("model.onnx", "model.int8.onnx"):
        shutil.copy(reduced_export["dir"] / name, tmp_path / name)
    embed_spec(tmp_path / "model.onnx", onnx_spec(tmp_path / "model.onnx"))  # "re-exported": new bytes
    fam = family(tmp_path / "model.onnx")
    assert fam.int8 is None and "was made from another model.onnx" in fam.notes[0]
    assert all(o.precision != "int8" for o in options(fam))
    with pytest.raises(UsageError, match="no INT8 export"):
        open_backend(tmp_path / "model.onnx", precision="int8")


def test_passes_gate_bounds():
    cert = {"measured": True, "n": 200, "agreement": 0.995, "max_abs": 0.02}
    assert passes_gate(cert)[0]
    assert not passes_gate({**cert, "agreement": 0.99})[0] and not passes_gate({**cert, "max_abs": 0.021})[0]
    assert not passes_gate({"measured": False, "why": "no VNNI"})[0] and not passes_gate(None)[0]


@pytest.fixture
def tiny_image_dir(tmp_path) -> Path:
    return random_pngs(tmp_path / "images", 5)


@pytest.mark.parametrize("simulated_cpu", ["avx2", "avx512-vnni", "aarch64"], indirect=True)
def test_the_int8_file_named_is_what_runs_or_one_line_says_why(reduced_export, simulated_cpu):
    int8 = reduced_export["int8"]
    if simulated_cpu.native("int8"):
        selection, _ = select(int8, "auto")  # auto chooses no other member of the family
        assert selection.option.path == int8 and selection.option.precision == "int8"
        assert selection.why.startswith("model.int8.onnx named; ")
    else:
        with pytest.raises(UsageError, match=r"^model\.int8\.onnx is an INT8 file and this CPU \(.+\) has no INT8 dot"):
            select(int8, "auto")
    with pytest.raises(UsageError, match=r"^--precision fp32: model\.int8\.onnx is an INT8 file; name model\.onnx"):
        select(int8, "fp32")


def test_scanning_the_int8_file_on_a_cpu_without_int8_is_exit_2(reduced_export, tiny_image_dir, tmp_path):
    args = ("scan", str(tiny_image_dir), "--model", str(reduced_export["int8"]), "--out", str(tmp_path / "r.csv"))
    done = _cli(*args, env={CPUINFO_ENV: str(cpuinfo_file(tmp_path, "avx512")), DISABLE_ENV: ""})
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "is an INT8 file" in lines[0], done.stderr
    assert "name model.onnx to scan at fp32" in lines[0] and not (tmp_path / "r.csv").exists()
