"""A PNG without the ancillary chunks Pillow refuses, so a metadata bomb cannot hide the pixels.

Pillow inflates every text chunk (``tEXt``/``zTXt``/``iTXt``) and the ICC profile (``iCCP``) while it
opens or loads a PNG, and refuses the whole file when one inflates past ``MAX_TEXT_CHUNK`` (1 MiB) or
all of them past ``MAX_TEXT_MEMORY`` (64 MiB). A 2 KB zTXt chunk that inflates to 64 MB, added to any
PNG, would otherwise keep its pixels from the detector. None of those chunks changes a pixel
(synthsight applies no ICC profile), so on that refusal the decoder retries on :class:`WithoutChunks`:
the same bytes with the refused chunks left out. The provenance reader reads the text with its own
bounds and notes what it could not read. Only this fallback pays for the chunk walk.
"""

from __future__ import annotations

import bisect
import struct
import zlib
from typing import BinaryIO

from PIL import PngImagePlugin

from synthsight.image.read_window import SeekableRaw

INFLATED = (b"zTXt", b"iTXt", b"iCCP")  # what Pillow inflates, bounded by MAX_TEXT_CHUNK each
TEXT = (b"tEXt", *INFLATED)  # what counts against MAX_TEXT_MEMORY (iCCP too: it is read the same way)
MAX_CHUNKS = 1_000_000


def refused_text(exc: BaseException) -> bool:
    """Whether ``exc`` is Pillow refusing a PNG over its text-chunk limits."""
    text = str(exc)
    return isinstance(exc, ValueError) and ("MAX_TEXT_CHUNK" in text or "MAX_TEXT_MEMORY" in text)


class WithoutChunks(SeekableRaw):
    """A read-only, seekable view of the PNG in ``fh`` (``size`` bytes) without the chunks Pillow would refuse.

    ``dropped`` names them (``zTXt 'parameters'``). Chunks are walked by their headers; a compressed
    one is inflated at most to the limit to see whether Pillow would refuse it.
    """

    def __init__(self, fh: BinaryIO, size: int):
        super().__init__()
        self.fh, self.pos, self.dropped = fh, 0, []
        self._kept: list[tuple[int, int]] = [(0, 8)]  # (offset in the file, length): the signature first
        self._walk(size)
        self._starts = []  # where each kept piece starts in the view
        total = 0
        for _, length in self._kept:
            self._starts.append(total)
            total += length
        self.end = total

    def _walk(self, size: int) -> None:
        at, text = 8, 0
        for _ in range(MAX_CHUNKS):
            self.fh.seek(at)
            header = self.fh.read(8)
            if len(header) < 8:
                break
            length, kind = struct.unpack(">I4s", header)
            end = min(size, at + 12 + length)
            if kind in TEXT:
                kept = self._inflated(at + 8, length, kind) if kind in INFLATED else length
                limit = PngImagePlugin.MAX_TEXT_CHUNK if kind in INFLATED else None
                if (limit is not None and kept > limit) or text + kept > PngImagePlugin.MAX_TEXT_MEMORY:
                    self.dropped.append(f"{kind.decode('latin-1')} {self._keyword(at + 8, length)!r}")
                    at = end
                    continue
                text += kept
            self._kept.append((at, end - at))
            at = end
            if kind == b"IEND" or at >= size:
                break
        if at < size:
            self._kept.append((at, size - at))  # whatever follows, as it was

    def _inflated(self, at: int, length: int, kind: bytes) -> int:
        """Bytes a ``zTXt``/``iTXt``/``iCCP`` chunk inflates to, counted to just past Pillow's limit."""
        self.fh.seek(at)
        head = self.fh.read(min(length, 512))  # keyword (<= 79 bytes), flags, language tag, translated keyword
        _, _, rest = head.partition(b"\x00")
        if kind == b"iTXt":
            if rest[:1] != b"\x01":
                return length  # stored uncompressed: Pillow keeps it as it is
            rest = rest[2:].partition(b"\x00")[2].partition(b"\x00")[2]
        else:
            rest = rest[1:]  # the compression method byte
        left, limit = length - len(head), PngImagePlugin.MAX_TEXT_CHUNK + 1
        inflater, out, data = zlib.decompressobj(), 0, rest
        try:
            while True:
                out += len(inflater.decompress(data, limit - out))
                if out >= limit or inflater.eof or left <= 0:
                    return out
                data = self.fh.read(min(left, 1 << 16))  # below the limit, all input so far was consumed
                left -= len(data)
                if not data:
                    return out
        except zlib.error:
            return 0  # Pillow fails on it in its own way; nothing to leave out for the limits

    def _keyword(self, at: int, length: int) -> str:
        self.fh.seek(at)
        return self.fh.read(min(length, 80)).partition(b"\x00")[0].decode("latin-1", "replace")

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self.pos < self.end:
            piece = bisect.bisect_right(self._starts, self.pos) - 1
            offset, length = self._kept[piece]
            inside = self.pos - self._starts[piece]
            want = min(len(view) - done, length - inside)
            self.fh.seek(offset + inside)
            got = self.fh.readinto(view[done : done + want]) or 0
            if not got:
                break
            done += got
            self.pos += got
        return done
