"""benchmarks/bench_gpu.py on a CPU: a failed export fails the benchmark, --quick exports what it measures,
and a wanted row without figures is named with its reason."""

from __future__ import annotations

import importlib
import subprocess
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture()
def bench_gpu(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    return importlib.import_module("bench_gpu")


def test_export_profile_covers_the_quick_sweep_and_a_failed_export_fails(bench_gpu, monkeypatch, tmp_path):
    seen = []

    def refuse(cmd, **kwargs):
        seen.append(cmd)
        return subprocess.CompletedProcess(cmd, 2, "", "error: need 1 <= --batch (32) <= --max-batch (8)")

    monkeypatch.setattr(bench_gpu.subprocess, "run", refuse)
    with pytest.raises(bench_gpu.ExportFailed, match=r"export failed \(exit 2\): error: need 1 <= --batch"):
        bench_gpu.make_model(tmp_path, str(tmp_path / "bundle"), max_batch=8)
    cmd = " ".join(seen[0])
    assert "--batch 8 --max-batch 8" in cmd and "--format engine" in cmd  # never all: no INT8, no nncf
    assert bench_gpu.export_format(("torch", "ort-cuda")) == "fp16"
    seen.clear()
    bundle, onnx, engines, _ = bench_gpu.make_model(tmp_path, str(tmp_path / "bundle"), max_batch=8, rows=("torch",))
    assert (seen, onnx, engines) == ([], [], [])  # the torch row runs the bundle: nothing exported


def test_every_wanted_row_must_have_figures(bench_gpu):
    full = {"batches": [{"batch": 1, "images_per_s": 10.0, "p99_ms": 1.0}]}
    results = {
        "TensorRT engine (model.engine), synthsight runtime": {"row": "engine", **full},
        "ORT TensorRT EP, model.fp16.onnx": {
            "row": "ort-trt",
            "skipped": "RuntimeError: TensorrtExecutionProvider did not load",
        },
        "ORT CUDA EP, model.fp16.onnx": {"row": "ort-cuda", **full, "error": "RuntimeError: CUDA out of memory"},
    }
    known = {"torch": "torch 2.14.1+cu130 (CUDA 13.0) sees no CUDA device"}
    rows = ("engine", "ort-trt", "ort-cuda", "torch")
    missing = bench_gpu.missing_rows(results, rows, known)
    assert set(missing) == {"ort-trt", "ort-cuda", "torch"}
    assert "did not load" in missing["ort-trt"] and "out of memory" in missing["ort-cuda"]
    assert missing["torch"] == known["torch"]
    assert bench_gpu.missing_rows(results, ("engine",), known) == {}
