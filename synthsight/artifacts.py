"""What a model file is: the bundle's and the export's file names, the kinds and their suffixes, the metadata an
ONNX file carries, its precision and its SHA-256. One place for each of these facts; every part imports them.

- The metadata of an ONNX file is read by one cached loader (:func:`read_props`), with one refusal message
  for a file that is not readable ONNX (:func:`load_onnx`).
- A file's precision follows ONE rule (:func:`precision_rule`): its ``synthsight.precision`` mark first (the FP16
  and INT8 exports write one), else ``fp16`` when any initializer (weight) is stored as float16, else ``fp32``.
  The backends, ``info``, ``--ray``, the export and the benchmarks all ask :func:`file_precision`.
- The SHA-256 of a model file is computed once per file version (:func:`file_sha256`), however many parts ask
  (the run manifest, ``--resume``'s check, the INT8 file's tie to its FP32 file, ``--precision auto``'s cache).

Both caches are keyed by the file's absolute path, size and modification time: a rewritten file is read again.
Standard library only at import. The facts a scan needs (metadata, weight types) are parsed with protobuf
(onnxruntime's own dependency) through the few fields of onnx.proto they live in (:data:`ONNX_FIELDS`): opening
a model for a scan does not import onnx (about 1 s, most of it ml_dtypes). The graph (:func:`load_onnx`: info,
the export) is read with onnx.
"""

from __future__ import annotations

import hashlib
import mmap
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from synthsight.errors import ModelFileError
from synthsight.spec import PRECISION_KEY, ModelSpec

# A model bundle: a directory holding these two files, or the pair NAME.safetensors + NAME.json.
WEIGHTS_NAME = "model.safetensors"
SPEC_NAME = "model.json"
BUNDLE_SUFFIXES = (".safetensors", ".json")
# The files `synthsight export` writes beside the bundle, by --format.
EXPORT_NAMES = {"onnx": "model.onnx", "fp16": "model.fp16.onnx", "int8": "model.int8.onnx", "engine": "model.engine"}
ONNX_SUFFIX = ".onnx"
INT8_SUFFIX = ".int8.onnx"  # model.int8.onnx belongs to model.onnx (runtime/cpu/family.py)
ENGINE_SUFFIXES = (".engine", ".plan")
SIDECAR_SUFFIX = ".json"  # model.engine -> model.engine.json (runtime/engine_sidecar.py)
# File suffix -> kind of model file.
SUFFIXES: dict[str, str] = {
    **dict.fromkeys(ENGINE_SUFFIXES, "engine"),
    ONNX_SUFFIX: "onnx",
    **dict.fromkeys(BUNDLE_SUFFIXES, "bundle"),
}
KIND_NAMES = {"bundle": "model bundle", "onnx": ".onnx file", "engine": "TensorRT .engine file"}
PRECISIONS = ("fp32", "fp16", "bf16", "int8")  # every precision a model may run at somewhere
# The fields of onnx.proto (proto2; numbers fixed by the ONNX standard) that hold an ONNX file's facts: message ->
# field -> (number, type). Every other field (nodes, raw weights, external-data references) is skipped unread.
ONNX_FIELDS = {
    "ModelProto": {"graph": (7, "GraphProto"), "metadata_props": (14, "StringStringEntryProto[]")},
    "StringStringEntryProto": {"key": (1, "string"), "value": (2, "string")},
    "GraphProto": {"initializer": (5, "TensorProto[]")},
    "TensorProto": {"data_type": (2, "int32")},
}
FLOAT16 = 10  # onnx.TensorProto.FLOAT16: TensorProto.data_type of a float16 weight


def bundle_paths(path: str | Path) -> tuple[Path, Path]:
    """(weights, spec JSON) of the bundle at ``path``: a directory, NAME.safetensors or NAME.json.

    Raises:
        ModelFileError: when ``path`` is none of these forms.
    """
    path = Path(path)
    if path.is_dir():
        return path / WEIGHTS_NAME, path / SPEC_NAME
    if path.suffix in BUNDLE_SUFFIXES:
        return path.with_suffix(".safetensors"), path.with_suffix(".json")
    raise ModelFileError(f"{path}: not a model bundle (a directory, or NAME.safetensors + NAME.json)")


def is_bundle(path: str | Path) -> bool:
    """Whether ``path`` is a model bundle whose two files are both there."""
    try:
        return all(p.is_file() for p in bundle_paths(path))
    except ModelFileError:
        return False


def model_kind(path: str | Path) -> str:
    """``bundle``, ``onnx`` or ``engine`` by what ``path`` is; ModelFileError when it is none of them."""
    path = Path(path)
    if path.is_dir():
        if is_bundle(path):
            return "bundle"
        raise ModelFileError(f"{path}: directory is not a model bundle (needs {WEIGHTS_NAME} and {SPEC_NAME})")
    if not path.exists():
        raise ModelFileError(f"{path}: model file not found")
    if path.name.lower().endswith(ENGINE_SUFFIXES[0] + SIDECAR_SUFFIX):
        engine = path.name[: -len(SIDECAR_SUFFIX)]
        raise ModelFileError(f"{path}: this is a TensorRT engine's sidecar; pass {engine} itself")
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ModelFileError(
            f"{path}: not a model file (expected a bundle directory, NAME.safetensors, .onnx or .engine)"
        )
    return kind


def weights_file(path: str | Path) -> Path:
    """The file whose bytes a backend runs: a bundle's weights, else the model file itself.

    Reports hash this file, so ``--resume`` sees new weights however the bundle was named.
    """
    return bundle_paths(path)[0] if model_kind(path) == "bundle" else Path(path)


