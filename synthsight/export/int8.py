"""FP32 ONNX -> INT8 ONNX (QuantizeLinear/DequantizeLinear) by post-training static quantisation.

Quantiser: NNCF (``nncf.quantize`` on the ONNX ModelProto), which writes standard QDQ ONNX that both
OpenVINO and ONNX Runtime run; OpenVINO runs it about 2x faster than ONNX Runtime runs the FP32 graph
on the 2-core AVX512-VNNI Xeon (benchmarks/RESULTS.md has the current figures). Measured on a trained
convnext_tiny at 224 px against ONNX Runtime fp32, on 302 validation and stress images whose scores
spread across the threshold (benchmarks/bench_cpu_precision.py):

- NNCF's default (CNN) scheme also quantises the residual Adds: 97.4 % verdict agreement, max |dp(ai)|
  0.55. The fingerprint a detector looks for is a faint per-pixel pattern, and an 8-bit residual
  stream loses it.
- The transformer scheme (``model_type=TRANSFORMER``: only the inputs of MatMul and Conv are
  quantised) with every dense spatial convolution kept in FP32 - the stem, which sees the raw pixels,
  and the three downsampling layers (ConvNeXt's other convolutions are depthwise) - and the classifier
  head in FP32: 100 % agreement, max |dp(ai)| 0.001, in a noisy measurement within ~10 % of the
  CNN scheme's speed. Quantising the downsampling layers too gave max |dp(ai)| 0.032 (over the gate's
  0.02), the stem as well 0.45. SmoothQuant (on by default in that scheme) changed nothing
  measurable here and is off: fewer rewritten nodes.
- ONNX Runtime's ``quantize_static`` (QDQ, per-channel) ran no faster than FP32 on either runtime: it
  puts a Quantize/Dequantize pair after nearly every op (238 QuantizeLinear nodes), and the pairs
  cost what the INT8 MatMuls save. ONNX Runtime's dynamic quantisation was rejected outright: it
  scales activations per batch, so one image's score depends on the other images in its batch.

Static scales make every score a function of its own image only. LayerNorm, GELU and the input
normalisation are never quantised. Calibration images: :mod:`synthsight.export.calibration`.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from pathlib import Path

import numpy as np

from synthsight.errors import UsageError
from synthsight.spec import CALIBRATION_KEY, INPUT_NAME, OUTPUT_NAME, PRECISION_KEY

HEAD_OPS = ("Gemm", "MatMul", "Add")  # the classifier's linear layer, exported as Gemm or MatMul + Add
# What the quantisation recipe is (recorded in the file; change it when the recipe changes).
RECIPE = "nncf transformer scheme (MatMul/Conv inputs only), SmoothQuant off; FP32: dense convolutions, head"


def head_nodes(proto) -> list[str]:
    """Names of the nodes of the final linear layer (walking back from ``logits`` through Gemm/MatMul/Add)."""
    producer = {out: node for node in proto.graph.node for out in node.output}
    names, frontier = [], [OUTPUT_NAME]
    while frontier:
        node = producer.get(frontier.pop())
        if node is None or node.op_type not in HEAD_OPS:
            continue
        names.append(node.name)
        if node.op_type in ("Gemm", "MatMul"):
            break
        frontier += list(node.input)
    return names


def dense_convolutions(proto) -> list[str]:
    """Names of the spatial Conv nodes that are not depthwise (``group`` 1, kernel larger than 1x1).

    In ConvNeXt these are the stem and the downsampling layers; depthwise convolutions and the 1x1
    convolutions some variants use for their MLP (convnext_atto's ``conv_mlp``) are quantised.
    """
    out = []
    for node in proto.graph.node:
        attrs = {a.name: a for a in node.attribute}
        group = attrs["group"].i if "group" in attrs else 1
        kernel = list(attrs["kernel_shape"].ints) if "kernel_shape" in attrs else []
        if node.op_type == "Conv" and group == 1 and any(k > 1 for k in kernel):
            out.append(node.name)
    return out


def quantize_int8(src: str | Path, dst: str | Path, pixels: np.ndarray, *, description: str = "") -> Path:
    """Write an INT8 QDQ copy of the FP32 ONNX ``src`` to ``dst``, calibrated on ``pixels`` (uint8 NHWC).

    The spec and other ``metadata_props`` are carried over, plus ``synthsight.precision = int8`` and
    ``synthsight.calibration`` (how many images, from where, which quantiser, what was kept in FP32).
    """
    import onnx

    from synthsight.export.onnx import set_props

    if pixels.ndim != 4 or not len(pixels):
        raise UsageError("INT8 calibration needs at least one image")
    proto = onnx.load(str(src))
    keep = dense_convolutions(proto) + head_nodes(proto)
    quantized = _nncf_quantize(proto, pixels, keep)
    del quantized.metadata_props[:]
    for prop in proto.metadata_props:
        quantized.metadata_props.add(key=prop.key, value=prop.value)
    calibration = {
        "quantizer": f"nncf {_version('nncf')} quantize (post-training, static)",
        "recipe": RECIPE,
        "images": int(len(pixels)),
        "source": description,
        "kept_in_fp32": {"nodes": keep, "ops": ["LayerNormalization", "Erf (GELU)", "Add", "input normalisation"]},
    }
    set_props(quantized, {PRECISION_KEY: "int8", CALIBRATION_KEY: json.dumps(calibration, sort_keys=True)})
    quantized.doc_string = f"{proto.doc_string} (INT8 QDQ, calibrated on {len(pixels)} images)".strip()
    onnx.checker.check_model(quantized)
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(quantized, str(dst))
    return dst


def _nncf_quantize(proto, pixels: np.ndarray, keep: list[str]):
    # nncf imports torch, whose extension loader logs a CUDA_HOME warning on machines without CUDA,
    # and draws rich progress bars: neither is for our users.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        import nncf
        from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, AdvancedSmoothQuantParameters

        nncf.disable_logging()
        items = [{INPUT_NAME: pixels[i : i + 1]} for i in range(len(pixels))]
        no_smooth_quant = AdvancedQuantizationParameters(smooth_quant_alphas=AdvancedSmoothQuantParameters(matmul=-1))
        return nncf.quantize(
            proto,
            nncf.Dataset(items),
            subset_size=len(items),
            model_type=nncf.ModelType.TRANSFORMER,
            ignored_scope=nncf.IgnoredScope(names=keep, validate=False),
            advanced_parameters=no_smooth_quant,
        )


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"
