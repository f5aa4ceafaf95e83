"""The one preprocessing: any Pillow-readable file to a uint8 HWC RGB array of the model's size.

Used by training, evaluation, export parity checks and the scanner, so a model is served
exactly the way it was trained. PIL + numpy only (no torch): it runs in decode workers.

Mode rule (documented in the README):
- EXIF orientation is applied; animations and multi-page files use their first frame.
- Transparency (RGBA, LA, PA, P/L/RGB with a transparency key) is composited over white.
- 16-bit and 32-bit integer greyscale (I;16*, I) keeps its top 8 bits (value / 257, rounded);
  float greyscale (F) is clipped to [0, 255] (or scaled by 255 when its maximum is at most 1).
- CMYK/YCCK uses Pillow's conversion; LAB goes through LittleCMS to sRGB; everything else
  (1, L, P, YCbCr, HSV, RGBX...) uses ``Image.convert("RGB")``.
- No colour management beyond that: embedded ICC profiles are not applied.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from synthsight.errors import DecodeError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESIZE_MODES = ("squash", "crop")
INTERPOLATIONS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
# JPEG DCT scaling decodes to at least this multiple of the model size, so the antialiased resize still
# does the last >= 2x reduction: drafting straight to the model size moved p(ai) by up to 0.034 on the
# realworld corpus (above the 0.02 parity bound); 2x keeps it under 0.004 and still decodes 12 MP ~4x faster
# (benchmarks/bench_decode.py).
DCT_OVERSAMPLE = 2
# Pillow errors at 2x its MAX_IMAGE_PIXELS (~179 MP); we refuse earlier than any decode happens.
DEFAULT_MAX_PIXELS = 178_956_970


@dataclass(frozen=True)
class PreprocessSpec:
    """How pixels reach the model: output size, resize mode, interpolation, normalisation."""

    size: int = 224
    resize: str = "squash"  # "squash": both sides to `size` (seeds' Resize((224,224))); "crop": short side + centre crop
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = field(default=IMAGENET_MEAN)
    std: tuple[float, float, float] = field(default=IMAGENET_STD)
    dct_scaling: bool = True  # JPEG DCT-scaled decoding when the source is at least 4x the target size

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or not 8 <= self.size <= 4096:
            raise ValueError(f"preprocess size must be an integer in [8, 4096], got {self.size!r}")
        if self.resize not in RESIZE_MODES:
            raise ValueError(f"preprocess resize must be one of {RESIZE_MODES}, got {self.resize!r}")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"preprocess interpolation must be one of {tuple(INTERPOLATIONS)}")
        for name in ("mean", "std"):
            value = tuple(float(v) for v in getattr(self, name))
            if len(value) != 3:
                raise ValueError(f"preprocess {name} must have 3 values")
            object.__setattr__(self, name, value)
        if min(self.std) <= 0:
            raise ValueError("preprocess std must be positive")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["mean"], out["std"] = list(self.mean), list(self.std)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessSpec:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Decoded:
    """Pixels plus what the scan record wants to know about the source file."""

    pixels: np.ndarray  # uint8 [size, size, 3]
    format: str
    width: int  # of the stored image, before orientation
    height: int
    notes: str = ""


def load_image(path: str | Path, spec: PreprocessSpec, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode ``path`` and resize it per ``spec``; returns uint8 ``[size, size, 3]``.

    Raises:
        DecodeError: with a clear message naming the cause (not an image, truncated, too large...).
    """
    return decode(path, spec, max_pixels).pixels


