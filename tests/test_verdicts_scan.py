"""A calibrated scan: calibrated score, raw score and three verdicts in every format, the manifest's words, a
forced --threshold, a calibration for other weights, --resume and merge across calibrations, --stability."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scanner_support import calibrated_copy, random_pngs

from synthsight.errors import ModelFileError, UsageError
from synthsight.reports.merge import merge
from synthsight.reports.record import COLUMNS
from synthsight.reports.writers import read_records
from synthsight.runtime.base import Backend
from synthsight.scanner import scan
from synthsight.train.synthetic import make_synthetic

RUN = {"workers": 0, "quiet": True, "backend": "onnxruntime", "precision": "fp32"}  # one runtime: equal scores


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    return random_pngs(tmp_path_factory.mktemp("imgs") / "images", 30, size=(64, 64), seed=3)


@pytest.fixture(scope="module")
def calibrated(tiny_onnx, images, tmp_path_factory) -> Path:
    """tiny_onnx with a calibration that splits these images' scores in thirds."""
    folder = tmp_path_factory.mktemp("cal")
    scan([str(images)], str(tiny_onnx["onnx"]), [folder / "raw.jsonl"], **RUN)
    scores = [r.score for r in read_records(folder / "raw.jsonl")[0]]
    return calibrated_copy(tiny_onnx["onnx"], folder / "model.onnx", scores)


def test_a_calibrated_scan_writes_three_verdicts_and_says_what_they_mean(calibrated, images, tmp_path):
    outs = [tmp_path / "s.csv", tmp_path / "s.jsonl", tmp_path / "s.json"]
    summary = scan([str(images)], str(calibrated), outs, **RUN)
    # at or below the 11th score real, from the 21st on ai
    assert (summary.counts["real"], summary.counts["uncertain"], summary.counts["ai"]) == (11, 9, 10)
    assert "9 uncertain" in summary.line
    with open(outs[0], encoding="utf-8", newline="") as fh:
        assert tuple(next(csv.reader(fh))) == COLUMNS
    for out in outs:
        records = read_records(out)[0]
        assert {r.verdict for r in records} == {"ai", "uncertain", "real"}
        assert all(r.raw_score is not None and abs(r.score - r.raw_score) < 1e-6 for r in records)  # T = 1
    manifest = json.loads(outs[2].read_text())["manifest"]
    meaning = manifest["verdicts"]["meaning"]
    assert meaning["ai"].startswith("at most 1 % of real photographs like the calibration set are called ai")
    assert "400 real images of /calib, 2026-12-02" in meaning["ai"] and "a person must look" in meaning["uncertain"]
    assert "exchangeable" in manifest["verdicts"]["assumes"] and manifest["calibration"]["temperature"] == 1.0
    assert manifest["threshold_forced"] is False


def test_a_forced_threshold_says_the_bound_no_longer_applies(calibrated, images, tmp_path):
    scan([str(images)], str(calibrated), [tmp_path / "f.json"], **RUN, threshold=0.5)
    doc = json.loads((tmp_path / "f.json").read_text())
    assert {r["verdict"] for r in doc["records"]} <= {"ai", "real"}
    assert doc["manifest"]["verdicts"]["guarantee"].startswith("none: --threshold 0.5 replaces the calibrated")
    assert doc["manifest"]["threshold_forced"] is True


def test_a_calibration_fitted_for_other_weights_is_refused(tiny_onnx, images, tmp_path):
    from synthsight.artifacts import onnx_spec
    from synthsight.export.onnx import embed_spec

    other = calibrated_copy(tiny_onnx["onnx"], tmp_path / "m.onnx", [0.1, 0.2, 0.3, 0.4], weights="cd" * 32)
    spec = onnx_spec(other)
    spec.weights_sha256 = "ef" * 32  # re-exported from other weights, calibration kept
    embed_spec(other, spec)
    with pytest.raises(ModelFileError, match="fitted for weights cdcdcdcdcdcd, not the weights efefefefefef"):
        scan([str(images)], str(other), [tmp_path / "x.jsonl"], **RUN)
    assert not (tmp_path / "x.jsonl").exists()


def test_resume_and_merge_refuse_another_calibration(calibrated, tiny_onnx, images, tmp_path):
    scores = [r.score for r in read_records(calibrated.with_name("raw.jsonl"))[0]]
    recalibrated = calibrated_copy(tiny_onnx["onnx"], tmp_path / "model.onnx", [s * 0.99 for s in scores])
    out = tmp_path / "r.csv"
    scan([str(images)], str(calibrated), [out], **RUN)
    with pytest.raises(UsageError, match="differs in .*calibration"):
        scan([str(images)], str(recalibrated), [out], **RUN, resume=True)
    shards = [tmp_path / "a.csv", tmp_path / "b.csv"]
    scan([str(images)], str(calibrated), [shards[0]], **RUN, shard="0/2")
    scan([str(images)], str(recalibrated), [shards[1]], **RUN, shard="1/2")
    with pytest.raises(UsageError, match="differs in .*calibration"):
        merge(tmp_path / "m.csv", shards)


