"""`export --format int8`: nothing to calibrate on is one line and exit 2; the head stays FP32; `all` skips it."""

from __future__ import annotations

import subprocess
import sys

import onnx
import pytest

pytest.importorskip("nncf", reason="nncf is not installed")


def _synthsight(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "synthsight", *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_int8_without_training_images_is_one_line_and_exit_2(tiny_bundle, tmp_path):
    # tiny_bundle was never trained: its spec records no data, and synthsight will not calibrate on noise.
    done = _synthsight("export", str(tiny_bundle), "--format", "int8", "--out", str(tmp_path))
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "cannot calibrate" in lines[0] and "--calibration-data" in lines[0]
    assert not (tmp_path / "model.int8.onnx").exists()


@pytest.mark.parametrize("simulated_cpu", ["avx512-vnni"], indirect=True)
def test_all_skips_int8_with_the_reason(simulated_cpu, tiny_bundle, tmp_path):
    from synthsight.export.pipeline import ExportConfig, export_model

    said = []
    result = export_model(ExportConfig(model=tiny_bundle, format="all", out=tmp_path, check=False), echo=said.append)
    assert "int8" in result.skipped and "cannot calibrate" in result.skipped["int8"]
    assert any(line.startswith("int8 skipped: ") for line in said)
    assert (tmp_path / "model.onnx").is_file() and not (tmp_path / "model.int8.onnx").exists()


def test_int8_graph_keeps_io_stem_downsampling_and_head_in_fp32(reduced_export):
    from synthsight.export.int8 import dense_convolutions, head_nodes

    proto = onnx.load(str(reduced_export["int8"]))
    source = onnx.load(str(reduced_export["onnx"]))
    kept = dense_convolutions(source) + head_nodes(source)
    assert kept[0] == "/net/stem/stem.0/Conv" and len(kept) == 5  # stem, 3 downsampling layers, head
    dequantized = {n.output[0] for n in proto.graph.node if n.op_type == "DequantizeLinear"}
    nodes = {n.name: n for n in proto.graph.node}
    for name in kept:
        assert not set(nodes[name].input) & dequantized, name  # neither its input nor its weights are INT8
    quantised = [n for n in proto.graph.node if n.op_type in ("Conv", "MatMul") and set(n.input) & dequantized]
    assert len(quantised) >= 12  # every depthwise and MLP layer of convnext_atto's 12 blocks
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert proto.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT


@pytest.mark.parametrize("simulated_cpu", ["avx2", "aarch64"], indirect=True)
def test_all_makes_no_int8_file_on_a_cpu_that_could_neither_certify_nor_run_it(simulated_cpu, tiny_bundle, tmp_path):
    """Issue 18 item 16: `--format all` spent 45 of 81 s on an AVX2-only CPU building an INT8 file it cannot
    certify or run; now one line says so, before any calibration."""
    from synthsight.export.pipeline import ExportConfig, export_model

    said: list[str] = []
    export_model(ExportConfig(model=tiny_bundle, format="all", out=tmp_path, check=False), echo=said.append)
    skipped = [line for line in said if line.startswith("int8 skipped: ")]
    assert len(skipped) == 1 and "no INT8 dot-product instructions" in skipped[0], said
    assert "could neither certify nor run model.int8.onnx (--format int8 makes it anyway" in skipped[0]
    assert not any("calibrating INT8" in line for line in said)
    assert (tmp_path / "model.onnx").is_file() and not (tmp_path / "model.int8.onnx").exists()
