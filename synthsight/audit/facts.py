"""One file's header facts (format, size, JPEG tables, subsampling, EXIF, ICC, mode), without decoding pixels.

Pillow's ``Image.open`` parses a header and stops before the pixel data, so a 12 MP JPEG costs what its
markers cost; the quality estimate is the provenance module's quantisation-table reader. A truncated file is
found by its missing end marker (JPEG EOI, PNG IEND), read from the file's last bytes: no decode either.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass

from PIL import Image, JpegImagePlugin

from synthsight.provenance import jpeg_quality

# Pillow's JpegImagePlugin.get_sampling codes
SUBSAMPLING = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}
BIT_DEPTH = {"1": 1, "I;16": 16, "I;16B": 16, "I;16L": 16, "I": 32, "F": 32, "RGBA": 8, "RGB": 8, "L": 8}
EXIF_MAKE = 0x010F
END_MARKERS = {"JPEG": b"\xff\xd9", "PNG": b"IEND\xaeB`\x82"}
TAIL_BYTES = 64  # JPEG writers may pad after EOI; a few bytes of slack


@dataclass
class FileFacts:
    """What the audit knows of one file; ``error`` is set when its header could not be read."""

    path: str
    label: str
    split: str
    generator: str = ""
    format: str = ""
    width: int = 0
    height: int = 0
    file_bytes: int = 0
    mode: str = ""
    bit_depth: int = 0
    jpeg_quality: int | None = None  # libjpeg quality of the tables (nearest one when non-standard)
    jpeg_tables: str = ""  # "ijg" | "non-standard" | "" (not a JPEG)
    subsampling: str = ""  # JPEG chroma subsampling, "" otherwise
    exif: bool = False
    camera_make: str = ""
    icc: bool = False
    error: str = ""
    notes: str = ""

    @property
    def aspect(self) -> float:
        return self.width / self.height if self.height else 0.0

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6

    def to_dict(self) -> dict:
        return asdict(self)


def read_facts(path: str, label: str, split: str, generator: str = "") -> FileFacts:
    """The header facts of ``path``; never raises (an unreadable file comes back with ``error`` set)."""
    facts = FileFacts(path, label, split, generator)
    notes: list[str] = []
    try:
        facts.file_bytes = os.path.getsize(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a decompression-bomb warning is about decoding, which we do not
            with Image.open(path) as im:
                _image(im, facts, notes)
            _truncated(path, facts)
    except Exception as exc:  # an audit lists a bad file and goes on, whatever Pillow raised
        facts.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
    facts.notes = "; ".join(notes)
    return facts


def _image(im: Image.Image, facts: FileFacts, notes: list[str]) -> None:
    facts.format = im.format or ""
    facts.width, facts.height = im.size
    facts.mode = im.mode
    facts.bit_depth = BIT_DEPTH.get(im.mode, 8)
    facts.icc = bool(im.info.get("icc_profile"))
    if facts.format == "JPEG":
        tables = {int(k): list(v) for k, v in getattr(im, "quantization", {}).items()}
        estimate = jpeg_quality.estimate(tables)
        if estimate:
            facts.jpeg_tables = estimate["tables"]
            facts.jpeg_quality = estimate.get("quality", estimate.get("closest_quality"))
        facts.subsampling = SUBSAMPLING.get(JpegImagePlugin.get_sampling(im), "other")
    try:
        exif = im.getexif()
        facts.exif = len(exif) > 0 or bool(im.info.get("exif"))
        facts.camera_make = str(exif.get(EXIF_MAKE, "")).strip("\x00 ")[:40]
    except Exception as exc:  # a damaged EXIF block is a note, the file still counts
        facts.exif = bool(im.info.get("exif"))
        notes.append(f"EXIF unreadable ({type(exc).__name__})")


def _truncated(path: str, facts: FileFacts) -> None:
    marker = END_MARKERS.get(facts.format)
    if marker is None:
        return
    with open(path, "rb") as fh:
        fh.seek(max(0, facts.file_bytes - TAIL_BYTES))
        if marker not in fh.read():
            facts.error = f"truncated: no {facts.format} end marker"
