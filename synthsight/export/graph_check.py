"""TensorRT-parseable on paper: the rules an exported graph must meet before any GPU sees it.

A CPU machine cannot run TensorRT's ONNX parser, but it can check the graph against the parser's
documented limits, so a graph that every engine build would refuse fails at export, on any machine:

- the uint8 ``pixels`` input feeds Cast nodes only, and no other tensor is uint8: onnx-tensorrt
  (``ModelImporter.cpp``) refuses any node whose output is uint8 unless it is a graph output or a
  Constant ("TensorRT does not support UINT8 types for intermediate tensors"; NVIDIA/TensorRT#3985);
- every op is in the default ONNX domain: the parser has no importer for ``com.microsoft`` ops;
- the default-domain opset is >= 17, where LayerNormalization is one standard op (below it the
  exporter decomposes it into ReduceMean/Pow chains that overflow in FP16);
- in the FP16 file, the ops the FP16 converter was told to keep in FP32 (``synthsight.fp32_ops``,
  LayerNormalization by default) really read and write float32: a strongly typed engine obeys the
  graph's types, so an FP16 LayerNorm there would run in FP16.

Tensor types come from ONNX shape inference (``onnx.shape_inference``), not from names.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from synthsight.artifacts import graph_precision, load_onnx
from synthsight.errors import ModelFileError
from synthsight.spec import FP32_OPS_KEY, INPUT_NAME

MIN_OPSET = 17
DEFAULT_DOMAINS = ("", "ai.onnx")
DEFAULT_FP32_OPS = ("LayerNormalization",)


class NotTensorRTParseable(ModelFileError):
    """An exported ONNX graph breaks a rule of TensorRT's ONNX parser (exit code 2)."""


def graph_problems(proto) -> list[str]:
    """Every rule ``proto`` (an ``onnx.ModelProto``) breaks, one short sentence each; empty when it passes."""
    import onnx

    typed = onnx.shape_inference.infer_shapes(proto, strict_mode=False)
    types = _elem_types(typed.graph)
    problems = [*_opset_problems(proto), *_domain_problems(proto.graph.node)]
    problems += _uint8_problems(typed.graph, types)
    if graph_precision(proto) == "fp16":
        problems += _fp32_island_problems(typed.graph, types, _fp32_ops(proto))
    return problems


def check_file(path: str | Path) -> Path:
    """Raise :class:`NotTensorRTParseable` (one line) when the ONNX file at ``path`` breaks a rule."""
    path = Path(path)
    proto = load_onnx(path)
    problems = graph_problems(proto)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise NotTensorRTParseable(f"{path.name} is not TensorRT-parseable: {problems[0]}{more}")
    return path


def _elem_types(graph) -> dict[str, int]:
    """Tensor name -> ONNX element type, for every typed value the (inferred) graph knows."""
    types: dict[str, int] = {}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        if value.type.HasField("tensor_type") and value.type.tensor_type.elem_type:
            types[value.name] = value.type.tensor_type.elem_type
    for init in graph.initializer:
        types[init.name] = init.data_type
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in DEFAULT_DOMAINS:
            for attr in node.attribute:
                if attr.name == "value" and attr.HasField("t"):
                    types[node.output[0]] = attr.t.data_type
    return types


def _opset_problems(proto) -> list[str]:
    versions = [o.version for o in proto.opset_import if o.domain in DEFAULT_DOMAINS]
    if not versions:
        return ["it imports no default ONNX opset"]
    if max(versions) < MIN_OPSET:
        return [f"opset {max(versions)} < {MIN_OPSET} (LayerNormalization is one op only from opset {MIN_OPSET})"]
    return []


def _domain_problems(nodes: Iterable) -> list[str]:
    foreign = sorted({f"{n.domain}.{n.op_type}" for n in nodes if n.domain not in DEFAULT_DOMAINS})
    if not foreign:
        return []
    return [f"ops outside the default ONNX domain, which TensorRT's parser cannot import: {', '.join(foreign[:5])}"]


def _uint8_problems(graph, types: dict[str, int]) -> list[str]:
    import onnx

    uint8 = onnx.TensorProto.UINT8
    problems = []
    graph_inputs = {v.name for v in graph.input} - {i.name for i in graph.initializer}
    for node in graph.node:
        for name in node.input:
            if name in graph_inputs and types.get(name) == uint8 and node.op_type != "Cast":
                problems.append(f"uint8 input {name!r} feeds {node.op_type} {node.name!r}, not a Cast (cast it first)")
    outputs = {v.name for v in graph.output}
    for node in graph.node:
        if node.op_type == "Constant":
            continue  # constants may be uint8 (the parser allows them)
        for name in node.output:
            if name and name not in outputs and types.get(name) == uint8:
                problems.append(f"{node.op_type} {node.name!r} makes uint8 tensor {name!r} (uint8 only as I/O)")
    for name in graph_inputs - {INPUT_NAME}:
        if types.get(name) == uint8:
            problems.append(f"second uint8 input {name!r}")
    return problems


def _fp32_ops(proto) -> tuple[str, ...]:
    props = {p.key: p.value for p in proto.metadata_props}
    if FP32_OPS_KEY in props:
        return tuple(op for op in props[FP32_OPS_KEY].split(",") if op)
    return DEFAULT_FP32_OPS


def _fp32_island_problems(graph, types: dict[str, int], ops: tuple[str, ...]) -> list[str]:
    import onnx

    problems = []
    for node in graph.node:
        if node.op_type not in ops:
            continue
        for name in [*node.input, *node.output]:
            elem = types.get(name)
            if name and elem != onnx.TensorProto.FLOAT:
                kind = onnx.TensorProto.DataType.Name(elem).lower() if elem else "an unknown type"
                problems.append(f"{node.op_type} {node.name!r} runs in {kind} ({name!r}), not float32")
                break
    return problems
