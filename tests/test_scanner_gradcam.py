"""Grad-CAM: overlays from the bundle's PyTorch model, safe unique names, a clear error without a bundle."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scanner_support import MeanBackend, image_bytes

from synthsight.errors import ModelFileError, UsageError
from synthsight.scanner import scan
from synthsight.scanner.gradcam import GradCam, overlay_name, resolve_bundle
from synthsight.scanner.report import read_records


def test_overlay_names_are_unique_and_cannot_leave_the_folder():
    odd = os.fsdecode(b"/a/\xff.png")
    paths = ["/a/x.png", "/b/x.png", "/a/../../etc/passwd", "/a/new\nline.png", odd, "/a/.hidden"]
    names = [overlay_name(p) for p in paths]
    assert len(set(names)) == len(names)
    for name in names:
        assert "/" not in name and "\n" not in name and not name.startswith(".") and name.endswith(".png")
        name.encode("ascii")


def test_resolve_bundle_beside_export_or_clear_error(tiny_bundle: Path, tmp_path: Path):
    assert resolve_bundle(tiny_bundle) == tiny_bundle
    (tiny_bundle / "model.onnx").write_bytes(b"placeholder")  # only its location matters here
    try:
        assert resolve_bundle(tiny_bundle / "model.onnx") == tiny_bundle
    finally:
        (tiny_bundle / "model.onnx").unlink()
    lonely = tmp_path / "model.onnx"
    lonely.write_bytes(b"x")
    with pytest.raises(ModelFileError, match="needs the PyTorch bundle"):
        resolve_bundle(lonely)


def test_heatmap_and_overlay_from_the_bundle(tiny_bundle: Path, tmp_path: Path):
    cam = GradCam(tiny_bundle, None, tmp_path / "cams")
    assert cam.layer == "stages.3"
    pixels = np.asarray(Image.open(io.BytesIO(image_bytes("PNG", 64, 64, 5))))
    heat = cam.heatmap(pixels, "ai")
    assert heat.shape == (64, 64) and heat.min() >= 0.0 and heat.max() <= 1.0
    out = cam.save(pixels, "/evidence/x.png", "ai")
    assert out.parent == (tmp_path / "cams").resolve() and Image.open(out).size == (256, 256)
    with pytest.raises(UsageError, match="not a layer"):
        GradCam(tiny_bundle, "no.such.layer", None)


def test_scan_writes_overlays_for_the_chosen_images(tiny_bundle: Path, tmp_path: Path):
    from synthsight.model import read_spec

    for folder in ("a", "b"):  # equal base names in two folders
        (tmp_path / "in" / folder).mkdir(parents=True)
        for i in range(3):
            (tmp_path / "in" / folder / f"img{i}.png").write_bytes(image_bytes("PNG", 30, 30, i))
    backend = MeanBackend(read_spec(tiny_bundle), source=str(tiny_bundle))
    cams = tmp_path / "cams"
    out = tmp_path / "r.jsonl"
    scan([str(tmp_path / "in")], backend, [out], workers=0, gradcam_dir=str(cams), gradcam_for="all", quiet=True)
    records, _ = read_records(out)
    assert len(records) == 6 and len(list(cams.iterdir())) == 6
    assert all(r.gradcam.startswith(str(cams.resolve())) for r in records)
    shutil.rmtree(cams)
    scan([str(tmp_path / "in")], backend, [out], workers=0, gradcam_dir=str(cams), overwrite=True, quiet=True)
    ai = [r for r in read_records(out)[0] if r.verdict == "ai"]
    assert len(list(cams.iterdir())) == len(ai)
