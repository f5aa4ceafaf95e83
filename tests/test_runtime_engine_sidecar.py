"""The TensorRT engine sidecar contract: written by export, checked by the runtime (no TensorRT needed)."""

from __future__ import annotations

import json

import pytest

from synthsight.errors import ModelFileError
from synthsight.runtime.engine_sidecar import (
    check_sidecar,
    library_version,
    make_sidecar,
    profile_bounds,
    read_sidecar,
    sidecar_path,
)

HERE = dict(tensorrt_version="10.12.0.36", gpu_name="NVIDIA H100 80GB HBM3", compute_capability="9.0")


@pytest.fixture
def sidecar(tiny_spec):
    profile = {"input": "pixels", "min": 1, "opt": 32, "max": 64}
    return make_sidecar(tiny_spec, **{**HERE, "compute_capability": (9, 0)}, profile=profile, extra={"parity": 1})


def test_round_trip_through_json_file(tmp_path, sidecar, tiny_spec):
    engine = tmp_path / "model.engine"
    sidecar_path(engine).write_text(json.dumps(sidecar), encoding="utf-8")
    data = read_sidecar(engine)
    assert data["compute_capability"] == "9.0" and data["parity"] == 1
    spec = check_sidecar(data, **HERE)
    assert spec.to_dict() == tiny_spec.to_dict()
    assert profile_bounds(data) == (1, 64)


def test_only_the_build_number_may_differ(sidecar):
    # TensorRT ties a plan to major.minor.patch (NV_TENSORRT_VERSION); the fourth part is a build number.
    assert check_sidecar(sidecar, **{**HERE, "tensorrt_version": "10.12.0.40"}).arch == "convnext_atto"
    assert check_sidecar(sidecar, **{**HERE, "tensorrt_version": "10.12.0"}).arch == "convnext_atto"
    assert library_version("11.4.0.106") == (11, 4, 0) and library_version("10.12") == (10, 12, 0)
    assert library_version("garbage") == ()


def test_extra_cannot_overwrite_contract_keys(tiny_spec):
    sc = make_sidecar(tiny_spec, **HERE, profile={}, extra={"gpu_name": "forged"})
    assert sc["gpu_name"] == HERE["gpu_name"]


@pytest.mark.parametrize(
    "change, words",
    [
        ({"tensorrt_version": "11.0.0"}, "TensorRT 10.12.0.36"),
        ({"tensorrt_version": "10.13.2"}, "TensorRT 10.13.2"),
        ({"tensorrt_version": "10.12.1"}, "TensorRT 10.12.1"),  # a patch release refuses the plan
        ({"tensorrt_version": "bogus"}, "TensorRT bogus"),
        ({"compute_capability": "8.9", "gpu_name": "NVIDIA L4"}, "compute capability 9.0"),
        ({"gpu_name": "NVIDIA H100 PCIe"}, "built on NVIDIA H100 80GB HBM3"),
    ],
)
def test_mismatch_says_to_reexport(sidecar, change, words):
    with pytest.raises(ModelFileError) as info:
        check_sidecar(sidecar, **{**HERE, **change})
    message = str(info.value)
    assert words in message and "re-export" in message and "\n" not in message


def test_missing_spec_or_foreign_json_is_refused(sidecar):
    with pytest.raises(ModelFileError, match="no model spec.*re-export"):
        check_sidecar({k: v for k, v in sidecar.items() if k != "spec"}, **HERE)
    with pytest.raises(ModelFileError, match="not a synthsight engine sidecar"):
        check_sidecar({**sidecar, "format": "ultralytics"}, **HERE)
    with pytest.raises(ModelFileError, match="classes"):
        check_sidecar({**sidecar, "spec": {**sidecar["spec"], "classes": ["ai"]}}, **HERE)


def test_read_sidecar_errors(tmp_path):
    engine = tmp_path / "m.engine"
    with pytest.raises(ModelFileError, match="m.engine.json not found.*re-export"):
        read_sidecar(engine)
    sidecar_path(engine).write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelFileError, match="unreadable engine sidecar"):
        read_sidecar(engine)


def test_profile_bounds_rejects_nonsense(sidecar):
    with pytest.raises(ModelFileError, match="profile"):
        profile_bounds({**sidecar, "profile": {"min": 8, "max": 2}})
    assert profile_bounds({"profile": {}}) == (1, 1)
