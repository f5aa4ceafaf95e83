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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

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

# What counts as an image file, for the scanner's walk, training-data discovery and the benchmarks:
# a known extension, or (for renamed files) a known signature in the first SNIFF_BYTES bytes.
IMAGE_EXTENSIONS = frozenset(
    (
        ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".gif", ".bmp", ".dib", ".tif", ".tiff", ".webp",
        ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".ico", ".jp2", ".j2k", ".jpx", ".psd", ".pcx", ".sgi", ".dds",
        ".qoi", ".heic", ".heif", ".avif", ".avifs", ".mpo", ".icns",
    )
)  # fmt: skip
# (offset, magic, Pillow format name)
IMAGE_SIGNATURES = (
    (0, b"\xff\xd8\xff", "JPEG"),
    (0, b"\x89PNG\r\n\x1a\n", "PNG"),
    (0, b"GIF87a", "GIF"),
    (0, b"GIF89a", "GIF"),
    (0, b"BM", "BMP"),
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
    (0, b"II+\x00", "TIFF"),  # BigTIFF
    (0, b"MM\x00+", "TIFF"),
    (8, b"WEBP", "WEBP"),
    (0, b"\x00\x00\x00\x0cjP  ", "JPEG2000"),
    (0, b"\xff\x4f\xff\x51", "JPEG2000"),  # codestream
    (0, b"8BPS", "PSD"),
    (0, b"qoif", "QOI"),
    (0, b"\x00\x00\x01\x00", "ICO"),
    (4, b"ftypavif", "AVIF"),
    (4, b"ftypavis", "AVIF"),  # image sequence
    (0, b"icns", "ICNS"),
    (4, b"ftypheic", "HEIF"),
    (4, b"ftypmif1", "HEIF"),
    *((0, b"P" + bytes([48 + k]), "PPM") for k in range(1, 7)),  # P1..P6
)
SNIFF_BYTES = 16


def sniff_format(head: bytes) -> str | None:
    """The format whose signature ``head`` (a file's first bytes) starts with, or None."""
    return next((name for off, magic, name in IMAGE_SIGNATURES if head[off : off + len(magic)] == magic), None)


@dataclass(frozen=True)
class PreprocessSpec:
    """How pixels reach the model: output size, resize mode, interpolation, normalisation."""

    size: int = 224
    # "squash": both sides to `size` (the seeds' Resize((224, 224))); "crop": short side to `size`, centre crop
    resize: str = "squash"
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

    pixels: np.ndarray  # uint8 [size, size, 3] (a thumbnail's: [h, w, 3])
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
    draft = DCT_OVERSAMPLE * spec.size if spec.dct_scaling else None
    return _decode(path, max_pixels, draft, lambda rgb: resize(rgb, spec))


def thumbnail(source: str | Path | BinaryIO, max_side: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> Decoded:
    """A preview decoded by the same rule as :func:`decode` (pixel cap, orientation, modes), aspect kept.

    ``pixels`` is uint8 ``[h, w, 3]`` with ``max(h, w) <= max_side``; ``source`` is a path or an open binary file.

    Raises:
        DecodeError: as :func:`decode` does.
    """

    def fit(rgb: Image.Image) -> np.ndarray:
        if max(rgb.size) > max_side:
            scale = max_side / max(rgb.size)
            size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
            rgb = rgb.resize(size, Image.Resampling.LANCZOS)
        return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))

    return _decode(source, max_pixels, 2 * max_side, fit)


def _decode(
    path: str | Path | BinaryIO, max_pixels: int, draft: int | None, finish: Callable[[Image.Image], np.ndarray]
) -> Decoded:
    fmt = ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns on every odd header; the record carries what matters
            if max_pixels > 2 * (Image.MAX_IMAGE_PIXELS or 0):
                Image.MAX_IMAGE_PIXELS = max_pixels // 2 + 1  # our own cap below is the one that counts
            with Image.open(path) as im:
                fmt = im.format or ""
                return _decode_open(im, max_pixels, draft, finish)
    except DecodeError:
        raise
    except Exception as exc:  # Pillow raises far more than OSError on hostile files
        raise _explain(exc, path, fmt) from None


