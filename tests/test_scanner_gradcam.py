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
from synthsight.explain import GradCam, overlay_name, resolve_bundle
from synthsight.reports.writers import read_records
from synthsight.scanner import scan


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


@pytest.mark.parametrize(
    "arch, layer",
    [("resnet18", "layer4"), ("convnextv2_atto", "stages.3"), ("efficientnet_b0", "bn2"),
     ("vit_tiny_patch16_224", "blocks.11.norm1")],
)  # fmt: skip
def test_each_family_has_a_default_layer_whose_map_is_spatial(arch, layer):
    import timm
    import torch
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from synthsight.explain import default_layer

    extra = {"img_size": 64} if arch.startswith("vit") else {}
    net = timm.create_model(arch, pretrained=False, num_classes=2, **extra).eval()
    name, reshape = default_layer(net, 64)
    assert name == layer
    cam = GradCAM(model=net, target_layers=[dict(net.named_modules())[name]], reshape_transform=reshape)
    heat = cam(input_tensor=torch.randn(1, 3, 64, 64), targets=[ClassifierOutputTarget(0)])[0]
    assert heat.shape == (64, 64) and np.isfinite(heat).all()


def test_other_architectures_get_their_last_spatial_convolution():
    """MobileNetV3 runs its head conv after global pooling: the default must be the last conv still spatial."""
    import timm

    from synthsight.explain import default_layer

    net = timm.create_model("mobilenetv3_small_050", pretrained=False, num_classes=2).eval()
    name, reshape = default_layer(net, 64)
    assert name != "conv_head" and name.startswith("blocks.") and reshape is None


def test_explain_on_a_resnet_bundle_names_its_layer(tmp_path: Path):
    import torch

    from synthsight.explain import explain
    from synthsight.image.preprocess import PreprocessSpec
    from synthsight.model import build, save_bundle
    from synthsight.spec import ModelSpec

    spec = ModelSpec(arch="resnet18", preprocess=PreprocessSpec(size=64))
    torch.manual_seed(0)
    bundle = save_bundle(build(spec, "random").eval(), spec, tmp_path / "resnet")
    image = tmp_path / "x.png"
    image.write_bytes(image_bytes("PNG", 80, 70, 3))
    result = explain(image, bundle, tmp_path / "overlay.png", device="cpu")
    assert result["layer"] == "layer4" and Image.open(result["overlay"]).size == (256, 256)
