"""EXIF, read with Pillow's parser: camera fields, editor software, UserComment and MakerNote text.

Camera evidence is a Make, Model or LensModel that is not a generator's convention (ComfyUI puts
``prompt:{...}`` in Model and ``workflow:{...}`` in Make), or a binary MakerNote (cameras write a
vendor IFD there; generators write short text such as ``fooocus`` or ``OpenAI``). DateTimeOriginal
alone is not camera evidence: editors and screenshot tools write it too. ``Software`` is reported,
never taken as camera or generator evidence by itself (generators.py knows the few that name one).
"""

from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass, field
from typing import Any

from synthsight.provenance import exif_tags
from synthsight.provenance.result import clean

MAKE, MODEL, SOFTWARE, DESCRIPTION, EXIF_IFD = 0x010F, 0x0110, 0x0131, 0x010E, 0x8769
DATETIME_ORIGINAL, USER_COMMENT, MAKER_NOTE, LENS_MODEL = 0x9003, 0x9286, 0x927C, 0xA434
RAW_LIMIT = 1 << 20  # Make/Model/UserComment kept raw this long (ComfyUI stores whole graphs there)


@dataclass
class ExifFacts:
    make: str = ""
    model: str = ""
    lens: str = ""
    datetime_original: str = ""
    software: str = ""
    description: str = ""
    user_comment: str = ""  # decoded
    maker_note: bytes = b""
    notes: list[str] = field(default_factory=list)
    _camera: dict[str, Any] | None = field(default=None, repr=False, compare=False)  # camera(), once

    @property
    def maker_note_text(self) -> str:
        """The MakerNote as text when it is printable text (a generator's marker), else ""."""
        body = self.maker_note.rstrip(b"\x00")
        if body and all(32 <= b < 127 or b in (9, 10, 13) for b in body):
            return body.decode("ascii")
        return ""

    def camera(self) -> dict[str, Any]:
        """The camera fields present (Make, Model, LensModel, DateTimeOriginal, MakerNote), cleaned
        (worked out on the first call: the rules, the evidence line and the detail all ask)."""
        if self._camera is None:
            self._camera = self._camera_fields()
        return dict(self._camera)

    def _camera_fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("make", "model", "lens", "datetime_original"):
            value = getattr(self, key)
            if value and not _generator_like(value):
                out[key] = clean(value, 80)
        if self.maker_note and not self.maker_note_text:  # a text MakerNote is a generator's marker
            out["maker_note"] = f"{len(self.maker_note):,} bytes"
        return out

    def is_camera(self) -> bool:
        cam = self.camera()
        return any(cam.get(key) for key in ("make", "model", "lens", "maker_note"))


def _generator_like(value: str) -> bool:
    head = value.lstrip()[:16].lower()
    return head.startswith(("prompt:", "workflow:", "{", "[")) or len(value) > 200


IFD0_TAGS = frozenset((MAKE, MODEL, SOFTWARE, DESCRIPTION, MAKER_NOTE, USER_COMMENT))  # Fooocus: the last two
SUB_TAGS = frozenset((LENS_MODEL, DATETIME_ORIGINAL, MAKER_NOTE, USER_COMMENT))


