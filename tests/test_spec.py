"""ModelSpec: JSON / ONNX-metadata round trip, class aliases, refusals."""

from __future__ import annotations

import pytest

from synthsight.errors import ModelFileError
from synthsight.image.preprocess import PreprocessSpec
from synthsight.spec import ModelSpec, canonical_class


def test_json_and_onnx_metadata_round_trip():
    spec = ModelSpec(
        arch="convnext_atto",
        preprocess=PreprocessSpec(size=64, resize="crop", interpolation="bicubic"),
        threshold=0.7,
        threshold_source="target FPR 0.01",
        data={"train": {"n": 3}},
        metrics={"accuracy": 0.9},
    )
    assert ModelSpec.from_json(spec.to_json()) == spec
    assert ModelSpec.from_onnx_metadata(spec.to_onnx_metadata()) == spec
    assert spec.positive_index == 0 and spec.num_classes == 2


@pytest.mark.parametrize(
    ("name", "expected"),
    [("ai", "ai"), ("Fake", "ai"), ("generated", "ai"), ("SYNTHETIC", "ai"), ("nature", "real"),
     ("real", "real"), ("Authentic", "real"), (" real ", "real"), ("cats", None), ("", None)],
)  # fmt: skip
def test_class_aliases(name, expected):
    assert canonical_class(name) == expected


@pytest.mark.parametrize(
    "bad",
    [
        {"classes": ["ai"]},
        {"classes": ["ai", "ai"]},
        {"positive_class": "dog"},
        {"threshold": 1.5},
        {"arch": ""},
    ],
)
def test_invalid_specs_are_refused(bad):
    data = ModelSpec().to_dict()
    data.update(bad)
    with pytest.raises(ModelFileError):
        ModelSpec.from_dict(data)


def test_garbage_and_future_versions_are_refused():
    with pytest.raises(ModelFileError, match="not valid JSON"):
        ModelSpec.from_json("{nope")
    with pytest.raises(ModelFileError, match="newer"):
        ModelSpec.from_dict({**ModelSpec().to_dict(), "format_version": 99})
    with pytest.raises(ModelFileError, match="not exported by synthsight"):
        ModelSpec.from_onnx_metadata({})
    with pytest.raises(ModelFileError):
        ModelSpec.from_dict({**ModelSpec().to_dict(), "preprocess": {"size": 3}})


def test_unknown_keys_are_ignored_for_forward_compatibility():
    data = {**ModelSpec(arch="convnext_atto").to_dict(), "future_field": 1}
    assert ModelSpec.from_dict(data).arch == "convnext_atto"