def decode(path: str | Path, spec: PreprocessSpec, max_pixels: int = DEFAULT_MAX_PIXELS) -> Decoded:
    """Like :func:`load_image`, also returning format and stored size for the scan record."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore"
            )  # Pillow warns on every odd header; the record carries what matters
            if max_pixels > 2 * (Image.MAX_IMAGE_PIXELS or 0):
                Image.MAX_IMAGE_PIXELS = max_pixels // 2 + 1  # our own cap below is the one that counts
            with Image.open(path) as im:
                return _decode_open(im, spec, max_pixels)
    except DecodeError:
        raise
    except Exception as exc:  # Pillow raises far more than OSError on hostile files
        raise _explain(exc) from None


def _decode_open(im: Image.Image, spec: PreprocessSpec, max_pixels: int) -> Decoded:
    fmt = im.format or "unknown"
    width, height = im.size
    if width <= 0 or height <= 0:
        raise DecodeError("invalid-size", f"image reports a size of {width}x{height}")
    if width * height > max_pixels:
        raise DecodeError(
            "too-large",
            f"{width}x{height} = {width * height / 1e6:.1f} MP exceeds the pixel cap of {max_pixels / 1e6:.1f} MP "
            "(raise --max-pixels to allow it)",
        )
    notes = []
    if getattr(im, "n_frames", 1) > 1:
        # Pillow opens multi-frame files on their first frame (PSD on its composite); no seek needed.
        notes.append("first frame")
    if spec.dct_scaling and fmt == "JPEG":
        # draft() only ever reduces by powers of two while staying >= the requested size
        im.draft(None, (DCT_OVERSAMPLE * spec.size, DCT_OVERSAMPLE * spec.size))
    im.load()
    im = _oriented(im, notes)
    rgb = to_rgb(im)
    pixels = resize(rgb, spec)
    return Decoded(pixels=pixels, format=fmt, width=width, height=height, notes="; ".join(notes))


def _oriented(im: Image.Image, notes: list[str]) -> Image.Image:
    try:
        out = ImageOps.exif_transpose(im)
    except Exception:  # a broken EXIF block must not lose an otherwise good image
        notes.append("EXIF orientation unreadable, ignored")
        return im
    return out if out is not None else im


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB by the module's documented rule."""
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        arr = np.asarray(im, dtype=np.float64)
        arr = np.clip(np.rint(arr / 257.0), 0, 255).astype(np.uint8)
        return Image.fromarray(arr, mode="L").convert("RGB")
    if mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        finite = arr[np.isfinite(arr)]
        if finite.size and finite.max() <= 1.0:
            arr = arr * 255.0
        arr = np.clip(np.nan_to_num(arr), 0, 255).astype(np.uint8)
        return Image.fromarray(arr, mode="L").convert("RGB")
    if mode == "LAB":
        from PIL import ImageCms

        transform = ImageCms.buildTransform(
            ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"
        )
        return ImageCms.applyTransform(im, transform)
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    if has_alpha:
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")


def resize(im: Image.Image, spec: PreprocessSpec) -> np.ndarray:
    """Resize an RGB image per ``spec`` to a contiguous uint8 ``[size, size, 3]`` array."""
    size, resample = spec.size, INTERPOLATIONS[spec.interpolation]
    if spec.resize == "squash":
        out = im.resize((size, size), resample) if im.size != (size, size) else im
    else:
        w, h = im.size
        scale = size / min(w, h)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        out = im.resize((nw, nh), resample) if (nw, nh) != (w, h) else im
        left, top = (nw - size) // 2, (nh - size) // 2
        out = out.crop((left, top, left + size, top + size))
    arr = np.asarray(out, dtype=np.uint8)
    return np.ascontiguousarray(arr)


def _explain(exc: Exception) -> DecodeError:
    """Turn whatever Pillow raised into one line a user can act on."""
    text = str(exc) or type(exc).__name__
    low = text.lower()
    if isinstance(exc, FileNotFoundError):
        return DecodeError("missing", "file not found (deleted during the scan?)")
    if isinstance(exc, PermissionError):
        return DecodeError("unreadable", "permission denied")
    if isinstance(exc, IsADirectoryError):
        return DecodeError("unreadable", "is a directory")
    if isinstance(exc, Image.DecompressionBombError):
        return DecodeError("too-large", f"decompression bomb refused ({text})")
    if isinstance(exc, UnidentifiedImageError):
        return DecodeError("not-an-image", "not a recognised image format")
    if isinstance(exc, MemoryError):
        return DecodeError("too-large", "out of memory while decoding")
    if "truncated" in low or "broken data stream" in low or "premature end" in low:
        return DecodeError("truncated", f"file is truncated or damaged ({text})")
    if "12-bit" in low or "unsupported" in low or "not supported" in low or "unknown" in low:
        return DecodeError("unsupported", text)
    if isinstance(exc, OSError):
        return DecodeError("corrupt", text)
    return DecodeError("corrupt", f"{type(exc).__name__}: {text}")
