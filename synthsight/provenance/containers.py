"""A bounded walk of the file's container that collects the metadata blocks, without decoding pixels.

JPEG (marker segments up to the first scan), PNG (every chunk header; text, eXIf and caBX chunks)
and WebP (RIFF chunks) are walked here, because Pillow does not expose where a C2PA manifest store
sits (APP11 JUMBF, ``caBX``, ``C2PA``), refuses a whole PNG over one oversized text chunk, and reads
text chunks after the image data only when decoding. Other formats (TIFF, GIF, ...) go through
Pillow's header parser (no pixel decode) for their EXIF and XMP.

Every read is bounded: a block over its limit is skipped with a note naming it, compressed text is
inflated at most to :data:`MAX_TEXT`, and the walk stops after :data:`MAX_BLOCKS` blocks.
"""

from __future__ import annotations

import struct
import warnings
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO

from synthsight.image.formats import SNIFF_BYTES, header_window, sniff_format
from synthsight.image.read_window import ReadWindow, file_size

MAX_EXIF = 1 << 20  # one EXIF block
MAX_XMP = 2 << 20  # all XMP packets together
MAX_TEXT = 1 << 20  # one text value, after inflation
MAX_TEXT_TOTAL = 8 << 20  # all PNG text, after inflation
MAX_TEXT_CHUNK = 4 << 20  # one PNG text chunk as stored
MAX_BLOCKS = 100_000  # segments or chunks walked
MAX_TEXT_KEYS = 64

MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "TIFF": "image/tiff"}
XMP_APP1 = b"http://ns.adobe.com/xap/1.0/\x00"
XMP_PNG_KEY = "XML:com.adobe.xmp"


@dataclass
class Found:
    """The metadata blocks of one file, as stored (nothing interpreted yet)."""

    format: str = ""
    xmp: list[bytes] = field(default_factory=list)
    exif: bytes | None = None  # raw TIFF-structured EXIF
    pillow_exif: object | None = None  # a PIL.Image.Exif, for formats Pillow parsed for us
    texts: dict[str, str] = field(default_factory=dict)  # PNG text chunks, first of each keyword
    c2pa_bytes: int = 0  # size of the C2PA manifest container(s) found, 0 when none
    c2pa_marked: bool = False  # a container that is C2PA's for sure (not a JUMBF box of another kind)
    dqt: dict[int, list[int]] = field(default_factory=dict)  # JPEG quantisation tables, natural order
    notes: list[str] = field(default_factory=list)
    _xmp_total: int = 0
    _text_total: int = 0

    @property
    def mime(self) -> str:
        return MIME.get(self.format, "")

    def add_xmp(self, packet: bytes, where: str) -> None:
        if self._xmp_total + len(packet) > MAX_XMP:
            self.notes.append(
                f"{where} XMP packet of {len(packet):,} bytes over the {MAX_XMP >> 20} MiB bound: not read"
            )
            return
        self._xmp_total += len(packet)
        self.xmp.append(packet)

    def set_exif(self, data: bytes) -> None:
        if self.exif is None:  # "Exif\0\0" (some cameras write "Exif\0\xff") before the TIFF structure
            self.exif = data[6:] if data.startswith(b"Exif\x00") else data


def scan(fh: BinaryIO) -> Found:
    """Walk ``fh`` (seekable, any position) and return its metadata blocks; never raises on bad data."""
    fh.seek(0)
    head = fh.read(SNIFF_BYTES)
    found = Found(format=sniff_format(head) or "")
    walker = {"JPEG": _jpeg, "PNG": _png, "WEBP": _webp}.get(found.format, _pillow)
    try:
        walker(fh, found)
    except (OSError, ValueError, struct.error, EOFError) as exc:
        found.notes.append(f"{found.format or 'file'} structure unreadable after some blocks ({type(exc).__name__})")
    return found


def _jpeg(fh: BinaryIO, found: Found) -> None:
    fh.seek(2)
    for _ in range(MAX_BLOCKS):
        two = fh.read(2)
        if len(two) < 2 or two[0] != 0xFF:
            if len(two) == 2:
                found.notes.append("JPEG marker stream broken before the image data")
            return
        marker = two[1]
        if marker == 0xFF:  # fill byte: the marker follows
            fh.seek(-1, 1)
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            continue
        if marker in (0xDA, 0xD9):  # start of scan / end of image: no metadata beyond
            return
        length = struct.unpack(">H", _exact(fh, 2))[0]
        if length < 2:
            found.notes.append("JPEG segment with an impossible length")
            return
        if marker in (0xE1, 0xEB, 0xDB):
            _jpeg_segment(marker, _exact(fh, length - 2), found)
        else:
            fh.seek(length - 2, 1)
    found.notes.append(f"JPEG has over {MAX_BLOCKS:,} header segments: the rest not read")


def _jpeg_segment(marker: int, data: bytes, found: Found) -> None:
    if marker == 0xE1 and data.startswith(b"Exif\x00"):
        found.set_exif(data)
    elif marker == 0xE1 and data.startswith(XMP_APP1):
        found.add_xmp(data[len(XMP_APP1) :], "JPEG")
    elif marker == 0xEB and data.startswith(b"JP"):  # APP11 JUMBF (ISO 19566-5), where C2PA lives
        found.c2pa_bytes += len(data)
        found.c2pa_marked |= b"c2pa" in data  # the store's JUMBF type and labels; JPEG XT's boxes lack it
    elif marker == 0xDB:
        _dqt(data, found)