def weights_sha256(path: str | Path, spec: ModelSpec) -> str:
    """SHA-256 of the weights ``path`` runs: a bundle's weights file; an export names those it was made from
    (``spec.weights_sha256``, empty for exports made before it was recorded). A calibration is checked against it."""
    if model_kind(path) == "bundle":
        return file_sha256(weights_file(path))
    return spec.weights_sha256


def int8_sibling(fp32: Path) -> Path:
    """``model.onnx`` -> ``model.int8.onnx``, the INT8 file an export makes from it."""
    return fp32.with_name(fp32.name[: -len(ONNX_SUFFIX)] + INT8_SUFFIX)


def fp32_name(int8_name: str) -> str:
    """``model.int8.onnx`` -> ``model.onnx``, the FP32 file an INT8 file is made from."""
    return int8_name[: -len(INT8_SUFFIX)] + ONNX_SUFFIX if int8_name.endswith(INT8_SUFFIX) else int8_name


def load_onnx(path: str | Path, weights: bool = True):
    """The ``onnx.ModelProto`` at ``path``, or a ModelFileError: the one refusal of a file that is not ONNX.

    ``weights=False`` leaves external weight files unread (metadata and graph only).
    """
    import onnx

    try:
        return onnx.load(str(path), load_external_data=weights)
    except Exception as exc:
        raise _unreadable(path, exc) from None


def _unreadable(path: str | Path, exc: Exception) -> ModelFileError:
    return ModelFileError(f"{path}: not a readable ONNX file ({type(exc).__name__})")


def precision_rule(props: Mapping[str, str], fp16_weights: bool) -> str:
    """THE rule for an ONNX graph's precision: its ``synthsight.precision`` mark, else fp16 when any weight is
    stored as float16 (a mixed FP16 graph keeps some in float32), else fp32."""
    return props.get(PRECISION_KEY) or ("fp16" if fp16_weights else "fp32")


def graph_precision(proto) -> str:
    """:func:`precision_rule` on an ``onnx.ModelProto`` in memory (the export, before the file is written)."""
    return precision_rule(_props_of(proto), _has_fp16_weights(proto))


@dataclass(frozen=True)
class OnnxFacts:
    """What one version of an ONNX file carries besides its graph: metadata and weight types."""

    props: dict[str, str]
    initializer_dtypes: dict[int, int]  # TensorProto.data_type (onnx.TensorProto.DataType) -> count

    @property
    def precision(self) -> str:
        return precision_rule(self.props, self.initializer_dtypes.get(FLOAT16, 0) > 0)


def onnx_facts(path: str | Path) -> OnnxFacts:
    """The metadata and weight types of the ONNX file at ``path``, read once per file version."""
    return _facts(*_version(path))


def read_props(path: str | Path) -> dict[str, str]:
    """An ONNX file's ``metadata_props`` (a copy: callers may change it)."""
    return dict(onnx_facts(path).props)


def file_precision(path: str | Path) -> str:
    """The precision the ONNX file at ``path`` computes in, by :func:`precision_rule`."""
    return onnx_facts(path).precision


def onnx_spec(path: str | Path) -> ModelSpec:
    """The ModelSpec an exported ONNX file carries; a file without one is refused, naming the file."""
    try:
        return ModelSpec.from_onnx_metadata(read_props(path))
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None


def file_sha256(path: str | Path) -> str:
    """SHA-256 of the file at ``path``, computed once per file version."""
    return _sha256(*_version(path))


def _version(path: str | Path) -> tuple[str, int, int]:
    """(absolute path, size, modification time): the cache key of a file version."""
    st = os.stat(path)
    return os.path.abspath(path), st.st_size, st.st_mtime_ns


@lru_cache(maxsize=64)
def _facts(path: str, size: int, mtime_ns: int) -> OnnxFacts:
    proto = _facts_message()()
    try:
        with open(path, "rb") as fh:
            if size == 0:
                proto.ParseFromString(b"")
            else:  # parsed from the mapped file: no copy of the weights into a bytes object (0.1-0.2 s for 110 MB)
                with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped, memoryview(mapped) as view:
                    proto.ParseFromString(view)
    except Exception as exc:  # protobuf's DecodeError, or a file gone since it was stat'ed
        raise _unreadable(path, exc) from None
    counts: dict[int, int] = {}
    for init in proto.graph.initializer:
        counts[init.data_type] = counts.get(init.data_type, 0) + 1
    return OnnxFacts(_props_of(proto), counts)


@lru_cache(maxsize=1)
def _facts_message() -> type:
    """The ModelProto class of :data:`ONNX_FIELDS`: onnx.proto reduced to the fields that hold the facts."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    field = descriptor_pb2.FieldDescriptorProto
    scalars = {"string": field.TYPE_STRING, "int32": field.TYPE_INT32}
    package = "synthsight_onnx_facts"
    file = descriptor_pb2.FileDescriptorProto(name=f"{package}.proto", package=package, syntax="proto2")
    for name, fields in ONNX_FIELDS.items():
        message = file.message_type.add(name=name)
        for fname, (number, kind) in fields.items():
            repeated, kind = kind.endswith("[]"), kind.removesuffix("[]")
            entry = message.field.add(name=fname, number=number)
            entry.label = field.LABEL_REPEATED if repeated else field.LABEL_OPTIONAL
            if kind in scalars:
                entry.type = scalars[kind]
            else:
                entry.type, entry.type_name = field.TYPE_MESSAGE, f".{package}.{kind}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.ModelProto"))


@lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _props_of(proto: Any) -> dict[str, str]:
    return {p.key: p.value for p in proto.metadata_props}


def _has_fp16_weights(proto: Any) -> bool:
    return any(t.data_type == FLOAT16 for t in proto.graph.initializer)
