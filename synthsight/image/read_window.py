"""How much of a file a decoder may read: a window over a binary file, and the bytes an image can need.

Pillow's plugins trust the file: the JPEG and GIF header parsers skip junk one byte at a time in
Python until they find a marker (an 8 GiB sparse file that starts with a JPEG header kept a worker
busy for minutes), and the WebP plugin reads the whole file into memory. So the decoder never sees
the file itself, only a :class:`ReadWindow` over it: first a small window for the header, then,
once the header has declared the image's size, a window as large as that image can need.
A file far larger than anything its declared pixels can need is refused before decoding
(:func:`bytes_needed`): a disk image, an archive or a broken download given an image's name.
"""

from __future__ import annotations

import io
import os
from typing import BinaryIO

# The header of every format we open is found within this many bytes (a JPEG's APP segments are at
# most 64 KiB each); beyond it, scanning for a marker is scanning garbage. ~1 s of Pillow's junk loop.
HEADER_WINDOW = 16 << 20
# Compressed image data is at most a few times its raw size; metadata, previews and appended data
# (motion-photo video, ZIP) get a fixed allowance on top.
RAW_FACTOR = 4
BYTES_PER_PIXEL = 8  # 16-bit RGBA, the widest common sample layout (Pillow reports 16-bit RGB as "RGB")
ALLOWANCE = 256 << 20
# The pixel cap: Pillow errors at 2x its MAX_IMAGE_PIXELS (~179 MP); we refuse earlier than any decode happens.
DEFAULT_MAX_PIXELS = 178_956_970


def bytes_needed(width: int, height: int, frames: int = 1) -> int:
    """The most bytes a file declaring ``frames`` images of ``width`` x ``height`` can plausibly need."""
    return RAW_FACTOR * BYTES_PER_PIXEL * max(1, frames) * max(0, width) * max(0, height) + ALLOWANCE


def file_size(fh: BinaryIO) -> int:
    """Size of an open binary file (a real file, or any seekable stream)."""
    try:
        return os.fstat(fh.fileno()).st_size
    except (AttributeError, OSError, io.UnsupportedOperation):
        here = fh.tell()
        end = fh.seek(0, os.SEEK_END)
        fh.seek(here)
        return end


def human(n: float) -> str:
    """``8.0 GiB``, ``64.3 MiB``, ``512 B``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


class SeekableRaw(io.RawIOBase):
    """A read-only raw stream over part of a file: position ``pos``, end ``end`` (the subclass sets both)."""

    pos: int
    end: int

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.pos, os.SEEK_END: self.end}[whence]
        if base + offset < 0:
            raise OSError("negative seek position")
        self.pos = base + offset
        return self.pos


class _Window(SeekableRaw):
    """The raw side of :class:`ReadWindow`: reads of ``fh`` that stop at ``limit`` as at end of file."""

    def __init__(self, fh: BinaryIO, limit: int):
        super().__init__()
        self.fh, self.limit, self.pos = fh, int(limit), fh.tell()

    @property
    def end(self) -> int:  # the limit may grow between reads
        return self.limit

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        want = min(len(view), max(0, self.limit - self.pos))
        if not want:
            return 0
        self.fh.seek(self.pos)
        got = self.fh.readinto(view[:want]) or 0
        self.pos += got
        return got


class ReadWindow(io.BufferedReader):
    """A buffered, read-only view of the first ``limit`` bytes of ``fh``: reads stop there as at end of file.

    Buffered in C, so a parser reading one byte at a time stays fast. ``limit`` may grow between
    reads (once the header has declared the image's size); reads never return bytes past it.
    """

    def __init__(self, fh: BinaryIO, limit: int):
        self._window = _Window(fh, limit)
        super().__init__(self._window, buffer_size=1 << 16)

    @property
    def limit(self) -> int:
        return self._window.limit

    @limit.setter
    def limit(self, value: int) -> None:
        if value < self._window.limit:
            self.seek(self.tell())  # drops buffered bytes that may lie past the new limit
        self._window.limit = int(value)