def _dqt(data: bytes, found: Found) -> None:
    from synthsight.provenance.jpeg_quality import NATURAL

    pos = 0
    while pos < len(data):
        precision, table = data[pos] >> 4, data[pos] & 15
        width = 2 if precision else 1
        body = data[pos + 1 : pos + 1 + 64 * width]
        if len(body) < 64 * width:
            found.notes.append("JPEG quantisation table truncated")
            return
        values = struct.unpack(">64H", body) if width == 2 else body
        found.dqt.setdefault(table, [values[k] for k in NATURAL])
        pos += 1 + 64 * width


def _png(fh: BinaryIO, found: Found) -> None:
    fh.seek(8)
    for _ in range(MAX_BLOCKS):
        header = fh.read(8)
        if len(header) < 8:
            return
        length, kind = struct.unpack(">I4s", header)
        if length > 0x7FFFFFFF:
            found.notes.append("PNG chunk with an impossible length: the rest not read")
            return
        if kind == b"IEND":
            return
        if kind == b"caBX":
            found.c2pa_bytes += length
            found.c2pa_marked = True
        elif kind == b"eXIf" and length <= MAX_EXIF:
            found.set_exif(_exact(fh, length))
            fh.seek(4, 1)
            continue
        elif kind == b"eXIf":
            found.notes.append(f"PNG eXIf chunk of {length:,} bytes over the {MAX_EXIF >> 20} MiB bound: not read")
        elif kind in (b"tEXt", b"zTXt", b"iTXt") and length > MAX_TEXT_CHUNK:
            found.notes.append(f"PNG {kind.decode()} chunk of {length:,} bytes: not read")
        elif kind in (b"tEXt", b"zTXt", b"iTXt"):
            _png_text(kind, _exact(fh, length), found)
            fh.seek(4, 1)
            continue
        fh.seek(length + 4, 1)
    found.notes.append(f"PNG has over {MAX_BLOCKS:,} chunks: the rest not read")


def _png_text(kind: bytes, data: bytes, found: Found) -> None:
    key_bytes, _, rest = data.partition(b"\x00")
    key = key_bytes[:79].decode("latin-1")
    label = f"PNG {kind.decode()} {key!r}"
    if kind == b"tEXt":
        raw: bytes | None = rest
    elif kind == b"zTXt":
        raw = _inflate(rest[1:], label, found)
    else:
        compressed, rest = rest[:1] == b"\x01", rest[2:]
        _lang, _, rest = rest.partition(b"\x00")
        _translated, _, rest = rest.partition(b"\x00")
        raw = _inflate(rest, label, found) if compressed else rest
    if raw is None:
        return
    if key == XMP_PNG_KEY:
        found.add_xmp(raw, "PNG")
        return
    if key in found.texts or len(found.texts) >= MAX_TEXT_KEYS:
        return
    if len(raw) > MAX_TEXT or found._text_total + len(raw) > MAX_TEXT_TOTAL:
        found.notes.append(f"{label} of {len(raw):,} bytes over the text bound: not read")
        return
    found._text_total += len(raw)
    found.texts[key] = raw.decode("utf-8" if kind == b"iTXt" else "latin-1", "replace")


def _inflate(data: bytes, label: str, found: Found) -> bytes | None:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, MAX_TEXT)
    except zlib.error:
        found.notes.append(f"{label} is not valid deflate data: not read")
        return None
    if inflater.unconsumed_tail or not inflater.eof:
        found.notes.append(f"{label} inflates past {MAX_TEXT >> 20} MiB: not read")
        return None
    return out


def _webp(fh: BinaryIO, found: Found) -> None:
    fh.seek(12)
    for _ in range(MAX_BLOCKS):
        header = fh.read(8)
        if len(header) < 8:
            return
        kind, length = struct.unpack("<4sI", header)
        padded = length + (length & 1)
        if kind == b"C2PA":
            found.c2pa_bytes += length
            found.c2pa_marked = True
        elif kind == b"EXIF" and length <= MAX_EXIF:
            found.set_exif(_exact(fh, length))
            fh.seek(padded - length, 1)
            continue
        elif kind == b"XMP " and length <= MAX_XMP:
            found.add_xmp(_exact(fh, length), "WebP")
            fh.seek(padded - length, 1)
            continue
        elif kind in (b"EXIF", b"XMP "):
            found.notes.append(f"WebP {kind.decode().strip()} chunk of {length:,} bytes over its bound: not read")
        fh.seek(padded, 1)
    found.notes.append(f"WebP has over {MAX_BLOCKS:,} chunks: the rest not read")


def _pillow(fh: BinaryIO, found: Found) -> None:
    """Formats we do not walk ourselves: Pillow's header parser gives EXIF and XMP, no pixels."""
    from PIL import Image

    # Through a header window: Pillow's GIF and JPEG parsers skip junk a byte at a time to the file's end.
    fh.seek(0)
    window = ReadWindow(fh, header_window(fh, file_size(fh)))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(window) as im:
                found.format = im.format or found.format
                found.pillow_exif = im.getexif()
                xmp = im.info.get("xmp") or getattr(im, "tag_v2", {}).get(700)
                if isinstance(xmp, (bytes, str)):
                    found.add_xmp(xmp.encode() if isinstance(xmp, str) else xmp, found.format)
                if found.format == "TIFF" and 52545 in getattr(im, "tag_v2", {}):  # C2PA's TIFF tag
                    found.c2pa_bytes, found.c2pa_marked = 1, True
    except Exception:  # unidentified or damaged: the decoder has already said so in the record
        return


def _exact(fh: BinaryIO, n: int) -> bytes:
    data = fh.read(n)
    if len(data) < n:
        raise EOFError("block runs past the end of the file")
    return data
