"""The "TensorRT-parseable on paper" check: fresh exports pass it, the graphs TensorRT refuses do not."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import onnx
import pytest
from onnx import TensorProto, helper

from synthsight.errors import EXIT_USAGE
from synthsight.export.graph_check import NotTensorRTParseable, check_file, graph_problems
from synthsight.spec import FP32_OPS_KEY, PRECISION_KEY

# The pre-fix PixelModel.normalize: permute the uint8 input, then cast (the graph every engine build refused).
OLD_NORMALIZE = textwrap.dedent(
    """
    import synthsight.model as m

    def permute_first(self, pixels):
        x = pixels.permute(0, 3, 1, 2).float()
        return (x - self.mean) * self.inv_std

    m.PixelModel.normalize = permute_first
    """
)


def _model(nodes, inputs, outputs, opset=18, initializers=(), domains=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    imports = [helper.make_opsetid("", opset), *(helper.make_opsetid(d, 1) for d in domains)]
    return helper.make_model(graph, opset_imports=imports)


def _pixels():
    return helper.make_tensor_value_info("pixels", TensorProto.UINT8, ["batch", 8, 8, 3])


@pytest.mark.parametrize("kind", ["onnx", "fp16"])
def test_fresh_exports_are_tensorrt_parseable(tiny_onnx, kind):
    proto = onnx.load(str(tiny_onnx[kind]))
    assert graph_problems(proto) == []
    first = proto.graph.node[0]
    assert (first.op_type, list(first.input)) == ("Cast", ["pixels"])
    check_file(tiny_onnx[kind])


def test_transpose_before_cast_is_caught():
    nodes = [
        helper.make_node("Transpose", ["pixels"], ["nchw"], perm=[0, 3, 1, 2], name="to_nchw"),
        helper.make_node("Cast", ["nchw"], ["logits"], to=TensorProto.FLOAT, name="cast"),
    ]
    out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3, 8, 8])
    problems = graph_problems(_model(nodes, [_pixels()], [out]))
    assert any("feeds Transpose 'to_nchw', not a Cast" in p for p in problems), problems
    assert any("makes uint8 tensor 'nchw'" in p for p in problems), problems


def test_the_old_permute_first_export_is_refused_with_one_line_and_exit_2(tiny_bundle, tmp_path):
    script = OLD_NORMALIZE + textwrap.dedent(
        f"""
        import sys
        from synthsight.cli import main
        sys.argv = ["synthsight", "export", {str(tiny_bundle)!r}, "--format", "onnx", "--out", {str(tmp_path)!r}]
        main()
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == EXIT_USAGE, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "model.onnx is not TensorRT-parseable" in lines[0], done.stderr
    assert "feeds Transpose" in lines[0] and "Traceback" not in done.stderr


def test_foreign_ops_and_an_old_opset_are_caught():
    nodes = [
        helper.make_node("Cast", ["pixels"], ["x"], to=TensorProto.FLOAT),
        helper.make_node("BiasGelu", ["x", "b"], ["logits"], domain="com.microsoft"),
    ]
    bias = helper.make_tensor("b", TensorProto.FLOAT, [3], [0.0, 0.0, 0.0])
    out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 8, 8, 3])
    model = _model(nodes, [_pixels()], [out], opset=16, initializers=[bias], domains=["com.microsoft"])
    problems = graph_problems(model)
    assert any(p.startswith("opset 16 < 17") for p in problems), problems
    assert any("com.microsoft.BiasGelu" in p for p in problems), problems


def test_fp16_file_whose_layernorm_is_fp16_is_caught(tiny_onnx, tmp_path):
    from synthsight.export.fp16 import convert_fp16
    from synthsight.export.onnx import set_props

    path = convert_fp16(tiny_onnx["onnx"], tmp_path / "all-fp16.onnx", fp32_ops=())
    proto = onnx.load(str(path))
    assert graph_problems(proto) == []  # its metadata says nothing is kept in FP32: consistent
    set_props(proto, {PRECISION_KEY: "fp16", FP32_OPS_KEY: "LayerNormalization"})
    onnx.save(proto, str(path))
    with pytest.raises(NotTensorRTParseable) as info:
        check_file(path)
    message = str(info.value)
    assert "LayerNormalization" in message and "runs in float16" in message and "\n" not in message
    assert info.value.exit_code == EXIT_USAGE
