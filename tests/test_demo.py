"""`make demo` in miniature: synthetic data, CPU training, ONNX + FP16 export, scan with reports and Grad-CAM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from synthsight import demo
from synthsight.reports.writers import read_records
from synthsight.review.browser import find_chromium


def test_reduced_demo_writes_every_output_and_says_what_the_model_is(tmp_path: Path, capsys):
    out = tmp_path / "demo-output"
    result = demo.run(out=out, n=48, epochs=1, workers=1, calibration_n=140)
    printed = capsys.readouterr().out
    assert "NOT a detector of real-world AI-generated images" in printed
    assert str(out / "verdicts.csv") in printed and str(out / "gradcam") in printed
    records = read_records(out / "verdicts.csv")[0]
    errors = {Path(r.path).name: r.error for r in records if r.verdict == "error"}
    assert set(errors) == {"truncated.jpg", "empty.png", "notes-named-as.jpg"}
    assert all(errors.values())
    counts = result["counts"]
    assert result["labelled"] + counts["uncertain"] == len(records) - 3 == result["records"] - 3
    assert counts["ai"] + counts["real"] == result["labelled"] and counts["error"] == 3
    declared = {Path(r.path).name: r.provenance for r in records if r.provenance != "none"}
    assert declared == {"with-generator-parameters.png": "ai-declared", "with-camera-exif.png": "camera-declared"}
    manifest = json.loads((out / "verdicts.json").read_text())["manifest"]
    assert manifest["status"] == "complete" and manifest["gradcam"]["layer"] == "stages.3"
    # Calibrated on its own overlapping set: the manifest and the printout say what each verdict promises.
    assert manifest["calibration"]["target_fpr"] == demo.TARGETS["target_fpr"] and not manifest["threshold_forced"]
    assert manifest["verdicts"]["calibrated"] and "at most 5 % of real photographs" in printed
    assert (out / "model" / "calibration" / "reliability.png").exists()
    assert all(r.raw_score is not None for r in records if r.judged)
    assert (out / "model" / "model.onnx").exists() and (out / "model" / "model.fp16.onnx").exists()
    ai = [r for r in records if r.verdict == "ai"]
    assert len(list((out / "gradcam").glob("*.png"))) == len(ai)
    assert result["review"] == (out / "review.html").resolve() and (out / "review_files" / "data" / "index.js").exists()
    assert len(list((out / "review_files" / "thumbs").glob("*.jpg"))) == len(records) - 3
    if find_chromium() is None:
        assert result["screenshot"] is None and "no screenshot of the page: chromium is not installed" in printed
    else:
        with Image.open(result["screenshot"]) as shot:
            assert shot.format == "PNG" and shot.size == (1400, 1400)


def test_demo_never_deletes_a_folder_it_did_not_make(tmp_path: Path):
    foreign = tmp_path / "demo-output"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(SystemExit, match="not made by the demo"):
        demo.prepare(foreign)
    assert (foreign / "thesis.tex").exists()


def test_demo_goes_on_without_chromium(tmp_path, monkeypatch, capsys):
    from review_support import make_corpus

    monkeypatch.setenv("SYNTHSIGHT_CHROMIUM", str(tmp_path / "no-such-browser"))
    corpus = make_corpus(tmp_path, n=6)
    page, shot = demo.review_page(tmp_path, corpus.report, workers=0)
    assert page.is_file() and shot is None
    assert "no screenshot of the page: chromium is not installed" in capsys.readouterr().out
