"""FP32 ONNX -> mixed FP16 ONNX for strongly typed TensorRT (TensorRT 11 has no BuilderFlag.FP16).

Converter: onnxruntime's ``onnxruntime.transformers.float16`` (ships and is tested with ONNX Runtime).
onnxconverter-common 1.16's ``convert_float_to_float16`` writes an invalid graph for our input: it
retypes the output of the uint8 -> float Cast without changing the Cast's ``to`` (ORT refuses to load
it). NVIDIA ModelOpt AutoCast needs ``nvidia-modelopt[onnx]``, which pins onnx 1.21, onnxruntime-gpu
1.24 and cupy-cuda12x: a downgrade of this environment for one function.

What stays FP32: the uint8 input (untouched), the float32 ``logits`` output (``keep_io_types``) and
the ops in :data:`FP32_OPS`. LayerNormalization is there per docs/design.md ("Exported model": ConvNeXt's
LayerNorm overflows in FP16 under TensorRT). Measured on a briefly trained convnext_tiny (realworld
corpus, 224 px): the head LayerNorm's input reaches |x| = 22 and a per-position sum of squares over
its 768 channels of 6.15e4 - 94% of the FP16 maximum 65504 - so a LayerNorm that accumulates in FP16
sits at the edge of overflow, and longer training only grows these activations. ONNX Runtime's CPU
kernel accumulates in FP32, so on CPU both variants agree with FP32 (max |dp(ai)| 1.7e-5 with
LayerNorm in FP32, 2.9e-5 without); keeping it costs two Casts per LayerNorm.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from synthsight.spec import FP32_OPS_KEY, PRECISION_KEY

# Ops computed in FP32 inside the FP16 graph (the converter puts Casts around them).
FP32_OPS: tuple[str, ...] = ("LayerNormalization",)


def convert_fp16(src: str | Path, dst: str | Path, *, fp32_ops: Sequence[str] = FP32_OPS) -> Path:
    """Write a mixed-precision copy of the FP32 ONNX ``src`` to ``dst``; returns ``dst``.

    Input ``pixels`` stays uint8 and output ``logits`` float32, so callers see no difference;
    ``metadata_props`` (the spec) are carried over, plus ``synthsight.precision = fp16``.
    """
    import onnx
    from onnxruntime.transformers import float16

    from synthsight.export.onnx import set_props, slim

    proto = onnx.load(str(src))
    blocked = [*float16.DEFAULT_OP_BLOCK_LIST, *fp32_ops]
    proto = float16.convert_float_to_float16(proto, keep_io_types=True, op_block_list=blocked)
    # The converter appends its Casts at the end of the node list; onnxslim re-sorts the graph
    # topologically (onnx.checker and TensorRT's parser require it) and drops Cast pairs that cancel.
    proto = slim(proto)
    set_props(proto, {PRECISION_KEY: "fp16", FP32_OPS_KEY: ",".join(fp32_ops)})
    onnx.checker.check_model(proto, full_check=True)
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(dst))
    return dst
