"""What counts as an image file: one list of extensions and one table of signatures.

Used by the scanner's walk (a renamed image is still scanned), training-data discovery, the
benchmarks and the decoder's error messages (naming the format of a damaged file).

Two ways to find images, on purpose: the scanner's walk takes a known extension OR a known signature (in an
archive a renamed file must not escape the scan; it opens every other file to sniff it), while training,
INT8 calibration and the benchmarks list a dataset folder by extension only (:func:`image_files`: no file is
opened, so a folder of millions lists in seconds, and a dataset is a folder its owner curated).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from synthsight.image.read_window import HEADER_WINDOW

# What counts as an image file, for the scanner's walk, training-data discovery and the benchmarks:
# a known extension, or (for renamed files) a known signature in the first SNIFF_BYTES bytes.
IMAGE_EXTENSIONS = frozenset(
    (
        ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".gif", ".bmp", ".dib", ".tif", ".tiff", ".webp",
        ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".ico", ".jp2", ".j2k", ".jpx", ".psd", ".pcx", ".sgi", ".dds",
        ".qoi", ".heic", ".heif", ".avif", ".avifs", ".mpo", ".icns",
        ".wmf", ".emf", ".eps",  # Pillow identifies them; rasterising needs Windows or Ghostscript
    )
)  # fmt: skip
# The ISO-BMFF brands of HEIF/HEIC still images and sequences (the walk scans a renamed one; the decoder names it).
HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1")
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
    *((4, b"ftyp" + brand, "HEIF") for brand in HEIF_BRANDS),
    *((0, b"P" + bytes([48 + k]), "PPM") for k in range(1, 7)),  # P1..P6
    (0, b"\xd7\xcd\xc6\x9a", "WMF"),  # placeable metafile
    (0, b"\x01\x00\x09\x00\x00\x03", "WMF"),
    (40, b" EMF", "WMF"),  # Pillow's WMF plugin reads EMF too
    (0, b"\xc5\xd0\xd3\xc6", "EPS"),  # DOS EPS binary header
)
SNIFF_BYTES = 44


def sniff_format(head: bytes) -> str | None:
    """The format whose signature ``head`` (a file's first bytes) starts with, or None."""
    return next((name for off, magic, name in IMAGE_SIGNATURES if head[off : off + len(magic)] == magic), None)


def header_window(fh: BinaryIO, size: int) -> int:
    """Bytes a header parser may read: TIFF directories lie anywhere, a WebP declares its own size,
    every other format's header fits in HEADER_WINDOW (beyond it, a parser would be skipping junk)."""
    here = fh.tell()
    fh.seek(0)
    head = fh.read(SNIFF_BYTES)
    fh.seek(here)
    fmt = sniff_format(head)
    if fmt == "TIFF":
        return size
    if fmt == "WEBP":
        return min(size, int.from_bytes(head[4:8], "little") + 8)
    return min(size, HEADER_WINDOW)


def image_files(folder: str | Path) -> list[Path]:
    """The files under ``folder`` with an image extension, recursively, in a stable order: each folder's files
    by name, then its sub-folders by name (hidden sub-folders are left out). No file is opened."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out += [Path(dirpath) / f for f in sorted(filenames) if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS]
    return out