def test_an_older_csv_report_is_read_but_not_appended_to(calibrated, images, tmp_path):
    old = tmp_path / "old.csv"
    scan([str(images)], str(calibrated), [old], **RUN)
    new = ("raw_score", "stratum", "stability", "score_min", "score_max", "unstable")
    legacy = [c for c in COLUMNS if c not in new]
    rows = list(csv.DictReader(old.read_text(encoding="utf-8").splitlines()))
    with open(old, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, legacy, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    assert len(read_records(old)[0]) == 30  # the review page and merge still read it
    with pytest.raises(UsageError, match="older synthsight .*raw_score"):
        scan([str(images)], str(calibrated), [old], **RUN, resume=True)


class NaNBackend(Backend):
    """A broken export: NaN logits for every other image."""

    name = "nan"

    def _infer(self, pixels: np.ndarray) -> np.ndarray:
        out = np.zeros((len(pixels), 2), np.float32)
        out[::2] = np.nan
        return out


def test_non_finite_logits_are_an_error_record_not_a_verdict(tiny_spec, images, tmp_path):
    summary = scan([str(images)], NaNBackend(tiny_spec), [tmp_path / "n.jsonl"], workers=0, quiet=True)
    records = read_records(tmp_path / "n.jsonl")[0]
    assert summary.counts["error"] == 15 and summary.counts["ai"] == 15  # 0 logits: 0.5, at the 0.5 threshold
    assert all(r.error.startswith("model-output:") and r.score is None for r in records if r.verdict == "error")


def test_stability_marks_the_ai_images_whose_trace_jpeg_50_erases(trained_bundle, tmp_path):
    data = make_synthetic(tmp_path / "set", n=40, size=64, seed=7) / "train"
    out = tmp_path / "st.jsonl"
    scan([str(data)], str(trained_bundle), [out], workers=0, quiet=True, stability=4)
    records = read_records(out)[0]
    ai = [r for r in records if "/ai/" in r.path]
    real = [r for r in records if "/nature/" in r.path]
    assert all(r.verdict == "ai" and r.unstable for r in ai)  # JPEG 50 and half size erase the period-2 trace
    assert sum(r.unstable for r in real) <= 1 and all(r.verdict == "real" for r in real)
    assert all(r.stability in (0.0, 0.25, 0.5, 0.75, 1.0) and r.score_min <= r.score <= r.score_max for r in records)
    manifest = json.loads(out.with_name("st.jsonl.manifest.json").read_text())
    assert [v["name"] for v in manifest["stability"]["views"]] == ["jpeg90", "jpeg75", "jpeg50", "half"]
    with pytest.raises(UsageError, match="--stability"):
        scan([str(data)], str(trained_bundle), [], workers=0, quiet=True, stability=6)


def test_resume_refuses_a_report_whose_views_were_made_otherwise(tiny_onnx, images, tmp_path):
    """Views of another working image (before 2026-12-03: twice the model input) are other views: a report holding
    them is not resumed with these, though the names are the same."""
    out = tmp_path / "r.jsonl"
    scan([str(images)], str(tiny_onnx["onnx"]), [out], **RUN, stability=2)
    manifest = out.with_name("r.jsonl.manifest.json")
    doc = json.loads(manifest.read_text())
    doc["stability"]["made_from"] = "the one decode of each file, reduced to at most 2x the model input"
    manifest.write_text(json.dumps(doc))
    with pytest.raises(UsageError, match="differs in --stability views"):
        scan([str(images)], str(tiny_onnx["onnx"]), [out], **RUN, stability=2, resume=True)


def test_stability_views_are_batched_with_their_image(tiny_onnx, images, tmp_path, monkeypatch):
    """K views cost K more model inputs per image, in the same inference calls as their image (no extra calls);
    --batch-size counts model inputs, as for a tiles model: 3 images with their 2 views each fill 9 of 10."""
    from synthsight.runtime.onnxrt import OnnxRuntimeBackend

    calls: list[int] = []
    real_infer = OnnxRuntimeBackend.infer
    monkeypatch.setattr(OnnxRuntimeBackend, "infer", lambda self, px: calls.append(len(px)) or real_infer(self, px))
    scan([str(images)], str(tiny_onnx["onnx"]), [], **RUN, batch_size=10, stability=2)
    assert calls == [9] * 10
    shutil.rmtree(tmp_path, ignore_errors=True)
