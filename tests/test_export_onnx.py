"""ONNX export: raw uint8 pixels in, PyTorch's logits out, spec in the metadata, dynamic batch."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from synthsight.artifacts import onnx_spec
from synthsight.errors import UsageError
from synthsight.export.onnx import embed_spec, export_onnx
from synthsight.image.preprocess import load_image
from synthsight.model import load_bundle


@pytest.fixture(scope="module")
def tiny_model(tiny_bundle):
    return load_bundle(tiny_bundle)


@pytest.fixture(scope="module")
def onnx_path(tiny_model, tmp_path_factory):
    model, spec = tiny_model
    return export_onnx(model, spec, tmp_path_factory.mktemp("onnx") / "model.onnx")


def _session(path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _torch_logits(model, pixels: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return model(torch.from_numpy(np.array(pixels))).numpy()


def test_graph_contract(onnx_path, tiny_model):
    proto = onnx.load(str(onnx_path))
    onnx.checker.check_model(proto, full_check=True)
    (inp,), (out,) = proto.graph.input, proto.graph.output
    assert (inp.name, inp.type.tensor_type.elem_type) == ("pixels", onnx.TensorProto.UINT8)
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [64, 64, 3]
    assert (out.name, out.type.tensor_type.elem_type) == ("logits", onnx.TensorProto.FLOAT)
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("LayerNormalization") >= 1, "LayerNorm was decomposed"
    assert "ReduceMean" not in ops and "Pow" not in ops
    assert all(n.domain in ("", "ai.onnx") for n in proto.graph.node), "non-standard ops would break TensorRT"
    assert onnx_spec(onnx_path).to_dict() == tiny_model[1].to_dict()


@pytest.mark.parametrize("batch", [1, 7, 64])
def test_dynamic_batch_matches_torch(onnx_path, tiny_model, batch):
    pixels = np.random.default_rng(batch).integers(0, 256, (batch, 64, 64, 3), dtype=np.uint8)
    got = _session(onnx_path).run(None, {"pixels": pixels})[0]
    assert got.shape == (batch, 2) and got.dtype == np.float32
    np.testing.assert_allclose(got, _torch_logits(tiny_model[0], pixels), atol=1e-4, rtol=0)


def test_preprocess_output_goes_straight_in(onnx_path, tiny_model, tmp_path):
    from PIL import Image

    src = tmp_path / "photo.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 200, 3), dtype=np.uint8)).save(src)
    pixels = load_image(src, tiny_model[1].preprocess)[None]
    assert pixels.dtype == np.uint8
    got = _session(onnx_path).run(["logits"], {"pixels": pixels})[0]
    np.testing.assert_allclose(got, _torch_logits(tiny_model[0], pixels), atol=1e-4, rtol=0)


def test_embed_spec_round_trip(onnx_path, tiny_model, tmp_path):
    copy = tmp_path / "m.onnx"
    copy.write_bytes(onnx_path.read_bytes())
    spec = tiny_model[1]
    changed = type(spec).from_dict({**spec.to_dict(), "metrics": {"parity": {"n": 3}}})
    embed_spec(copy, changed)
    assert onnx_spec(copy).metrics == {"parity": {"n": 3}}
    assert _session(copy).run(None, {"pixels": np.zeros((1, 64, 64, 3), np.uint8)})[0].shape == (1, 2)


def test_old_opset_refused(tiny_model, tmp_path):
    with pytest.raises(UsageError, match="opset"):
        export_onnx(*tiny_model, tmp_path / "m.onnx", opset=16)
