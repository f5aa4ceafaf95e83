"""TensorRT export: clear errors without TensorRT or a GPU; a real build where both exist (make gpu-check)."""

from __future__ import annotations

import json

import pytest

from synthsight.errors import BackendUnavailable, UsageError
from synthsight.export.tensorrt import EngineConfig, build_engine, require_builder


def _trt_missing() -> str | None:
    try:
        require_builder()
    except BackendUnavailable as exc:
        return str(exc)
    return None


MISSING = _trt_missing()


def test_profile_options_validated():
    with pytest.raises(UsageError, match="--max-batch"):
        EngineConfig(batch=64, max_batch=32)
    with pytest.raises(UsageError, match="--workspace"):
        EngineConfig(workspace_gb=0)


@pytest.mark.skipif(MISSING is None, reason="TensorRT and a GPU are present")
def test_missing_tensorrt_or_gpu_is_named(tiny_onnx, tiny_spec, tmp_path):
    with pytest.raises(BackendUnavailable) as info:
        build_engine(tiny_onnx["fp16"], tmp_path / "model.engine", tiny_spec, EngineConfig(batch=2, max_batch=8))
    message = str(info.value)
    assert "\n" not in message and ("tensorrt" in message.lower() or "GPU" in message)
    assert not (tmp_path / "model.engine").exists()


@pytest.mark.gpu("engine")
@pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
def test_engine_build_sidecar_and_timing_cache(tiny_onnx, tiny_spec, tmp_path):
    import tensorrt as trt

    cache = tmp_path / "timing.cache"
    config = EngineConfig(batch=4, max_batch=16, workspace_gb=1, timing_cache=cache)
    engine_file = build_engine(tiny_onnx["fp16"], tmp_path / "model.engine", tiny_spec, config)
    plan = engine_file.read_bytes()
    assert not plan.startswith(b"{")  # a pure plan, no JSON header
    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    loaded = runtime.deserialize_cuda_engine(plan)
    assert loaded is not None and loaded.get_tensor_profile_shape("pixels", 0)[2][0] == 16
    sidecar = json.loads((tmp_path / "model.engine.json").read_text())
    assert trt.__version__ in json.dumps(sidecar)
    assert cache.stat().st_size > 0
    build_engine(tiny_onnx["fp16"], tmp_path / "again.engine", tiny_spec, config)  # reuses the cache


# ---- the build logic on a CPU, against a stand-in for the tensorrt module (tests/trt_fakes.py) ----------


@pytest.fixture
def fake_trt(monkeypatch):
    """install(**Behaviour fields) -> Behaviour: build_engine then runs against the fake TensorRT."""
    from trt_fakes import Behaviour, FakeTensorRT

    import synthsight.export.tensorrt as export_trt

    def install(**fields):
        behaviour = Behaviour(**fields)
        trt = FakeTensorRT(behaviour)
        monkeypatch.setattr(export_trt, "require_builder", lambda: trt)
        monkeypatch.setattr(export_trt, "_gpu_identity", lambda: ("NVIDIA H200", (9, 0)))
        return behaviour

    return install


@pytest.fixture
def writes(monkeypatch):
    """The files build_engine writes, in order."""
    import synthsight.export.tensorrt as export_trt

    order, real = [], export_trt._atomic_write

    def recording(path, data):
        order.append(path.name)
        real(path, data)

    monkeypatch.setattr(export_trt, "_atomic_write", recording)
    return order


def test_build_writes_the_plan_then_its_sidecar_then_the_timing_cache(fake_trt, writes, tiny_onnx, tiny_spec, tmp_path):
    behaviour = fake_trt()
    config = EngineConfig(batch=4, max_batch=16, workspace_gb=1, timing_cache=tmp_path / "timing.cache")
    notes = []
    engine_file = build_engine(tiny_onnx["fp16"], tmp_path / "model.engine", tiny_spec, config, echo=notes.append)
    assert writes == ["model.engine", "model.engine.json", "timing.cache"] and notes == []
    assert engine_file.read_bytes() == b"PLAN-BYTES"  # the plan as TensorRT made it, no header
    sidecar = json.loads((tmp_path / "model.engine.json").read_text())
    assert sidecar["precision"] == "fp16" and sidecar["tensorrt_version"] == "11.4.0.106"
    assert sidecar["profile"] == {"input": "pixels", "min": 1, "opt": 4, "max": 16}
    assert (sidecar["gpu_name"], sidecar["compute_capability"]) == ("NVIDIA H200", "9.0")
    assert ("set_shape", "pixels", (1, 64, 64, 3), (4, 64, 64, 3), (16, 64, 64, 3)) in behaviour.calls
    assert ("create_network", 0) in behaviour.calls  # 11.x: strongly typed always, the flag is not passed
    assert (tmp_path / "timing.cache").read_bytes() == b"TIMING-CACHE:"


