"""The precision a scan ran at is in every report's manifest, and --resume treats a precision change as a new model."""

from __future__ import annotations

import json

import pytest
from scanner_support import random_pngs

from synthsight.errors import UsageError
from synthsight.reports.manifest import manifest_path
from synthsight.scanner import scan

pytest.importorskip("openvino", reason="openvino is not installed")


@pytest.fixture
def images(tmp_path):
    return random_pngs(tmp_path / "images", 6, size=(90, 70), seed=3)


def _manifests(outs):
    by_format = {}
    for out in outs:
        if out.suffix == ".json":
            by_format["json"] = json.loads(out.read_text())["manifest"]
        else:
            by_format[out.suffix[1:]] = json.loads(manifest_path(out).read_text())
    return by_format


def test_chosen_precision_runtime_and_certificate_in_every_manifest(reduced_export, images, tmp_path):
    outs = [tmp_path / "v.csv", tmp_path / "v.jsonl", tmp_path / "v.json"]
    summary = scan([str(images)], str(reduced_export["onnx"]), outs, quiet=True, precision="auto")
    assert summary.counts["error"] == 0
    manifests = _manifests(outs)
    assert set(manifests) == {"csv", "jsonl", "json"}
    for fmt, m in manifests.items():
        choice = m["precision_choice"]
        assert choice["asked"] == "auto" and choice["chosen"] == f"{m['precision']}/{m['backend']}", fmt
        assert m["precision"] in ("fp32", "bf16", "int8") and choice["cpu"]["model"] and choice["options"]
        assert m["model"]["path"].endswith(choice["file"].split("/")[-1])  # the file that judged is the one named
        if choice["chosen"] == "fp32/onnxruntime":
            assert m["certificate"] is None  # the reference needs none
        else:
            assert m["certificate"]["precision"] == m["precision"] and m["certificate"]["measured"]


def test_resume_refuses_a_report_made_at_another_precision(reduced_export, images, tmp_path):
    out = tmp_path / "v.csv"
    scan([str(images)], str(reduced_export["onnx"]), [out], quiet=True, precision="fp32")
    manifest = json.loads(manifest_path(out).read_text())
    assert manifest["precision"] == "fp32" and manifest["backend"] == "onnxruntime"
    manifest["precision"] = "int8"  # as if an INT8 run of the same model had written the report
    manifest_path(out).write_text(json.dumps(manifest))
    with pytest.raises(UsageError, match="differs in precision.*--precision"):
        scan([str(images)], str(reduced_export["onnx"]), [out], quiet=True, precision="fp32", resume=True)
    manifest["precision"] = "fp32"
    manifest_path(out).write_text(json.dumps(manifest))
    summary = scan([str(images)], str(reduced_export["onnx"]), [out], quiet=True, precision="fp32", resume=True)
    assert summary.images == 0  # same precision: resumes (nothing left to do)
