"""The one preprocessing: any Pillow-readable file to a uint8 HWC RGB array of the model's size.

Used by training, evaluation, export parity checks and the scanner, so a model is served
exactly the way it was trained. PIL + numpy only (no torch): it runs in decode workers.

Mode rule (documented in docs/scanning.md):
- EXIF orientation is applied; animations and multi-page files use their first frame.
- Transparency (RGBA, LA, PA, P/L/RGB with a transparency key) is composited over white.
- 16-bit and 32-bit integer greyscale (I;16*, I) keeps its top 8 bits (value / 257, rounded);
  float greyscale (F) is clipped to [0, 255] (or scaled by 255 when its maximum is at most 1).
- CMYK/YCCK uses Pillow's conversion; LAB goes through LittleCMS to sRGB; everything else
  (1, L, P, YCbCr, HSV, RGBX...) uses ``Image.convert("RGB")``.
- No colour management beyond that: embedded ICC profiles are not applied.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageOps

from synthsight.errors import DecodeError
from synthsight.image.decode_failures import explain
from synthsight.image.formats import IMAGE_EXTENSIONS, header_window
from synthsight.image.png_text import WithoutChunks, refused_text
from synthsight.image.read_window import DEFAULT_MAX_PIXELS, HEADER_WINDOW, ReadWindow, bytes_needed, file_size, human
from synthsight.image.tiles import Box, TileSet, cut
from synthsight.spec import INTERPOLATION_NAMES, PreprocessSpec

__all__ = [
    "IMAGE_EXTENSIONS", "Decoded", "PreprocessSpec", "decode", "decode_with", "load_image", "resize",
    "stack_inputs", "to_rgb",
]  # fmt: skip

INTERPOLATIONS = {name: getattr(Image.Resampling, name.upper()) for name in INTERPOLATION_NAMES}
# Bytes the format's own parser re-reads to say why Pillow could not identify a file.
EXPLAIN_WINDOW = 1 << 20
# JPEG DCT scaling decodes to at least this multiple of the model size, so the antialiased resize still
# does the last >= 2x reduction: drafting straight to the model size moved p(ai) by up to 0.034 on the
# realworld corpus (above the 0.02 parity bound); 2x keeps it under 0.004 and still decodes 12 MP ~4x faster
# (benchmarks/bench_decode.py).
DCT_OVERSAMPLE = 2


@dataclass
class Decoded:
    """Pixels plus what the scan record wants to know about the source file."""

    pixels: np.ndarray  # uint8 [size, size, 3] (a thumbnail's: [h, w, 3]; resize "tiles": [n, size, size, 3])
    format: str
    width: int  # of the stored image, before orientation
    height: int
    notes: str = ""
    boxes: list[Box] | None = None  # resize "tiles": each tile's (left, top, right, bottom) in the oriented image
    oriented: tuple[int, int] = (0, 0)  # (width, height) once EXIF orientation is applied, before any resize


def load_image(path: str | Path, spec: PreprocessSpec, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode ``path`` and resize it per ``spec``; returns uint8 ``[size, size, 3]``.

    Raises:
        DecodeError: with a clear message naming the cause (not an image, truncated, too large...).
    """
    return decode(path, spec, max_pixels).pixels


def decode(
    path: str | Path | BinaryIO, spec: PreprocessSpec, max_pixels: int = DEFAULT_MAX_PIXELS, views: int = 0
) -> Decoded:
    """Like :func:`load_image`, also returning format and stored size for the scan record.

    ``path`` may be an open binary file (the scanner's worker hashes it first). Pillow only ever reads
    it through a :class:`synthsight.image.read_window.ReadWindow`, so a huge file behind a small header
    costs seconds, not minutes. With ``resize: tiles`` the file is decoded at its full resolution (no DCT
    scaling) and ``pixels`` holds its tiles, ``[n, size, size, 3]``, with their ``boxes``
    (:mod:`synthsight.image.tiles`). Otherwise ``views`` > 0 (``scan --stability K``) also makes that many
    re-encoded views of the file's own model input (:mod:`synthsight.image.views`): ``pixels`` is then
    ``[1 + views, size, size, 3]``, the file's own pixels first.
    """
    if spec.resize == "tiles":
        return _decode(path, max_pixels, None, lambda rgb: cut(rgb, spec))
    draft = DCT_OVERSAMPLE * spec.size if spec.dct_scaling else None
    if not views:
        return _decode(path, max_pixels, draft, lambda rgb: resize(rgb, spec))
    return _decode(path, max_pixels, draft, lambda rgb: with_views(rgb, spec, views))


def with_views(rgb: Image.Image, spec: PreprocessSpec, views: int) -> np.ndarray:
    """``[1 + views, size, size, 3]``: ``rgb``'s model input, then its first ``views`` re-encoded views, each made
    from that input (:mod:`synthsight.image.views`) and resized back to it where its size changed."""
    from synthsight.image.views import make_views

    clean = resize(rgb, spec)
    return np.stack([clean, *(resize(v, spec) for v in make_views(Image.fromarray(clean), views))])


def stack_inputs(arrays: list[np.ndarray]) -> np.ndarray:
    """Model inputs ``[N, size, size, 3]`` of several files' pixels, one file after the other (a tiles file's
    ``[n, size, size, 3]`` gives its n tiles, any other file its one input)."""
    return np.concatenate([a.reshape((-1, *a.shape[-3:])) for a in arrays])


