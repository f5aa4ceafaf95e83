"""Grad-CAM overlays (pytorch-grad-cam) computed with the PyTorch model of the bundle, whatever backend scanned.

Default target layer (:func:`default_layer`): the last feature map that is still spatial, so it carries
the most class-specific evidence; for ConvNeXt ``stages.<last>``, the output of the last stage (before
global pooling and the head's LayerNorm, which work on pooled vectors). Its resolution is 1/32 of the
input (7x7 at 224 px): coarse by nature. Pass ``--gradcam-layer stages.2`` for a finer (1/16) but less
class-specific map. The layer used is named in the output and the run manifest.

The map explains the class of the verdict (``ai`` for images called AI-generated, ``real`` else). For a
model with ``resize: tiles`` it explains the tile ranked first (the one pointing most towards AI) and the
overlay has two panels: the whole picture with that tile's box (a preview decoded again from the file, at
most :data:`CONTEXT_SIDE` px), and the tile itself with its map, at native pixels enlarged.
Overlay files are named ``<sanitised stem>-<12 hex of sha1(path bytes)>.png``: unique for equal
base names in different folders, and never outside the output folder.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from synthsight.artifacts import SUFFIXES, is_bundle
from synthsight.errors import ModelFileError, UsageError

OVERLAY_MIN_SIDE = 256
CONTEXT_SIDE = 512  # px, long side of the whole-picture panel of a tile's overlay
BOX_COLOUR = (255, 32, 32)


def resolve_bundle(source: str | Path) -> Path:
    """The PyTorch bundle for a model path: the bundle itself, or the one beside an exported file."""
    source = Path(source)
    if is_bundle(source):
        return source
    beside = source.parent
    if SUFFIXES.get(source.suffix.lower()) in ("onnx", "engine") and is_bundle(beside):
        return beside
    raise ModelFileError(
        f"Grad-CAM needs the PyTorch bundle (model.json + model.safetensors) but none is beside {source}: "
        "keep the bundle in the folder of the exported file, or pass the bundle folder as --model"
    )


def overlay_name(path: str) -> str:
    """``<sanitised stem>-<hash>.png``: no separator, no leading dot, so it cannot leave its folder."""
    raw = os.fsencode(path)
    stem = os.path.splitext(os.path.basename(raw.decode("utf-8", "replace")))[0]
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")[:60] or "image"
    return f"{stem}-{hashlib.sha1(raw).hexdigest()[:12]}.png"


class GradCam:
    def __init__(self, bundle: Path, layer: str | None, out_dir: str | Path | None, device: str = "cpu"):
        from pytorch_grad_cam import GradCAM

        from synthsight.model import load_bundle

        self.bundle = Path(bundle)
        self.model, self.spec = load_bundle(self.bundle, device)
        self.device = device
        self.layer, reshape = (layer, None) if layer else default_layer(self.model.net, self.spec.preprocess.size)
        modules = dict(self.model.net.named_modules())
        if self.layer not in modules:
            some = ", ".join(n for n in modules if n.count(".") <= 1 and n)[:300]
            raise UsageError(f"--gradcam-layer {self.layer!r} is not a layer of {self.spec.arch} (e.g. {some})")
        self.cam = GradCAM(model=self.model.net, target_layers=[modules[self.layer]], reshape_transform=reshape)
        self.out_dir = Path(out_dir).resolve() if out_dir else None
        if self.out_dir is not None:
            try:
                self.out_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UsageError(f"--gradcam {out_dir}: cannot create folder ({exc.strerror})") from None
            if not os.access(self.out_dir, os.W_OK):
                raise UsageError(f"--gradcam {out_dir}: not writable")

    @classmethod
    def for_model(cls, source: str | Path, layer: str | None, out_dir: str | Path | None) -> GradCam:
        return cls(resolve_bundle(source), layer, out_dir)

    def heatmap(self, pixels: np.ndarray, target: str) -> np.ndarray:
        """Grad-CAM map in [0, 1], shape [S, S], for uint8 pixels [S, S, 3] and class ``target``."""
        import torch
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        index = self.spec.classes.index(target)
        x = torch.tensor(pixels[None], dtype=torch.uint8, device=self.device)  # a copy: slots get reused
        with torch.no_grad():
            x = self.model.normalize(x)
        # One image is too small a job for OpenMP: on a busy CPU its thread barriers cost seconds (measured
        # 2.2 s vs 0.02 s per map with 2 threads vs 1 on a loaded 2-core machine).
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self.cam(input_tensor=x, targets=[ClassifierOutputTarget(index)])[0]
        finally:
            torch.set_num_threads(threads)

    def overlay(self, pixels: np.ndarray, target: str) -> np.ndarray:
        """RGB uint8 overlay of the heatmap on the model's input, at least 256 px a side."""
        from PIL import Image
        from pytorch_grad_cam.utils.image import show_cam_on_image

        mask = self.heatmap(pixels, target)
        side = max(OVERLAY_MIN_SIDE, pixels.shape[0])
        image = np.asarray(Image.fromarray(pixels).resize((side, side), Image.Resampling.BICUBIC), np.float32) / 255
        mask = np.asarray(Image.fromarray(mask.astype(np.float32), mode="F").resize((side, side)), np.float32)
        return show_cam_on_image(image, np.clip(mask, 0, 1), use_rgb=True)

    def save(self, pixels: np.ndarray, source_path: str, target: str, out: str | Path | None = None) -> Path:
        from PIL import Image

        if out is None:
            out = self._target(source_path)
        Image.fromarray(self.overlay(pixels, target)).save(out)
        return Path(out)

    def tile_overlay(
        self, tile: np.ndarray, box: list[int], source: Any, target: str, max_pixels: int | None = None
    ) -> np.ndarray:
        """Two panels: the whole picture (from ``source``, a path or open file) with ``box`` drawn, and the map
        of ``tile`` at the same height. Only the tile's panel when the picture cannot be decoded again."""
        from PIL import Image, ImageDraw

        from synthsight.errors import DecodeError
        from synthsight.image.preprocess import thumbnail

        cam = self.overlay(tile, target)
        try:
            shown = thumbnail(source, CONTEXT_SIDE, **({"max_pixels": max_pixels} if max_pixels else {}))
        except DecodeError:
            return cam
        context = Image.fromarray(shown.pixels)
        scale = context.width / max(1, shown.oriented[0])
        side = max(OVERLAY_MIN_SIDE, context.height)
        left, top, right, bottom = (round(v * scale) for v in box)
        frame = (left, top, max(left, right - 1), max(top, bottom - 1))
        ImageDraw.Draw(context).rectangle(frame, outline=BOX_COLOUR, width=2)
        canvas = Image.new("RGB", (context.width + 8 + side, side), (255, 255, 255))
        canvas.paste(context, (0, (side - context.height) // 2))
        canvas.paste(Image.fromarray(cam).resize((side, side), Image.Resampling.BICUBIC), (context.width + 8, 0))
        return np.asarray(canvas)

    def save_tile(
        self, tile: np.ndarray, box: list[int], source_path: str, target: str, max_pixels: int | None = None
    ) -> Path:
        """Write :meth:`tile_overlay` for the file at ``source_path`` into the output folder."""
        from PIL import Image

        out = self._target(source_path)
        Image.fromarray(self.tile_overlay(tile, box, source_path, target, max_pixels)).save(out)
        return out

    def _target(self, source_path: str) -> Path:
        out = self.out_dir / overlay_name(source_path)
        if out.resolve().parent != self.out_dir:  # defence in depth: overlay_name has no separators
            raise UsageError(f"refusing to write a Grad-CAM overlay outside {self.out_dir}")
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "bundle": str(self.bundle.resolve()),
            "layer": self.layer,
            "method": "GradCAM (pytorch-grad-cam)",
            "target": "class of the verdict" + (
                "; tiles model: the tile ranked first, beside the whole picture with its box"
                if self.spec.preprocess.resize == "tiles"
                else ""
            ),
            "folder": str(self.out_dir) if self.out_dir else None,
        }


def default_layer(net: Any, size: int = 224) -> tuple[str, Callable | None]:
    """(target layer, reshape transform) for Grad-CAM on a timm classifier ``net``.

    The last feature map that is still spatial, by family: ConvNeXt / ConvNeXt V2 ``stages.<last>``,
    ResNet ``layer4``, EfficientNet ``bn2`` (the head conv's activated output), ViT the first norm of its
    last block with a transform that drops the class/register tokens and folds the patches back into a
    grid (pytorch-grad-cam's recipe). Any other network: its last convolution whose output is still
    spatial, found by one forward pass at ``size`` px (MobileNetV3's head conv comes after pooling, so
    "the last Conv2d" alone would be wrong).
    """
    modules = dict(net.named_modules())
    stages = getattr(net, "stages", None)
    if stages is not None and len(stages) > 0:
        return f"stages.{len(stages) - 1}", None
    if "layer4" in modules:
        return "layer4", None
    if "conv_head" in modules and "bn2" in modules:
        return "bn2", None
    blocks, patches = getattr(net, "blocks", None), getattr(net, "patch_embed", None)
    if blocks is not None and patches is not None and hasattr(patches, "grid_size"):
        return f"blocks.{len(blocks) - 1}.norm1", _token_grid(getattr(net, "num_prefix_tokens", 1), patches.grid_size)
    return _last_spatial_conv(net, size), None


def _token_grid(prefix: int, grid: tuple[int, int]) -> Callable:
    def reshape(tokens):
        x = tokens[:, prefix:, :].reshape(tokens.size(0), grid[0], grid[1], tokens.size(2))
        return x.permute(0, 3, 1, 2)

    return reshape


def _last_spatial_conv(net: Any, size: int) -> str:
    import torch

    shapes: dict[str, tuple[int, ...]] = {}
    hooks = [
        module.register_forward_hook(lambda m, i, out, name=name: shapes.__setitem__(name, tuple(out.shape)))
        for name, module in net.named_modules()
        if isinstance(module, torch.nn.Conv2d)
    ]
    try:
        with torch.no_grad():
            net.eval()(torch.zeros(1, 3, size, size))
    finally:
        for hook in hooks:
            hook.remove()
    spatial = [name for name, shape in shapes.items() if len(shape) == 4 and min(shape[2:]) > 1]
    if not spatial:
        raise UsageError("no spatial convolution found for Grad-CAM in this architecture: pass --gradcam-layer NAME")
    return spatial[-1]


def explain(
    image: str | Path,
    model: str | Path,
    out: str | Path | None = None,
    layer: str | None = None,
    provenance: bool = True,
    trust_anchors: tuple[str, ...] = (),
    **backend_options: Any,
) -> dict[str, Any]:
    """Verdict, score, a Grad-CAM overlay and the file's own provenance evidence for one image
    (what `synthsight explain` runs). The verdict and the evidence are reported side by side."""
    from PIL import Image

    from synthsight.image.preprocess import decode
    from synthsight.provenance import ProvenanceReader
    from synthsight.runtime import open_backend
    from synthsight.runtime.tiles import score_file

    cam = GradCam(resolve_bundle(model), layer, None)
    with open_backend(str(model), **backend_options) as backend:
        decoded = decode(image, backend.preprocess)
        inputs = decoded.pixels.reshape((-1, *backend.input_shape))
        score, tiles = score_file(backend.model_spec, backend.infer(inputs), decoded.boxes)
        threshold = backend.model_spec.threshold
    verdict = "ai" if score >= threshold else "real"
    target = Path(out) if out else Path.cwd() / overlay_name(str(image)).replace(".png", ".gradcam.png")
    if tiles is None:
        cam.save(decoded.pixels, str(image), verdict, target)
    else:
        Image.fromarray(cam.tile_overlay(inputs[tiles.top], tiles.top_box, image, verdict)).save(target)
    found = None
    if provenance:
        with open(image, "rb") as fh:
            found = ProvenanceReader(trust_anchors).read(fh, image)
    return {
        "image": str(image),
        "provenance": found.klass if found else "",
        "evidence": found.evidence if found else "",
        "provenance_notes": list(found.notes) if found else [],
        "verdict": verdict,
        "score": score,
        "threshold": threshold,
        "overlay": str(target),
        "layer": cam.layer,
        **(_tile_fields(tiles) if tiles is not None else {}),
    }


def _tile_fields(tiles: Any) -> dict[str, Any]:
    return {"tiles": len(tiles.scores), "aggregate": tiles.rule, "top_tile": tiles.top_box, "tile_scores": tiles.scores}
