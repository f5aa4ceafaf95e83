"""The few EXIF tags provenance reads, straight from the TIFF structure of a JPEG/PNG/WebP EXIF block.

Pillow's ``Exif`` decodes every tag of IFD0 and of the EXIF sub-IFD into Python objects (a camera's
thirty-odd tags, its MakerNote included) to give us eight: 0.35 ms a camera JPEG in a scan, a third
of all the provenance reading. This reads only the entries whose tag is wanted, in the two IFDs
that hold them, with every offset and size checked against the block: a hostile block can make it
stop (:class:`TagError`), never read outside the block or loop. Values are what Pillow gives:
ASCII as text (UTF-8, else Latin-1, as Pillow decodes it), BYTE/UNDEFINED as bytes, SHORT/LONG as
numbers. Other formats (TIFF, GIF...) still come parsed by Pillow (containers.py).
"""

from __future__ import annotations

import struct
from typing import Any

MAX_ENTRIES = 4096  # entries of one IFD; real ones have tens
_UNIT = {1: 1, 2: 1, 3: 2, 4: 4, 7: 1}  # BYTE, ASCII, SHORT, LONG, UNDEFINED: the types our tags use


class TagError(ValueError):
    """The block is not a readable TIFF structure where the tags should be."""


def read(block: bytes, ifd0_tags: frozenset[int], sub_tags: frozenset[int], sub_pointer: int) -> tuple[dict, dict, int]:
    """({tag: value} of IFD0, {tag: value} of the IFD that ``sub_pointer`` (a tag of IFD0) points to,
    the number of entries IFD0 holds)."""
    if block[:4] in (b"II*\x00", b"MM\x00*"):
        order = "<" if block[:2] == b"II" else ">"
    else:
        raise TagError("no TIFF header")
    (first,) = struct.unpack_from(order + "I", block, 4)
    ifd0, entries = _ifd(block, order, first, ifd0_tags | {sub_pointer})
    pointer = ifd0.pop(sub_pointer, None)
    sub = _ifd(block, order, pointer, sub_tags)[0] if isinstance(pointer, int) and pointer != first else {}
    return ifd0, sub, entries


def _ifd(block: bytes, order: str, at: int, wanted: frozenset[int]) -> tuple[dict[int, Any], int]:
    if not 8 <= at <= len(block) - 2:
        raise TagError(f"IFD offset {at} outside the {len(block)}-byte block")
    (count,) = struct.unpack_from(order + "H", block, at)
    if count > MAX_ENTRIES or at + 2 + 12 * count > len(block):
        raise TagError(f"IFD of {count} entries runs past the block")
    out: dict[int, Any] = {}
    for tag, kind, n, raw in struct.iter_unpack(order + "HHI4s", block[at + 2 : at + 2 + 12 * count]):
        if tag in wanted and tag not in out and kind in _UNIT:
            value = _value(block, order, kind, n, raw)
            if value is not None:
                out[tag] = value
    return out, count


def _value(block: bytes, order: str, kind: int, n: int, raw: bytes) -> Any:
    size = _UNIT[kind] * n
    if size <= 4:
        data = raw[:size]
    else:
        (offset,) = struct.unpack(order + "I", raw)
        if offset + size > len(block):
            return None  # as Pillow does: a value past the block is skipped, the rest still counts
        data = block[offset : offset + size]
    if kind == 2:
        text = data[:-1] if data.endswith(b"\x00") else data
        try:
            return text.decode("utf-8")
        except UnicodeDecodeError:
            return text.decode("latin-1")
    if kind in (3, 4):
        values = struct.unpack(order + ("H" if kind == 3 else "I") * n, data)
        return values[0] if n == 1 else values
    return bytes(data)
