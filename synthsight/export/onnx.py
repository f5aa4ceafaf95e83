"""PixelModel -> ONNX: uint8 NHWC ``pixels`` in, float32 ``logits`` out, the spec in ``metadata_props``.

Exporter: torch's TorchScript exporter (``dynamo=False``). On ConvNeXt it gives the cleaner graph:
after onnxslim 260 nodes for convnext_tiny with no shape arithmetic, where the dynamo exporter
leaves a Shape/Gather/Range/Reshape chain (267 nodes), needs the extra ``onnxscript`` package and
takes 3x longer (5.9 s vs 1.7 s). Both keep LayerNormalization as one node at opset >= 17.

Simplifier: onnxslim (constant folding, dead-node removal, Identity/Add cleanup) because it keeps
standard ``ai.onnx`` ops only; onnxruntime's offline optimizer writes ``com.microsoft`` fused ops
(BiasGelu, ...) that TensorRT cannot parse.
"""

from __future__ import annotations

import copy
import io
import warnings
from pathlib import Path

from synthsight.errors import UsageError
from synthsight.spec import BATCH_DIM, INPUT_NAME, OUTPUT_NAME, ModelSpec

DEFAULT_OPSET = 18
MIN_OPSET = 17  # LayerNormalization became a standard op in opset 17; below it is decomposed (and FP16-fragile)


def export_onnx(model, spec: ModelSpec, path: str | Path, *, opset: int = DEFAULT_OPSET, simplify: bool = True) -> Path:
    """Export ``model`` (a :class:`synthsight.model.PixelModel`) to ``path`` and return the path.

    The graph takes uint8 ``[N, H, W, 3]`` pixels (dynamic N) and does cast, layout change
    and normalisation itself; ``spec`` is embedded as ``metadata_props["synthsight.spec"]``.
    """
    import onnx
    import torch

    if opset < MIN_OPSET:
        raise UsageError(f"--opset {opset} is too old: LayerNormalization needs opset >= {MIN_OPSET}")
    model = _cpu_eval_copy(model)
    size = spec.preprocess.size
    # Batch 2, not 1: a batch of 1 invites the tracer to specialise shapes on N.
    dummy = torch.zeros((2, size, size, 3), dtype=torch.uint8)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice, tracer warnings
        torch.onnx.export(
            model,
            (dummy,),
            buffer,
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: BATCH_DIM}, OUTPUT_NAME: {0: BATCH_DIM}},
            do_constant_folding=True,
        )
    proto = onnx.load_from_string(buffer.getvalue())
    if simplify:
        proto = slim(proto)
    proto.doc_string = f"synthsight {spec.arch} {size}px: uint8 NHWC pixels -> float32 logits {spec.classes}"
    set_metadata(proto, spec)
    onnx.checker.check_model(proto, full_check=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(path))
    return path


def slim(proto):
    """Constant folding and graph cleanup with onnxslim (standard ops only, TensorRT-readable)."""
    import onnxslim

    return onnxslim.slim(proto)


def _cpu_eval_copy(model):
    """The exporter traces on CPU in fp32; leave the caller's model (maybe on a GPU, maybe training) alone."""
    import torch

    plain = all(p.device.type == "cpu" and p.dtype == torch.float32 for p in model.parameters())
    if plain and not model.training:
        return model
    return copy.deepcopy(model).to("cpu").float().eval()


def set_metadata(proto, spec: ModelSpec) -> None:
    """Embed ``spec`` in ``proto.metadata_props`` (replacing an older one)."""
    set_props(proto, spec.to_onnx_metadata())


def set_props(proto, values: dict[str, str]) -> None:
    """Set ``metadata_props`` keys of ``proto``; keys not in ``values`` are kept."""
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key not in values]
    del proto.metadata_props[:]
    for key, value in [*kept, *values.items()]:
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value


def embed_spec(path: str | Path, spec: ModelSpec) -> None:
    """Rewrite the spec embedded in an existing ONNX file (e.g. to add parity figures)."""
    import onnx

    proto = onnx.load(str(path))
    set_metadata(proto, spec)
    onnx.save(proto, str(path))
