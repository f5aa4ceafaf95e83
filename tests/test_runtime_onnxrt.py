"""ONNX Runtime backend: metadata checks against the graph, provider plan, session options."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from synthsight.errors import BackendUnavailable, ModelFileError, UsageError
from synthsight.runtime.onnxrt import (
    CPU_EP,
    CUDA_EP,
    TRT_EP,
    OnnxRuntimeBackend,
    check_graph,
    plan_providers,
    session_options,
)
from synthsight.spec import ONNX_METADATA_KEY


def _rewrite(src, dst, props: dict[str, str | None]):
    """A copy of ``src`` with metadata keys replaced (None deletes the key)."""
    import onnx

    proto = onnx.load(str(src))
    kept = {p.key: p.value for p in proto.metadata_props}
    kept.update(props)
    del proto.metadata_props[:]
    for key, value in kept.items():
        if value is not None:
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
    onnx.save(proto, str(dst))
    return dst


def _spec_with(tiny_onnx, **changes) -> str:
    import onnx

    props = {p.key: p.value for p in onnx.load(str(tiny_onnx["onnx"])).metadata_props}
    data = json.loads(props[ONNX_METADATA_KEY])
    for key, value in changes.items():
        if key == "size":
            data["preprocess"]["size"] = value
        else:
            data[key] = value
    return json.dumps(data)


def test_file_without_synthsight_metadata_is_refused(tiny_onnx, tmp_path):
    path = _rewrite(tiny_onnx["onnx"], tmp_path / "foreign.onnx", {ONNX_METADATA_KEY: None})
    with pytest.raises(ModelFileError, match="foreign.onnx: ONNX file has no 'synthsight.spec' metadata.*re-export"):
        OnnxRuntimeBackend(path, device="cpu")


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"size": 224}, r"input shape \['batch', 64, 64, 3\] does not match the metadata's \[N, 224, 224, 3\]"),
        ({"classes": ["ai", "real", "gan"]}, "does not match the metadata's 3 classes"),
    ],
)
def test_metadata_inconsistent_with_graph_is_refused(tiny_onnx, tmp_path, changes, words):
    path = _rewrite(tiny_onnx["onnx"], tmp_path / "bad.onnx", {ONNX_METADATA_KEY: _spec_with(tiny_onnx, **changes)})
    with pytest.raises(ModelFileError, match=words):
        OnnxRuntimeBackend(path, device="cpu")


def test_an_unmarked_fp16_file_is_fp16_to_every_reader(tiny_onnx, tmp_path):
    """One rule for a file's precision: without its synthsight.precision mark, float16 weights make it fp16 for the
    backend (and so the manifest's precision line), info, --ray's precision and the CPU choice alike."""
    from synthsight.artifacts import file_precision
    from synthsight.runtime import open_backend
    from synthsight.runtime.info import describe_model
    from synthsight.scanner.ray.source import cluster_precision
    from synthsight.spec import PRECISION_KEY

    path = _rewrite(tiny_onnx["fp16"], tmp_path / "unmarked.onnx", {PRECISION_KEY: None})
    assert file_precision(path) == "fp16" and file_precision(tiny_onnx["onnx"]) == "fp32"
    with OnnxRuntimeBackend(path, device="cpu") as backend:
        assert backend.precision == "fp16" and backend.describe()["precision"] == "fp16"
    with open_backend(path, device="cpu") as backend:  # --precision auto on a CPU: an FP16 file runs as exported
        assert backend.precision == "fp16"
    assert describe_model(path)["onnx"]["precision"] == "fp16"
    assert cluster_precision(str(path), "auto", gpu_actors=False) == "fp16"


def test_the_facts_read_without_onnx_are_what_onnx_reads(tiny_onnx, tmp_path):
    """The scan reads a file's metadata and weight types through protobuf with a few fields of onnx.proto: the
    same facts as onnx.load, for weights stored in the file or beside it (external data, left unread)."""
    import onnx

    from synthsight.artifacts import FLOAT16, onnx_facts

    assert FLOAT16 == onnx.TensorProto.FLOAT16
    proto = onnx.load(str(tiny_onnx["fp16"]))
    onnx.save(proto, str(tmp_path / "ext.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="ext.onnx.data", size_threshold=0)  # fmt: skip
    (tmp_path / "ext.onnx.data").unlink()  # the facts do not need the weights' bytes
    for path in (tiny_onnx["onnx"], tiny_onnx["fp16"], tmp_path / "ext.onnx"):
        proto = onnx.load(str(path), load_external_data=False)
        types: dict[int, int] = {}
        for init in proto.graph.initializer:
            types[init.data_type] = types.get(init.data_type, 0) + 1
        facts = onnx_facts(path)
        assert facts.props == {p.key: p.value for p in proto.metadata_props} and facts.initializer_dtypes == types
    assert onnx_facts(tmp_path / "ext.onnx").precision == "fp16" and FLOAT16 in types
    assert onnx_facts(tiny_onnx["onnx"]).precision == "fp32"
    (tmp_path / "cut.onnx").write_bytes(tiny_onnx["onnx"].read_bytes()[:5000])
    with pytest.raises(ModelFileError, match=r"cut.onnx: not a readable ONNX file \(DecodeError\)"):
        onnx_facts(tmp_path / "cut.onnx")


def test_garbage_file_is_a_model_file_error(tmp_path):
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"\x00not a protobuf" * 10)
    with pytest.raises(ModelFileError, match="junk.onnx: ONNX Runtime could not load it"):
        OnnxRuntimeBackend(path, device="cpu")


def _arg(name, type_, shape):
    return SimpleNamespace(name=name, type=type_, shape=shape)


@pytest.mark.parametrize(
    "inputs, outputs, words",
    [
        ([_arg("input", "tensor(uint8)", ["N", 64, 64, 3])], None, "expected one input 'pixels'"),
        ([_arg("pixels", "tensor(float)", ["N", 3, 64, 64])], None, "is tensor\\(float\\), expected uint8"),
        ([_arg("pixels", "tensor(uint8)", ["N", 3, 64, 64])], None, "does not match the metadata's"),
        (None, [_arg("probs", "tensor(float)", ["N", 2])], "no 'logits' output"),
        (None, [_arg("logits", "tensor(float16)", ["N", 2])], "expected float32"),
    ],
)
def test_check_graph(tiny_spec, inputs, outputs, words):
    inputs = inputs or [_arg("pixels", "tensor(uint8)", ["N", 64, 64, 3])]
    outputs = outputs or [_arg("logits", "tensor(float)", ["N", 2])]
    with pytest.raises(ModelFileError, match=words):
        check_graph(inputs, outputs, tiny_spec, "m.onnx")


def test_provider_plan_prefers_tensorrt_then_cuda_then_cpu(tmp_path):
    every = [TRT_EP, CUDA_EP, CPU_EP]
    plan = plan_providers("auto", every, size=224, max_batch=32, cache_dir=tmp_path)
    assert [name for name, _ in plan] == every
    trt = plan[0][1]
    assert trt["trt_engine_cache_enable"] and trt["trt_engine_cache_path"] == str(tmp_path)
    assert "trt_fp16_enable" not in trt  # an FP32 file: FP32 kernels (an FP16 file enables it)
    assert trt["trt_profile_max_shapes"] == "pixels:32x224x224x3"
    assert [n for n, _ in plan_providers("cuda:1", [CUDA_EP, CPU_EP], size=64)] == [CUDA_EP, CPU_EP]
    assert plan_providers("cuda:1", [CUDA_EP, CPU_EP], size=64)[0][1]["device_id"] == 1
    assert plan_providers("cpu", every, size=64) == [(CPU_EP, {})]
    assert plan_providers("auto", [CPU_EP], size=64) == [(CPU_EP, {})]


def test_provider_plan_errors():
    with pytest.raises(BackendUnavailable, match="no CUDA provider.*onnxruntime-gpu"):
        plan_providers("cuda", [CPU_EP], size=64)
    with pytest.raises(UsageError, match="expected auto, cpu, cuda or cuda:N"):
        plan_providers("gpu", [CPU_EP], size=64)


def test_session_options_threads_and_spinning():
    import onnxruntime as ort

    shared = session_options(ort, 3)
    assert (shared.intra_op_num_threads, shared.inter_op_num_threads) == (3, 1)
    assert shared.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert shared.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    alone = session_options(ort, None)
    assert alone.intra_op_num_threads >= 1
    with pytest.raises(RuntimeError):  # alone on the machine: ORT's default (spinning) stays
        alone.get_session_config_entry("session.intra_op.allow_spinning")


def test_dynamic_batch_and_fp16_file_close_to_fp32(tiny_onnx):
    rng = np.random.default_rng(0)
    with (
        OnnxRuntimeBackend(tiny_onnx["onnx"], device="cpu", threads=1) as fp32,
        OnnxRuntimeBackend(tiny_onnx["fp16"], device="cpu", threads=1) as fp16,
    ):
        for n in (1, 7, 33):
            x = rng.integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)
            a, b = fp32.infer(x), fp16.infer(x)
            assert a.shape == b.shape == (n, 2) and a.dtype == b.dtype == np.float32
            assert np.max(np.abs(fp32.scores(x) - fp16.scores(x))) < 0.02
        assert fp32.describe()["providers"] == [CPU_EP]