def test_sidecar_precision_is_the_graphs(fake_trt, tiny_onnx, tiny_spec, tmp_path):
    fake_trt()
    build_engine(tiny_onnx["onnx"], tmp_path / "fp32.engine", tiny_spec, EngineConfig(batch=2, max_batch=8))
    assert json.loads((tmp_path / "fp32.engine.json").read_text())["precision"] == "fp32"


def test_tensorrt_10_asks_for_a_strongly_typed_network(fake_trt, tiny_onnx, tiny_spec, tmp_path):
    behaviour = fake_trt(version="10.12.0.36")
    build_engine(tiny_onnx["fp16"], tmp_path / "m.engine", tiny_spec, EngineConfig(batch=2, max_batch=8))
    assert ("create_network", 1) in behaviour.calls  # 1 << NetworkDefinitionCreationFlag.STRONGLY_TYPED


@pytest.mark.parametrize(
    "content, accept, words",
    [
        (b"made-on-an-A100", False, "was made for another GPU or TensorRT version and is not used"),
        (b"garbage!", True, "is unreadable (RuntimeError)"),
    ],
)
def test_an_unusable_timing_cache_is_named_and_replaced(
    fake_trt, tiny_onnx, tiny_spec, tmp_path, content, accept, words
):
    behaviour = fake_trt(accept_cache=accept)
    cache = tmp_path / "timing.cache"
    cache.write_bytes(content)
    notes = []
    config = EngineConfig(batch=2, max_batch=8, timing_cache=cache)
    build_engine(tiny_onnx["fp16"], tmp_path / "m.engine", tiny_spec, config, echo=notes.append)
    assert len(notes) == 1 and words in notes[0] and str(cache) in notes[0], notes
    assert (tmp_path / "m.engine").read_bytes() == b"PLAN-BYTES"
    assert cache.read_bytes() == b"TIMING-CACHE:"  # replaced by the fresh cache of this build
    assert [c[1:] for c in behaviour.calls if c[0] == "set_timing_cache"][-1] == (b"", False, True)


def test_a_cache_that_cannot_be_written_does_not_cost_the_engine(fake_trt, tiny_onnx, tiny_spec, tmp_path):
    fake_trt()
    (tmp_path / "not-a-dir").write_text("x")
    notes = []
    config = EngineConfig(batch=2, max_batch=8, timing_cache=tmp_path / "not-a-dir" / "timing.cache")
    build_engine(tiny_onnx["fp16"], tmp_path / "m.engine", tiny_spec, config, echo=notes.append)
    assert (tmp_path / "m.engine").is_file() and (tmp_path / "m.engine.json").is_file()
    assert len(notes) == 1 and "could not write the timing cache" in notes[0], notes


def test_failed_build_says_why_in_one_line_and_writes_nothing(fake_trt, tiny_onnx, tiny_spec, tmp_path, capsys):
    from synthsight.errors import SynthsightError

    fake_trt(plan=None)
    with pytest.raises(SynthsightError) as info:
        build_engine(tiny_onnx["fp16"], tmp_path / "m.engine", tiny_spec, EngineConfig(batch=2, max_batch=8))
    assert "out of device memory" in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "m.engine").exists() and not (tmp_path / "m.engine.json").exists()
    assert "[TensorRT] [builder] out of device memory" in capsys.readouterr().out


def test_parser_refusal_names_the_node(fake_trt, tiny_onnx, tiny_spec, tmp_path):
    from synthsight.errors import ModelFileError

    fake_trt(parse_ok=False)
    with pytest.raises(ModelFileError, match=r"cannot parse .*UINT8 .* at node /Transpose \(Transpose\)"):
        build_engine(tiny_onnx["fp16"], tmp_path / "m.engine", tiny_spec, EngineConfig(batch=2, max_batch=8))


def test_network_input_of_another_shape_is_refused(fake_trt, tiny_onnx, tiny_spec, tmp_path):
    from synthsight.errors import ModelFileError

    fake_trt(input_shape=(-1, 3, 64, 64))
    with pytest.raises(ModelFileError, match=r"is not \[-1, 64, 64, 3\]"):
        build_engine(tiny_onnx["fp16"], tmp_path / "m.engine", tiny_spec, EngineConfig(batch=2, max_batch=8))


def test_parity_update_keeps_the_sidecars_precision_and_gpu(fake_trt, tiny_onnx, tiny_spec, tmp_path):
    from synthsight.export.tensorrt import update_sidecar_spec
    from synthsight.runtime.engine_sidecar import read_sidecar

    fake_trt()
    config = EngineConfig(batch=2, max_batch=8)
    engine_file = build_engine(tiny_onnx["onnx"], tmp_path / "m.engine", tiny_spec, config)
    with_parity = type(tiny_spec).from_dict({**tiny_spec.to_dict(), "metrics": {"parity": {"n": 32}}})
    update_sidecar_spec(engine_file, with_parity)
    sidecar = read_sidecar(engine_file)
    assert sidecar["spec"]["metrics"] == {"parity": {"n": 32}}
    assert (sidecar["precision"], sidecar["gpu_name"]) == ("fp32", "NVIDIA H200")
