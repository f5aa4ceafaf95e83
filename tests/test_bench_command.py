"""`synthsight bench` (synthsight/bench/): a smoke run on the tiny model, and its pieces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from synthsight.bench import images, machine, run, timing
from synthsight.cli import bench as commands


def _runtime_or_skip():
    runtime = pytest.importorskip("synthsight.runtime")
    if not hasattr(runtime, "open_backend"):
        pytest.skip("synthsight.runtime.open_backend has not landed yet")


def test_bench_smoke_reports_backends_decode_scan_and_machine(tiny_onnx, tmp_path):
    _runtime_or_skip()
    out = tmp_path / "bench.json"
    args = ["--model", str(tiny_onnx["onnx"]), "--synthetic", "4", "--batch-sizes", "1,2", "--seconds", "0.05"]
    result = CliRunner().invoke(commands.bench, [*args, "--workers", "1", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "images/s" in result.output and "end-to-end scan" in result.output
    data = json.loads(out.read_text())
    assert data["machine"]["cores"] >= 1 and data["machine"]["cpu"]
    ran = [b for b in data["backends"] if "batches" in b]
    # the FP32 file given (every CPU runtime x precision that runs here) and the FP16 file found beside it
    assert {Path(b["path"]).name for b in ran} == {"model.onnx", "model.fp16.onnx"}
    fp32 = {(b["backend"], b["precision"]) for b in ran if Path(b["path"]).name == "model.onnx"}
    assert ("onnxruntime", "fp32") in fp32 and (pytest.importorskip("openvino") and ("openvino", "fp32") in fp32)
    assert data["auto"]["chosen"] == "fp32/onnxruntime"  # nothing else is certified in this bare export
    assert "--precision auto picks fp32/onnxruntime" in result.output
    for b in ran:
        assert [r["batch"] for r in b["batches"]] == [1, 2]
        for r in b["batches"]:
            assert r["images_per_s"] > 0 and 0 < r["p50_ms"] <= r["p99_ms"] and r["calls"] >= 3
    assert set(data["decode"]["classes"]) == set(images.SYNTHETIC_CLASSES)
    assert data["scan"]["images"] == 4 and data["scan"]["images_per_s"] > 0


def test_bad_batch_sizes_are_one_clear_usage_error(tiny_bundle):
    from synthsight.errors import UsageError

    for option, value in (("--batch-sizes", "1,x"), ("--batch-sizes", "0"), ("--backends", "torch,tensorflow")):
        result = CliRunner().invoke(commands.bench, ["--model", str(tiny_bundle), option, value])
        assert isinstance(result.exception, UsageError) and result.exception.exit_code == 2
        assert option in str(result.exception)


def test_targets_cover_the_bundle_and_the_onnx_files_beside_it(tmp_path):
    for name in ("model.json", "model.safetensors", "model.onnx", "model.fp16.onnx"):
        (tmp_path / name).write_bytes(b"")
    rows = {(t["backend"], t["device"], t["precision"], t["path"]) for t in timing.backend_targets(tmp_path)}
    assert ("torch", "cpu", "fp32", str(tmp_path)) in rows and ("torch", "cpu", "bf16", str(tmp_path)) in rows
    onnx = {r[3] for r in rows if r[0] == "onnxruntime"}
    assert onnx == {str(tmp_path / "model.onnx"), str(tmp_path / "model.fp16.onnx")}
    only = timing.backend_targets(tmp_path / "model.onnx", ("onnxruntime",))
    assert only[0]["path"] == str(tmp_path / "model.onnx") and {t["backend"] for t in only} == {"onnxruntime"}


def test_terminal_table_shows_rates_and_skipped_backends():
    result = {
        "machine": machine.machine_info(),
        "model": "m",
        "backends": [
            {"backend": "tensorrt", "device": "cuda", "precision": "auto", "skipped": "TensorRT is not installed"},
            {"backend": "onnxruntime", "device": "cpu", "precision": "fp32",
             "batches": [{"batch": 8, "images_per_s": 123.4, "p50_ms": 64.8, "p99_ms": 70.1}]},
        ],
        "scan": {"images": 10, "seconds": 2.0, "images_per_s": 5.0},
    }  # fmt: skip
    text = run.format_result(result)
    assert "skipped tensorrt cuda auto: TensorRT is not installed" in text
    assert "123.4" in text and "64.8" in text and "5.0 images/s" in text
    assert f"{result['machine']['cores']} cores" in text
