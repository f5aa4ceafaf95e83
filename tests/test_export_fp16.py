"""FP16 ONNX: same I/O contract as the FP32 file, LayerNorm kept in FP32, runs on ONNX Runtime's CPU provider."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from synthsight.artifacts import onnx_spec
from synthsight.export.fp16 import convert_fp16


def _run(path, pixels):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"pixels": pixels})[0]


def _producers(proto):
    return {out: node for node in proto.graph.node for out in node.output}


def test_io_contract_and_types(tiny_onnx):
    proto = onnx.load(str(tiny_onnx["fp16"]))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert proto.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    fp16_weights = [t for t in proto.graph.initializer if t.data_type == onnx.TensorProto.FLOAT16]
    assert len(fp16_weights) > 20, "convolution weights were not converted"
    producers = _producers(proto)
    norms = [n for n in proto.graph.node if n.op_type == "LayerNormalization"]
    assert norms
    for node in norms:  # its activation input comes through a Cast to float32
        cast = producers[node.input[0]]
        assert cast.op_type == "Cast" and cast.attribute[0].i == onnx.TensorProto.FLOAT, node.name
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["synthsight.precision"] == "fp16"
    assert onnx_spec(tiny_onnx["fp16"]).to_dict() == onnx_spec(tiny_onnx["onnx"]).to_dict()


@pytest.mark.parametrize("batch", [1, 7, 64])
def test_runs_on_cpu_close_to_fp32(tiny_onnx, batch):
    pixels = np.random.default_rng(batch).integers(0, 256, (batch, 64, 64, 3), dtype=np.uint8)
    half, full = _run(tiny_onnx["fp16"], pixels), _run(tiny_onnx["onnx"], pixels)
    assert half.dtype == np.float32 and half.shape == (batch, 2)
    np.testing.assert_allclose(half, full, atol=0.02, rtol=0)


def test_block_list_is_configurable(tiny_onnx, tmp_path):
    path = convert_fp16(tiny_onnx["onnx"], tmp_path / "all.fp16.onnx", fp32_ops=())
    proto = onnx.load(str(path))
    casts = [n for n in proto.graph.node if n.op_type == "Cast"]
    assert len(casts) == 2  # only the input cast and the float32 logits remain
    assert _run(path, np.zeros((2, 64, 64, 3), np.uint8)).shape == (2, 2)
