"""The synthetic set: balanced, same formats and sizes in both classes, a fingerprint that survives preprocessing."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthsight.image.preprocess import PreprocessSpec, load_image
from synthsight.train.synthetic import FINGERPRINT, make_synthetic


@pytest.fixture(scope="module")
def synth_set(tmp_path_factory) -> Path:
    return make_synthetic(tmp_path_factory.mktemp("synth") / "set", n=80, size=64, seed=5)


def _files(root: Path, split: str, label: str) -> list[Path]:
    return sorted((root / split / label).iterdir())


def _trace(pixels: np.ndarray) -> float:
    """Correlation of the grey image with the period-2 fingerprint, relative to brightness."""
    grey = pixels.astype(np.float64).mean(axis=2)
    tile = np.tile(FINGERPRINT, (grey.shape[0] // 2, grey.shape[1] // 2))
    return float(((grey - grey.mean()) * tile).mean() / grey.mean())


def test_balanced_and_same_formats_and_sizes_in_both_classes(synth_set):
    for split, n in (("train", 32), ("val", 8)):
        formats = {}
        for label in ("ai", "nature"):
            files = _files(synth_set, split, label)
            assert len(files) == n
            formats[label] = Counter(f.suffix for f in files)
            sizes = {Image.open(f).size for f in files}
            assert sizes == {(64, 64)}
        assert formats["ai"] == formats["nature"] and set(formats["ai"]) == {".jpg", ".png"}


def test_same_seed_same_bytes_other_seed_other_images(tmp_path):
    def digest(root: Path) -> str:
        h = hashlib.sha256()
        for f in sorted(root.rglob("*.*g")):
            h.update(f.read_bytes())
        return h.hexdigest()

    a = make_synthetic(tmp_path / "a", n=8, size=32, seed=1)
    b = make_synthetic(tmp_path / "b", n=8, size=32, seed=1)
    c = make_synthetic(tmp_path / "c", n=8, size=32, seed=2)
    assert digest(a) == digest(b) != digest(c)


def test_fingerprint_survives_the_models_preprocessing_and_jpeg(synth_set):
    spec = PreprocessSpec(size=64)
    traces = {
        (label, ext): [_trace(load_image(f, spec)) for f in _files(synth_set, "train", label) if f.suffix == ext]
        for label in ("ai", "nature")
        for ext in (".jpg", ".png")
    }
    for ext in (".jpg", ".png"):
        assert min(traces[("ai", ext)]) > 5 * max(abs(t) for t in traces[("nature", ext)]), ext


def test_content_alone_does_not_tell_the_classes_apart(synth_set):
    """Brightness, contrast and colour statistics are shared; only the period-2 trace differs."""
    spec = PreprocessSpec(size=64)
    stats = {}
    for label in ("ai", "nature"):
        px = np.stack([load_image(f, spec) for f in _files(synth_set, "train", label)]).astype(np.float64)
        stats[label] = (px.mean(axis=(1, 2, 3)), px.std(axis=(1, 2, 3)))
    for k in range(2):
        a, b = stats["ai"][k], stats["nature"][k]
        pooled = np.sqrt((a.var() + b.var()) / 2)
        assert abs(a.mean() - b.mean()) < 0.5 * pooled


@pytest.mark.parametrize("bad", [dict(n=2), dict(size=15)])
def test_bad_arguments(tmp_path, bad):
    with pytest.raises(ValueError):
        make_synthetic(tmp_path, **{"n": 8, "size": 32, **bad})