def decode_with(
    source: str | Path | BinaryIO,
    finish: Callable[[Image.Image], np.ndarray],
    max_pixels: int = DEFAULT_MAX_PIXELS,
    draft: int | None = None,
) -> Decoded:
    """Decode by the rule of :func:`decode` (pixel cap, orientation, modes) and hand the RGB image to ``finish``.

    For training transforms that work on the decoded image before the model's resize; ``draft`` is the side
    JPEG DCT scaling may reduce the file to (None: full resolution).

    Raises:
        DecodeError: as :func:`decode` does.
    """
    return _decode(source, max_pixels, draft, finish)


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
    path: str | Path | BinaryIO, max_pixels: int, draft: int | None, finish: Callable[[Image.Image], Any]
) -> Decoded:
    fmt = ""
    fh = window = None
    try:
        fh = path if hasattr(path, "read") else open(path, "rb")  # noqa: SIM115
        fh.seek(0)
        size = file_size(fh)
        window = ReadWindow(fh, header_window(fh, size))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns on every odd header; the record carries what matters
            if max_pixels > 2 * (Image.MAX_IMAGE_PIXELS or 0):
                Image.MAX_IMAGE_PIXELS = max_pixels // 2 + 1  # our own cap below is the one that counts
            with Image.open(window) as im:
                fmt = im.format or ""
                return _decode_open(im, max_pixels, draft, finish, window, size)
    except DecodeError:
        raise
    except Exception as exc:  # Pillow raises far more than OSError on hostile files
        if refused_text(exc) and fh is not None and not isinstance(path, _NoText):  # names PngImagePlugin
            return _without_text(fh, max_pixels, draft, finish)
        raise _failed(exc, fh or path, window, fmt) from None
    finally:
        if fh is not None and fh is not path:
            fh.close()


class _NoText(io.BufferedReader):
    """A PNG read through :class:`WithoutChunks` (so a second refusal is final)."""


def _without_text(
    fh: BinaryIO, max_pixels: int, draft: int | None, finish: Callable[[Image.Image], Any]
) -> Decoded:
    """Decode a PNG that Pillow refused over a text chunk again, without the chunks it refuses (png_text.py)."""
    view = WithoutChunks(fh, file_size(fh))
    out = _decode(_NoText(view, 1 << 16), max_pixels, draft, finish)
    dropped = (
        f"decoded without {len(view.dropped)} PNG text chunk(s) over Pillow's limits ({', '.join(view.dropped[:3])})"
    )
    out.notes = "; ".join(filter(None, [dropped, out.notes]))
    return out


def _failed(exc: Exception, source: Any, window: ReadWindow | None, fmt: str) -> DecodeError:
    """The DecodeError for ``exc``; says so when the window, not the file, ended what Pillow read."""
    if not hasattr(source, "read"):
        return explain(exc, source, fmt)
    size = file_size(source)
    # The explanation re-reads the header only: a fresh, small window, whatever was read before.
    error = explain(exc, ReadWindow(source, min(size, EXPLAIN_WINDOW)), fmt)
    if window is None or window.limit >= size:
        return error
    return DecodeError(
        error.reason,
        f"{error.message}; the file is {human(size)}, read no further than {human(window.limit)} "
        "(a disk image or a broken download with an image's name?)",
    )


def _decode_open(
    im: Image.Image,
    max_pixels: int,
    draft: int | None,
    finish: Callable[[Image.Image], Any],
    window: ReadWindow,
    size: int,
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
    frames = _frames(im, window, size)
    need = bytes_needed(width, height, frames)
    if size > need:
        images = f"its {width}x{height} {fmt} image" if frames == 1 else f"{frames} {width}x{height} {fmt} images"
        raise DecodeError(
            "too-large",
            f"the file is {human(size)}, far more than {images} can need (at most {human(need)}): "
            "a disk image, an archive or a broken download with an image's name? Not decoded",
        )
    window.limit = size
    notes = []
    if frames > 1:
        # Pillow opens multi-frame files on their first frame (PSD on its composite); no seek needed.
        notes.append("first frame")
    if draft and fmt == "JPEG":
        # draft() only ever reduces by powers of two while staying >= the requested size
        im.draft(None, (draft, draft))
    im.load()
    im = _oriented(im, notes)
    oriented = im.size
    pixels = finish(to_rgb(im))
    if isinstance(pixels, TileSet):
        notes.append(pixels.note)
        return Decoded(pixels.pixels, fmt, width, height, "; ".join(filter(None, notes)), pixels.boxes, oriented)
    return Decoded(pixels, fmt, width, height, "; ".join(notes), oriented=oriented)


def _frames(im: Image.Image, window: ReadWindow, size: int) -> int:
    """How many frames the file declares (1 for single-image formats).

    Most formats state it in their header (PNG's acTL, MPO's index, WebP, PSD layers) or link
    their frames by offset (TIFF). GIF has to be walked, and its walker skips junk one byte at a
    time, so it looks at the first HEADER_WINDOW bytes only: a long animation then counts as "at
    least 2", which is all the note and the size rule need.
    """
    if not isinstance(getattr(type(im), "n_frames", None), property):
        return max(1, int(getattr(im, "n_frames", 1) or 1))  # read with the header already
    limit = window.limit
    if im.format == "GIF":
        window.limit = min(size, HEADER_WINDOW)
    try:
        return max(1, int(im.n_frames))
    except Exception:  # counting frames is a nicety: a damaged later frame does not spoil the first
        return 1
    finally:
        window.limit = limit


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
    """Resize an RGB image per ``spec`` to a contiguous uint8 ``[size, size, 3]`` array (resize "tiles": its
    tiles, ``[n, size, size, 3]``, at native pixels)."""
    size, resample = spec.size, INTERPOLATIONS[spec.interpolation]
    if spec.resize == "tiles":
        return cut(im, spec).pixels
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