def _decode_open(
    im: Image.Image, max_pixels: int, draft: int | None, finish: Callable[[Image.Image], np.ndarray]
) -> Decoded:
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
    if draft and fmt == "JPEG":
        # draft() only ever reduces by powers of two while staying >= the requested size
        im.draft(None, (draft, draft))
    im.load()
    im = _oriented(im, notes)
    pixels = finish(to_rgb(im))
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
        return Image.fromarray(top_byte(np.asarray(im)), mode="L").convert("RGB")
    if mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        finite = arr[np.isfinite(arr)]
        if finite.size and finite.max() <= 1.0:
            arr = arr * 255.0
        arr = np.clip(np.nan_to_num(arr), 0, 255).astype(np.uint8)
        return Image.fromarray(arr, mode="L").convert("RGB")
    if mode == "LAB":
        from PIL import ImageCms

        transform = ImageCms.buildTransform(ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB")
        return ImageCms.applyTransform(im, transform)
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    if has_alpha:
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")


def top_byte(arr: np.ndarray) -> np.ndarray:
    """``clip(rint(value / 257), 0, 255)`` as uint8, in integer maths over blocks of rows.

    Equal to the float formula (value / 257 is never exactly k + 0.5 for an integer value) without its
    8-byte-per-pixel temporaries: a 100 MP 16-bit greyscale PNG peaked at 2.7 GB that way.
    """
    out = np.empty(arr.shape, np.uint8)
    step = max(1, (1 << 20) // max(1, arr.shape[-1]))
    for row in range(0, arr.shape[0], step):
        block = arr[row : row + step].astype(np.int64)
        out[row : row + step] = np.clip((block + 128) // 257, 0, 255)
    return out


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


def _explain(exc: Exception, source: Any = None, fmt: str = "") -> DecodeError:
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
        return _unidentified(source)
    if isinstance(exc, MemoryError):
        return DecodeError("too-large", "out of memory while decoding")
    if "decompressed data too large" in low:
        return DecodeError("too-large", f"decompression bomb refused: a compressed chunk inflates too far ({text})")
    if "truncated" in low or "broken data stream" in low or "premature end" in low:
        return DecodeError("truncated", f"file is truncated or damaged ({text})")
    if any(w in low for w in ("12-bit", "unsupported", "not supported", "unknown", "cannot find loader")):
        return DecodeError("unsupported", text)
    fmt = fmt or sniff_format(_head(source, SNIFF_BYTES) or b"") or ""
    damaged = f"damaged {fmt} file" if fmt else "damaged file"
    if isinstance(exc, OSError):
        return DecodeError("corrupt", f"{damaged} ({text})")
    return DecodeError("corrupt", f"{damaged} ({type(exc).__name__}: {text})")


_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1")
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers (not DHT, JPG, DAC)


def _unidentified(source: Any) -> DecodeError:
    """Pillow could not identify the file: say whether it is empty, unsupported, or a damaged known format."""
    head = _head(source, 1 << 18)
    if head is not None and not head:
        return DecodeError("not-an-image", "empty file (0 bytes)")
    head = head or b""
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return DecodeError("unsupported", "HEIF/HEIC image: this build of Pillow has no HEIF decoder")
    fmt = sniff_format(head)
    if fmt is None:
        return DecodeError("not-an-image", "not a recognised image format")
    if fmt == "JPEG":
        bits = _jpeg_precision(head)
        if bits is not None and bits != 8:
            return DecodeError(
                "unsupported", f"{bits}-bit JPEG: valid but unsupported (this Pillow build reads 8-bit JPEG only)"
            )
    why = _plugin_complaint(source, fmt)
    low = why.lower()
    if "truncated" in low or "eof" in low or "requires a buffer" in low:
        return DecodeError("truncated", f"{fmt} file ends inside its header ({why})")
    if "not identified by this driver" in low:  # Pillow's words for a header without a valid size or mode
        why = "no valid image size or pixel mode"
    return DecodeError("corrupt", f"damaged {fmt} file: its header cannot be read ({why})")


def _head(source: Any, size: int) -> bytes | None:
    """The first ``size`` bytes of a path or seekable binary file; None when unreadable."""
    try:
        if hasattr(source, "read"):
            source.seek(0)
            return source.read(size)
        with open(source, "rb") as fh:
            return fh.read(size)
    except Exception:
        return None


def _jpeg_precision(head: bytes) -> int | None:
    """Sample precision from the first SOF segment (walking the marker segments), or None."""
    pos = 2
    while pos + 4 <= len(head):
        if head[pos] != 0xFF:
            return None
        marker = head[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _JPEG_SOF:
            return head[pos + 4] if pos + 4 < len(head) else None
        if marker == 0xD9 or marker == 0xDA:
            return None
        pos += 2 + int.from_bytes(head[pos + 2 : pos + 4], "big")
    return None


def _plugin_complaint(source: Any, fmt: str) -> str:
    """What the format's own parser says about the file (Image.open hides it behind 'cannot identify')."""
    Image.init()
    factory = Image.OPEN.get(fmt, (None,))[0]
    if factory is None:
        return "unidentified"
    try:
        fh = source if hasattr(source, "read") else open(source, "rb")  # noqa: SIM115
    except Exception as exc:
        return str(exc) or type(exc).__name__
    try:
        fh.seek(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            factory(fh, getattr(fh, "name", "")).close()
    except Exception as exc:
        return str(exc) or type(exc).__name__
    finally:
        if fh is not source:
            fh.close()
    return "unidentified"
