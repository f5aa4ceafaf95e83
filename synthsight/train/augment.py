"""``train --augment`` and ``--align format``: what a training image goes through before the model sees it.

Both classes alike, in the data-loading step (the loader's workers when the set is decoded per epoch, the
main process when it is cached), on the image at the model's input (after the bundle's resize or the tiles'
window): cheap (a 224² JPEG round trip is ~1 ms), and the same for cached and uncached sets. A web copy of a
big picture is JPEG-compressed at its own size and then downscaled by the model, which softens the artefacts;
compressing at the input size is the harsher case, so the recipe covers the web's.

Every draw comes from the sample's own generator (seeded by seed, epoch and index), so a run is repeatable
and ``--resume`` repeats it. Validation, ``eval`` and the scan never see any of it.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from synthsight.errors import UsageError

AUGMENT_CHOICES = ("none", "web")
ALIGN_CHOICES = ("format", "size")


@dataclass(frozen=True)
class Recipe:
    """Each step's probability and range; the steps run in this order (geometry, blur, thumbnail, JPEG).

    The defaults are ``--augment web``: JPEG re-encoding alone, chosen by measurement (docs/training.md,
    benchmarks/bench_augment.py). The other steps are there for a recipe file to switch on; at the issue's
    probabilities (crop 0.25, resize 0.25, blur 0.2, thumbnail 0.1, JPEG 0.5 at U(30, 100)) they erased a faint
    period-2 trace from ~70 % of the ai training images and the model learned nothing (0.5-0.54 clean).
    """

    crop_p: float = 0.0  # random resized crop: a square of side U(crop_scale) x the input, back to the input
    crop_scale: tuple[float, float] = (0.6, 1.0)
    resize_p: float = 0.0  # downscale by U(resize_scale) and back up (bilinear)
    resize_scale: tuple[float, float] = (0.5, 1.0)
    blur_p: float = 0.0  # Gaussian blur, sigma U(blur_sigma)
    blur_sigma: tuple[float, float] = (0.0, 3.0)
    thumbnail_p: float = 0.0  # a thumbnail round trip: longest side U(thumbnail_side) x the input, JPEG 75, back
    thumbnail_side: tuple[float, float] = (0.25, 0.5)
    jpeg_p: float = 0.5  # JPEG re-encoding at quality U(jpeg_quality), 4:2:0 (Pillow's default)
    jpeg_quality: tuple[int, int] = (60, 100)  # the U(30, 100) cost up to 3.7 points clean (measured)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_p"):
                if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                    raise UsageError(f"augment recipe: {f.name} must be a probability in [0, 1], got {value!r}")
            else:
                if not isinstance(value, (list, tuple)) or len(value) != 2 or not value[0] <= value[1]:
                    raise UsageError(f"augment recipe: {f.name} must be [low, high] with low <= high, got {value!r}")
                object.__setattr__(self, f.name, tuple(value))
        low, high = self.jpeg_quality
        if low < 1 or high > 100:
            raise UsageError(f"augment recipe: jpeg_quality must lie in [1, 100], got {self.jpeg_quality!r}")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


NONE = Recipe(jpeg_p=0.0)
RECIPES = {"none": NONE, "web": Recipe()}


def recipe_for(value: str) -> Recipe:
    """``none``, ``web`` or a JSON file of :class:`Recipe` fields (those left out keep web's values).

    Raises:
        UsageError: an unknown name, an unreadable file, an unknown field or a value out of range.
    """
    if value in RECIPES:
        return RECIPES[value]
    path = Path(value)
    if not path.is_file():
        raise UsageError(f"--augment must be {' or '.join(AUGMENT_CHOICES)} or a recipe JSON file, got {value!r}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"--augment {path}: not a readable JSON recipe ({exc})") from None
    known = {f.name for f in fields(Recipe)}
    if not isinstance(data, dict) or set(data) - known:
        extra = sorted(set(data) - known) if isinstance(data, dict) else "not an object"
        raise UsageError(f"--augment {path}: unknown recipe fields {extra} (known: {', '.join(sorted(known))})")
    return Recipe(**data)


@dataclass(frozen=True)
class Degrade:
    """The training images' degradation: a recipe, then (``--align format``) a JPEG at a real-class quality."""

    recipe: Recipe
    align_qualities: tuple[int, ...] = ()  # --align format: the real class's measured qualities, drawn from

    @property
    def active(self) -> bool:
        return self.recipe != NONE or bool(self.align_qualities)

    def describe(self) -> dict:
        """What the bundle records (``spec.data["augmentation"]``)."""
        out: dict = {"recipe": self.recipe.to_dict()}
        if self.align_qualities:
            q = np.asarray(self.align_qualities)
            out["align_format"] = {
                "files": len(q), "quality_quartiles": [int(v) for v in np.percentile(q, (25, 50, 75))],
                "qualities": sorted({int(v) for v in q}),
            }  # fmt: skip
        return out

    def __call__(self, pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        r = self.recipe
        im = Image.fromarray(pixels)
        w, h = im.size
        if rng.random() < r.crop_p:
            s = rng.uniform(*r.crop_scale)
            side = max(1, round(min(w, h) * s))  # a square: the input's aspect is kept
            x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
            im = im.crop((x, y, x + side, y + side)).resize((w, h), Image.Resampling.BILINEAR)
        if rng.random() < r.resize_p:
            s = rng.uniform(*r.resize_scale)
            small = (max(1, round(w * s)), max(1, round(h * s)))
            im = im.resize(small, Image.Resampling.BILINEAR).resize((w, h), Image.Resampling.BILINEAR)
        if rng.random() < r.blur_p:
            im = im.filter(ImageFilter.GaussianBlur(float(rng.uniform(*r.blur_sigma))))
        if rng.random() < r.thumbnail_p:
            s = rng.uniform(*r.thumbnail_side)
            thumb = im.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.LANCZOS)
            im = _jpeg(thumb, 75).resize((w, h), Image.Resampling.BICUBIC)
        if rng.random() < r.jpeg_p:
            im = _jpeg(im, int(rng.integers(r.jpeg_quality[0], r.jpeg_quality[1] + 1)))
        if self.align_qualities:
            im = _jpeg(im, int(self.align_qualities[int(rng.integers(len(self.align_qualities)))]))
        return np.asarray(im, dtype=np.uint8)


def _jpeg(im: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    out = Image.open(buf)
    out.load()
    return out.convert("RGB")
