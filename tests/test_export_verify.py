"""Parity comparator: figures, verdict agreement at the threshold, check sets (synthetic and decoded folders)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from synthsight.errors import UsageError
from synthsight.export.verify import check_set, compare_scores, decode_folder, synthetic_pixels
from synthsight.image.preprocess import PreprocessSpec

SPEC = PreprocessSpec(size=64)


def test_figures_and_agreement_at_threshold():
    ref = np.array([0.10, 0.49, 0.51, 0.90])
    cand = np.array([0.10, 0.51, 0.51, 0.80])  # the second image crosses 0.5
    parity = compare_scores(ref, cand, 0.5, names=("torch", "onnx"), images="4 test")
    assert parity.n == 4 and parity.disagreements == 1 and parity.agreement == pytest.approx(0.75)
    assert parity.max_abs == pytest.approx(0.10) and parity.mean_abs == pytest.approx(0.03)
    assert "onnx vs torch on 4 images" in parity.report() and "75.00% (3/4)" in parity.report()
    assert compare_scores(ref, cand, 0.95).agreement == 1.0  # another threshold, no crossing


def test_mismatched_scores_refused():
    with pytest.raises(UsageError):
        compare_scores(np.zeros(3), np.zeros(4), 0.5)


def test_synthetic_check_set_is_varied_and_deterministic():
    a, b = synthetic_pixels(SPEC, 8), synthetic_pixels(SPEC, 8)
    assert a.shape == (8, 64, 64, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert len({img.tobytes() for img in a}) == 8
    assert a.std(axis=(1, 2, 3)).min() > 1  # no blank images
    assert check_set(SPEC, None, n=5).description == "5 synthetic"


def test_folder_check_set_decodes_and_counts_bad_files(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "sub").mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (50 + i, 80, 3), dtype=np.uint8)).save(tmp_path / "sub" / f"{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    check = decode_folder(tmp_path, SPEC)
    assert check.pixels.shape == (3, 64, 64, 3) and check.skipped == 1
    assert "1 files skipped" in check.description
    assert decode_folder(tmp_path, SPEC, limit=2).pixels.shape[0] == 2


def test_folder_without_images_is_a_usage_error(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(UsageError, match="no decodable images"):
        decode_folder(tmp_path, SPEC)