def parse(exif: Any) -> ExifFacts:
    """Facts from raw EXIF bytes (TIFF structure) or an already parsed ``PIL.Image.Exif``.

    Raw bytes are read by exif_tags.py (only the tags wanted); a block it cannot walk goes to
    Pillow's parser, which says what it makes of it.
    """
    facts = ExifFacts()
    try:
        if not isinstance(exif, (bytes, bytearray)):
            raise exif_tags.TagError("parsed by Pillow already")
        ifd0, sub, entries = exif_tags.read(bytes(exif), IFD0_TAGS, SUB_TAGS, EXIF_IFD)
    except (exif_tags.TagError, struct.error):
        try:
            ifd0, sub = _pillow(exif, facts)
        except Exception as exc:  # Pillow raises SyntaxError, struct.error, ValueError... on hostile EXIF
            facts.notes.append(f"EXIF unreadable ({type(exc).__name__}): not read")
            return facts
        entries = len(ifd0)
    if not entries and isinstance(exif, (bytes, bytearray)) and len(exif) > 8:
        facts.notes.append(f"EXIF block of {len(exif):,} bytes holds no readable tag")
    facts.make, facts.model = _text(ifd0.get(MAKE)), _text(ifd0.get(MODEL))
    facts.software, facts.description = _text(ifd0.get(SOFTWARE)), _text(ifd0.get(DESCRIPTION))
    facts.lens, facts.datetime_original = _text(sub.get(LENS_MODEL)), _text(sub.get(DATETIME_ORIGINAL))
    note = sub.get(MAKER_NOTE, ifd0.get(MAKER_NOTE))  # Fooocus writes it (and UserComment) into IFD0
    facts.maker_note = (
        note[:RAW_LIMIT] if isinstance(note, bytes) else str(note or "").encode("utf-8", "replace")[:4096]
    )
    comment = sub.get(USER_COMMENT, ifd0.get(USER_COMMENT))
    if comment is not None:
        facts.user_comment = decode_user_comment(comment, facts.notes)
    return facts


def _pillow(exif: Any, facts: ExifFacts) -> tuple[dict, dict]:
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns on every odd tag; the notes say what matters
        if isinstance(exif, (bytes, bytearray)):
            parsed = Image.Exif()
            parsed.load(bytes(exif))
        else:
            parsed = exif
        ifd0 = dict(parsed)
        return ifd0, (_sub_ifd(parsed, facts) if EXIF_IFD in ifd0 else {})


def _sub_ifd(parsed: Any, facts: ExifFacts) -> dict:
    try:
        return dict(parsed.get_ifd(EXIF_IFD))
    except Exception as exc:
        facts.notes.append(f"EXIF sub-IFD unreadable ({type(exc).__name__}): not read")
        return {}


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return ""
    return value.replace("\x00", " ").strip()[:RAW_LIMIT]


def decode_user_comment(raw: Any, notes: list[str]) -> str:
    """EXIF UserComment: an 8-byte character-code prefix (ASCII, UNICODE, JIS or undefined), then text.

    A1111/Forge write ``UNICODE\\0`` + UTF-16 (big-endian from piexif, little-endian from some
    others, no BOM): the byte order is taken from a BOM, else from where the zero bytes of ASCII
    text fall. Invalid bytes are replaced and noted, never fatal.
    """
    if isinstance(raw, str):
        return raw.strip("\x00 ")[:RAW_LIMIT]
    if not isinstance(raw, (bytes, bytearray)):
        return ""
    raw = bytes(raw[: RAW_LIMIT * 2])
    prefix, body = raw[:8], raw[8:]
    if prefix == b"UNICODE\x00":
        text = _utf16(body, notes)
    elif prefix == b"JIS\x00\x00\x00\x00\x00":
        text = body.decode("shift_jis", "replace")
    elif prefix in (b"ASCII\x00\x00\x00", b"\x00" * 8):
        text = _utf8(body, notes)
    else:  # no prefix at all (Fooocus via Pillow, many others)
        text = _utf8(raw, notes)
    return text.strip("\x00 \t\r\n")[:RAW_LIMIT]


def _utf8(body: bytes, notes: list[str]) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        notes.append("EXIF UserComment is not valid UTF-8: read with replacement characters")
        return body.decode("utf-8", "replace")


def _utf16(body: bytes, notes: list[str]) -> str:
    if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
        codec, body = ("utf-16-le" if body[:2] == b"\xff\xfe" else "utf-16-be"), body[2:]
    else:
        sample = body[:512]
        codec = "utf-16-be" if sample[0::2].count(0) > sample[1::2].count(0) else "utf-16-le"
    if len(body) % 2:
        notes.append("EXIF UserComment UTF-16 text has an odd byte count: last byte dropped")
        body = body[:-1]
    try:
        return body.decode(codec)
    except UnicodeDecodeError:
        notes.append("EXIF UserComment is not valid UTF-16: read with replacement characters")
        return body.decode(codec, "replace")
