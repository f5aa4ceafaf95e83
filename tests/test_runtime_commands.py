"""`synthsight info`: what the file is, its metadata, and which backends/devices run it here."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from synthsight.cli.info import info
from synthsight.runtime.engine_sidecar import make_sidecar, sidecar_path


def _run(*args):
    result = CliRunner().invoke(info, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def test_bundle_info(tiny_bundle):
    out = _run(tiny_bundle)
    assert "PyTorch model bundle" in out and "arch         convnext_atto" in out
    assert "classes      ai, real (positive: ai)" in out and "threshold    0.5 (default)\n" in out
    assert "64 px, squash, bilinear" in out and "timm=" in out
    assert "torch        cpu   yes" in out
    assert "onnxruntime  -     no   export it first" in out


def test_info_reads_as_a_user_needs_it(tiny_bundle, tmp_path):
    """Issue 18 item 13: no 600-character metrics dump, chance called chance, no "export it first" beside the
    export, no "runs fp32 runs everywhere", no "not measured (not measured ...)"."""
    import shutil

    from synthsight.export.pipeline import ExportConfig, export_model
    from synthsight.runtime.cpu.precision import certificate_line

    bundle = tmp_path / "m"
    shutil.copytree(tiny_bundle, bundle)
    spec = json.loads((bundle / "model.json").read_text())
    per_class = {"ai": 0.51, "real": 0.55}
    spec["metrics"] = {"n": 60, "accuracy": 0.5333333, "roc_auc": 0.52, "false_positive_rate": 0.47,
                       "true_positive_rate": 0.53, "precision": per_class, "recall": per_class, "f1": per_class,
                       "per_generator": {f"gen{i}": {"accuracy": 0.5, "roc_auc": 0.5} for i in range(8)}}  # fmt: skip
    (bundle / "model.json").write_text(json.dumps(spec))
    out = _run(bundle)
    metrics = next(line for line in out.splitlines() if line.startswith("  metrics"))
    assert len(metrics) <= 160 and "accuracy 0.533" in metrics and "(all: info --json)" in metrics, metrics
    assert "WARNING      at chance (ROC-AUC 0.52, balanced accuracy 0.53; 0.5 is a coin toss)" in out
    assert "export it first" in out  # nothing exported yet
    export_model(ExportConfig(model=bundle, format="onnx", check=False), echo=lambda line: None)
    out = _run(bundle)
    assert "export it first" not in out and "scan the export beside it: model.onnx" in out
    onnx_out = _run(bundle / "model.onnx")
    assert "runs fp32 runs everywhere" not in onnx_out and "yes  fp32 runs everywhere" in onnx_out, onnx_out
    why = "not measured at export: this CPU (X) has no INT8 dot-product instructions"
    assert certificate_line({"measured": False, "why": why}) == why


def test_onnx_info_detects_precision_and_io(tiny_onnx):
    fp32 = json.loads(_run(tiny_onnx["onnx"], "--json"))
    fp16 = json.loads(_run(tiny_onnx["fp16"], "--json"))
    assert fp32["kind"] == fp16["kind"] == "onnx"
    assert fp32["onnx"]["precision"] == "fp32" and "float16" not in fp32["onnx"]["initializer_dtypes"]
    assert fp16["onnx"]["precision"] == "fp16" and fp16["onnx"]["initializer_dtypes"]["float16"] > 0
    assert fp32["onnx"]["opset"] >= 17
    assert fp32["onnx"]["inputs"] == ["pixels uint8 [batch, 64, 64, 3]"]
    assert fp32["onnx"]["outputs"] == ["logits float32 [batch, 2]"]
    rows = {(r["backend"], r["device"]): r for r in fp32["runs_on"]}
    assert rows[("onnxruntime", "cpu")]["ok"] == "yes" and rows[("torch", "-")]["ok"] == "no"
    assert "opset" in _run(tiny_onnx["fp16"]) and "fp16 (" in _run(tiny_onnx["fp16"])


def test_engine_info_shows_sidecar_and_why_it_cannot_run_here(tmp_path, tiny_spec):
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"\x00" * 128)
    sidecar = make_sidecar(
        tiny_spec,
        tensorrt_version="10.12.0",
        gpu_name="NVIDIA L4",
        compute_capability="8.9",
        profile={"input": "pixels", "min": 1, "opt": 32, "max": 256},
    )
    sidecar_path(engine).write_text(json.dumps(sidecar))
    out = _run(engine)
    assert "TensorRT engine" in out and "TensorRT 10.12.0, NVIDIA L4 (sm 8.9)" in out and "max=256" in out
    assert "tensorrt     cpu   no   TensorRT engines run on NVIDIA GPUs only" in out
    data = json.loads(_run(engine, "--json"))
    cuda = next(r for r in data["runs_on"] if r["backend"] == "tensorrt" and r["device"] == "cuda")
    assert cuda["ok"] in ("yes", "no") and cuda["why"]


@pytest.mark.parametrize("name, words", [("notes.txt", "not a model file"), ("m.engine", "m.engine.json not found")])
def test_bad_model_is_one_line_exit_2(tmp_path, name, words):
    path = tmp_path / name
    path.write_bytes(b"x")
    proc = subprocess.run(
        [sys.executable, "-m", "synthsight", "info", str(path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert words in proc.stderr and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
