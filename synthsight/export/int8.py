"""FP32 ONNX -> INT8 ONNX (QuantizeLinear/DequantizeLinear) by post-training static quantisation.

Quantiser: NNCF (``nncf.quantize`` on the ONNX ModelProto), which writes standard QDQ ONNX that both
OpenVINO and ONNX Runtime run. Measured on convnext_tiny at 224 px, batch 8, on the 2-core
AVX512-VNNI Xeon (benchmarks/bench_cpu_precision.py has the current figures): OpenVINO runs NNCF's
QDQ graph ~2x faster than ONNX Runtime runs the FP32 one, as fast as NNCF's own OpenVINO IR, while
ONNX Runtime's ``quantize_static`` (QDQ, per-channel) graph ran at 1.0x on either runtime: it puts
a Quantize/Dequantize pair after nearly every op (238 QuantizeLinear nodes, NNCF 96: it also
quantises Transpose, Erf and Conv outputs), and the pairs cost what the INT8 MatMuls save. ONNX
Runtime's dynamic quantisation was rejected: it scales activations per batch, so one image's score
depends on the other images in its batch (up to 0.006 in logits).

Static scales make every score a function of its own image only. What stays in higher precision:
the uint8 input and the normalisation, every LayerNorm and GELU (NNCF quantises the inputs of
Conv and MatMul only), and the classifier head (:func:`head_nodes`), whose two logits feed the
verdict directly. Calibration images: :mod:`synthsight.export.calibration`.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from pathlib import Path

import numpy as np

from synthsight.errors import UsageError
from synthsight.spec import CALIBRATION_KEY, OUTPUT_NAME, PRECISION_KEY

HEAD_OPS = ("Gemm", "MatMul", "Add")  # the classifier's linear layer, exported as Gemm or MatMul + Add


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
    keep = head_nodes(proto)
    quantized = _nncf_quantize(proto, pixels, keep)
    del quantized.metadata_props[:]
    for prop in proto.metadata_props:
        quantized.metadata_props.add(key=prop.key, value=prop.value)
    calibration = {
        "quantizer": f"nncf {_version('nncf')} quantize (post-training, static, preset performance)",
        "images": int(len(pixels)),
        "source": description,
        "kept_in_fp32": {"nodes": keep, "ops": ["LayerNormalization", "Erf (GELU)", "input cast + normalisation"]},
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

        nncf.disable_logging()
        items = [{"pixels": pixels[i : i + 1]} for i in range(len(pixels))]
        return nncf.quantize(
            proto,
            nncf.Dataset(items),
            subset_size=len(items),
            ignored_scope=nncf.IgnoredScope(names=keep, validate=False),
        )


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"
