"""Why a file could not be decoded: whatever Pillow raised, turned into one line a user can act on.

Pillow raises far more than OSError on hostile files, and often only "cannot identify image file";
the format's own parser, the file's first bytes and its JPEG frame header usually say more.
"""

from __future__ import annotations

import warnings
from typing import Any

from PIL import Image, UnidentifiedImageError

from synthsight.errors import DecodeError
from synthsight.image.formats import SNIFF_BYTES, sniff_format


def explain(exc: Exception, source: Any = None, fmt: str = "") -> DecodeError:
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
    if fmt in _VECTOR or "ghostscript" in low:
        what = _VECTOR.get(fmt, _VECTOR["EPS"])
        return DecodeError("unsupported", f"{what}: cannot be rasterised on this system ({text})")
    if any(w in low for w in ("12-bit", "unsupported", "not supported", "unknown", "cannot find loader")):
        return DecodeError("unsupported", text)
    fmt = fmt or sniff_format(_head(source, SNIFF_BYTES) or b"") or ""
    damaged = f"damaged {fmt} file" if fmt else "damaged file"
    if isinstance(exc, OSError):
        return DecodeError("corrupt", f"{damaged} ({text})")
    return DecodeError("corrupt", f"{damaged} ({type(exc).__name__}: {text})")


_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers (not DHT, JPG, DAC)


_VECTOR = {"WMF": "Windows metafile (WMF/EMF, a vector drawing)", "EPS": "EPS file (PostScript, needs Ghostscript)"}


def _unidentified(source: Any) -> DecodeError:
    """Pillow could not identify the file: say whether it is empty, unsupported, or a damaged known format."""
    head = _head(source, 1 << 18)
    if head is not None and not head:
        return DecodeError("not-an-image", "empty file (0 bytes)")
    fmt = sniff_format(head or b"")
    if fmt == "HEIF":
        return DecodeError("unsupported", "HEIF/HEIC image: this build of Pillow has no HEIF decoder")
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
