"""What a model file is, what it carries, and which backends and devices can run it here.

This is what ``synthsight info`` prints. It reads metadata only (no weights are loaded into a
backend), and asks each backend class whether it can run here (``Backend.probe``: which packages import,
whether torch sees CUDA, which ONNX Runtime providers exist, whether an engine's sidecar matches the GPU).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from synthsight.artifacts import bundle_paths, load_onnx, model_kind, onnx_facts
from synthsight.errors import SynthsightError
from synthsight.runtime.registry import BACKENDS, CONVERT_HINT, RUNS_ON, backend_class
from synthsight.spec import CALIBRATION_KEY, CERTIFICATES_KEY, SOURCE_KEY, ModelSpec, chance_note

KIND_LABELS = {"bundle": "PyTorch model bundle", "onnx": "ONNX model", "engine": "TensorRT engine"}


def describe_model(path: str | Path) -> dict[str, Any]:
    """A JSON-ready description of ``path``: kind, spec, format details and what runs it here."""
    from synthsight.runtime.made_from import check_export

    path = Path(path)
    kind = model_kind(path)
    check_export(path)
    out: dict[str, Any] = {"path": str(path), "kind": kind, "bytes": _size(path, kind)}
    spec, details = {"bundle": _bundle, "onnx": _onnx, "engine": _engine}[kind](path)
    out["spec"] = spec.to_dict()
    out[kind] = details
    out["runs_on"] = runnable(kind, {**details, "spec": out["spec"]} if kind == "engine" else details)
    return out


def read_model_spec(path: str | Path) -> ModelSpec:
    """The spec a model file carries, read from its metadata alone (no backend opened, no GPU needed).

    A cluster driver uses it to prepare a scan whose model runs elsewhere (``scan --ray``).
    """
    from synthsight.runtime.made_from import check_export

    path = Path(path)
    check_export(path)
    return {"bundle": _bundle, "onnx": _onnx, "engine": _engine}[model_kind(path)](path)[0]


def _size(path: Path, kind: str) -> int:
    if kind == "bundle":
        return sum(f.stat().st_size for f in bundle_paths(path) if f.is_file())
    return path.stat().st_size


def _bundle(path: Path) -> tuple[ModelSpec, dict]:
    spec_path = bundle_paths(path)[1]
    if not spec_path.is_file():
        raise SynthsightError(f"{path}: bundle spec {spec_path.name} not found")
    return ModelSpec.from_json(spec_path.read_text(encoding="utf-8")), {"spec_file": str(spec_path)}


def _onnx(path: Path) -> tuple[ModelSpec, dict]:
    proto = load_onnx(path, weights=False)
    facts = onnx_facts(path)
    props = facts.props
    spec = ModelSpec.from_onnx_metadata(props)
    weights = {i.name for i in proto.graph.initializer}
    _check_graph_matches_spec(proto, weights, spec, path)
    details = {
        "opset": next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None),
        "precision": facts.precision,
        "initializer_dtypes": _dtype_names(facts.initializer_dtypes),
        "nodes": len(proto.graph.node),
        "inputs": [_value_info(v) for v in proto.graph.input if v.name not in weights],
        "outputs": [_value_info(v) for v in proto.graph.output],
        "producer": f"{proto.producer_name} {proto.producer_version}".strip(),
        "metadata_keys": sorted(props),
        **_reduced(path, props, facts.precision),
    }
    return spec, details


def _reduced(path: Path, props: dict[str, str], precision: str) -> dict[str, Any]:
    """Certificates stored in the file, how an INT8 file was made, and what runs on this CPU (cpu_options)."""
    from synthsight.runtime.cpu.features import here
    from synthsight.runtime.cpu.precision import family, options

    out: dict[str, Any] = {}
    for key, name in ((CERTIFICATES_KEY, "certificates"), (CALIBRATION_KEY, "calibration"), (SOURCE_KEY, "source")):
        if key in props:
            try:
                out[name] = json.loads(props[key])
            except ValueError:
                out[name] = {"unreadable": props[key][:200]}
    if precision in ("fp32", "int8"):
        fam = family(path)
        out["cpu"] = here().to_dict()
        out["cpu_options"] = [o.to_dict() for o in options(fam, here())]
        out["cpu_notes"] = fam.notes
    return out


def _check_graph_matches_spec(proto, weights: set[str], spec: ModelSpec, path: Path) -> None:
    """Refuse what the scanner would refuse: info must not call a file fine that a scan rejects."""
    from types import SimpleNamespace

    import onnx

    from synthsight.runtime.onnxrt import check_graph

    def arg(value):
        t = value.type.tensor_type
        dims = [d.dim_param or (d.dim_value if d.HasField("dim_value") else None) for d in t.shape.dim]
        return SimpleNamespace(
            name=value.name, type=f"tensor({onnx.TensorProto.DataType.Name(t.elem_type).lower()})", shape=dims
        )

    inputs = [arg(v) for v in proto.graph.input if v.name not in weights]
    check_graph(inputs, [arg(v) for v in proto.graph.output], spec, str(path))


def _dtype_names(counts: dict[int, int]) -> dict[str, int]:
    """{ONNX data type number: count} -> {numpy dtype name: count}, as ``info`` shows the weight types."""
    import onnx

    names: dict[str, int] = {}
    for dtype, n in counts.items():
        name = onnx.helper.tensor_dtype_to_np_dtype(dtype).name
        names[name] = names.get(name, 0) + n
    return names


def _value_info(value) -> str:
    import onnx

    t = value.type.tensor_type
    dims = [d.dim_param or str(d.dim_value) for d in t.shape.dim]
    return f"{value.name} {onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name} [{', '.join(dims)}]"


def _engine(path: Path) -> tuple[ModelSpec, dict]:
    from synthsight.runtime.engine_sidecar import read_sidecar

    sidecar = read_sidecar(path)
    if not isinstance(sidecar.get("spec"), dict):
        raise SynthsightError(f"{path}: engine sidecar has no model spec")
    details = {k: v for k, v in sidecar.items() if k != "spec"}
    return ModelSpec.from_dict(sidecar["spec"]), details


def runnable(kind: str, details: dict | None = None) -> list[dict[str, str]]:
    """One row per backend x device: ``ok`` yes/no and why."""
    rows = []
    for name in BACKENDS:
        if name not in RUNS_ON[kind]:
            rows.append({"backend": name, "device": "-", "ok": "no", "why": CONVERT_HINT[kind]})
            continue
        for device, (ok, why) in backend_class(name).probe(details or {}).items():
            rows.append({"backend": name, "device": device, "ok": "yes" if ok else "no", "why": why})
    return rows


def format_info(info: dict[str, Any]) -> str:
    """The human-readable form of :func:`describe_model`."""
    spec = info["spec"]
    pre = spec["preprocess"]
    lines = [
        f"{info['path']}: {KIND_LABELS[info['kind']]} ({info['bytes'] / 1e6:.1f} MB)",
        f"  arch         {spec['arch']}",
        f"  classes      {', '.join(spec['classes'])} (positive: {spec['positive_class']})",
        f"  threshold    {spec['threshold']:g} ({_source(spec)})",
        f"  preprocess   {pre['size']} px, {pre['resize']}, {pre['interpolation']}, "
        f"mean {_floats(pre['mean'])}, std {_floats(pre['std'])}",
        *_metric_lines(spec.get("metrics") or {}),
        f"  versions     {_flat(spec.get('versions') or {}) or '-'}",
        f"  created      {spec.get('created') or '-'}",
    ]
    details = info.get(info["kind"], {})
    if info["kind"] == "onnx":
        dtypes = ", ".join(f"{n} {k}" for k, n in sorted(details["initializer_dtypes"].items()))
        lines += [
            f"  onnx         opset {details['opset']}, {details['precision']} ({dtypes} initializers), "
            f"{details['nodes']} nodes",
            f"  io           {'; '.join(details['inputs'])} -> {'; '.join(details['outputs'])}",
        ]
        lines += _reduced_lines(details)
    elif info["kind"] == "engine":
        lines.append(
            f"  engine       TensorRT {details.get('tensorrt_version')}, {details.get('gpu_name')} "
            f"(sm {details.get('compute_capability')}), profile {_flat(details.get('profile') or {})}"
        )
    lines.append("runs here:")
    exported = _exports_beside(info)
    width = max(len(r["backend"]) for r in info["runs_on"])
    for row in info["runs_on"]:
        why = row["why"]
        if exported and why == CONVERT_HINT["bundle"]:  # "export it first" while the exports lie beside it
            why = f"scan the export beside it: {', '.join(exported)}"
        lines.append(f"  {row['backend']:<{width}}  {row['device']:<4}  {row['ok']:<3}  {why}")
    return "\n".join(lines)


def _reduced_lines(details: dict) -> list[str]:
    """Calibration, certificates and the CPU options of an FP32/INT8 file, for :func:`format_info`."""
    from synthsight.runtime.cpu.precision import certificate_line

    lines = []
    calibration = details.get("calibration")
    if calibration:
        lines.append(f"  calibration  {calibration.get('images')} images ({calibration.get('source')}); "
                     f"{calibration.get('quantizer')}")  # fmt: skip
    for label, cert in sorted((details.get("certificates") or {}).items()):
        lines.append(f"  certificate  {label}: {certificate_line(cert)}")
    if "cpu_options" in details:
        cpu = details["cpu"]
        lines.append(f"cpu options here ({cpu['model']}; {', '.join(cpu['flags']) or 'no listed flags'}):")
        for row in details["cpu_options"]:
            runs = "yes" if row["runs"] else "no"
            lines.append(f"  {row['option']:<17} {row['file']:<16} {runs:<4} {row['why']}; {row['certificate']}")
        lines += [f"  note: {note}" for note in details.get("cpu_notes") or []]
        lines.append("  (scan --precision auto times those that run and pass the gate, once per model and machine)")
    return lines


# The metrics `info` prints of a bundle's validation (the whole dict, per class and generator: info --json).
SHOWN_METRICS = ("n", "accuracy", "roc_auc", "false_positive_rate", "true_positive_rate", "best_epoch", "epochs_run")


def _metric_lines(metrics: dict) -> list[str]:
    if not metrics:
        return ["  metrics      -"]
    shown = {k: metrics[k] for k in SHOWN_METRICS if metrics.get(k) is not None}
    text = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in shown.items())
    more = " (all: info --json)" if set(metrics) - set(shown) else ""
    lines = [f"  metrics      {text or '-'}{more}"]
    chance = chance_note(metrics)
    return lines + ([f"  WARNING      {chance}"] if chance else [])


def _source(spec: dict) -> str:
    """How the threshold was chosen, without repeating its value (``default (0.5)`` beside 0.5)."""
    source = str(spec.get("threshold_source") or "")
    return "default" if source.startswith("default") else source or "-"


def _exports_beside(info: dict) -> list[str]:
    """A bundle's export files lying beside it (the runtimes that cannot run the bundle run those)."""
    if info["kind"] != "bundle":
        return []
    from synthsight.runtime.made_from import exports_in

    folder = Path(info["bundle"]["spec_file"]).parent
    return [p.name for p in exports_in(folder) if not p.name.endswith(".json")]


def _floats(values) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


def _flat(data: dict, prefix: str = "") -> str:
    parts = []
    for key, value in data.items():
        if isinstance(value, dict):
            inner = _flat(value, f"{prefix}{key}.")
            parts.append(inner) if inner else None
        elif isinstance(value, float):
            parts.append(f"{prefix}{key}={value:.4g}")
        elif not isinstance(value, (list, tuple)):
            parts.append(f"{prefix}{key}={value}")
    return ", ".join(p for p in parts if p)


def info_json(info: dict[str, Any]) -> str:
    return json.dumps(info, indent=2, sort_keys=True, default=str)
