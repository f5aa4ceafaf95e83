"""The per-file reader: read, hash and decode one file. The decode pool's processes, ``workers=0`` and
cluster tasks all call :func:`read_file`, so pixels, errors and notes are the same wherever a file is read.

Kept apart from the pool so the fork server preloads only this (PIL, numpy, preprocess).
"""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.shared_memory import SharedMemory
from typing import TYPE_CHECKING, Any

import numpy as np

from synthsight.errors import DecodeError
from synthsight.image.preprocess import PreprocessSpec, decode
from synthsight.image.read_window import DEFAULT_MAX_PIXELS, ReadWindow, human
from synthsight.provenance import Provenance, ProvenanceReader

if TYPE_CHECKING:
    from synthsight.scanner.walk import Entry

CHUNK = 1 << 20
DECODER_SAID_MAX = 300  # characters of a decoder's own stderr kept in a record's notes


@dataclass(frozen=True)
class ReadOptions:
    """How every file of a scan is read (sent once to each worker process)."""

    spec: PreprocessSpec
    max_pixels: int = DEFAULT_MAX_PIXELS
    hash_files: bool = True
    provenance: ProvenanceReader | None = None  # None: --no-provenance

    @classmethod
    def for_scan(cls, spec: PreprocessSpec, opts: Any, evidence: ProvenanceReader | None = None) -> ReadOptions:
        """How every file of the scan ``opts`` describes is read: the same for the local pool and Ray's tasks."""
        return cls(spec, max_pixels=opts.max_pixels, hash_files=opts.hash_files, provenance=evidence)

    def needs_reading(self, entry: Entry) -> bool:
        """Whether a walked entry is opened: errors are not, non-images only to hash them."""
        return entry.kind != "error" and entry.is_regular and (entry.kind == "image" or self.hash_files)


@dataclass
class FileMeta:
    """What reading one file found out: what its record says besides the verdict."""

    bytes: int | None = None
    mtime_ns: int | None = None
    sha256: str = ""
    format: str = ""
    width: int | None = None
    height: int | None = None
    notes: str = ""
    error: str = ""
    provenance: Provenance | None = None
    boxes: list[tuple[int, int, int, int]] | None = None  # resize "tiles": each tile's box, in reading order

    @property
    def inputs(self) -> int:
        """Model inputs the file's pixels fill: its tiles, or 1."""
        return len(self.boxes) if self.boxes else 1

    def note(self, text: str) -> None:
        self.notes = "; ".join(filter(None, [self.notes, text]))


def read_file(path: str, options: ReadOptions, want_pixels: bool = True) -> tuple[FileMeta, np.ndarray | None]:
    """(meta, pixels or None) for one file; every failure becomes ``meta.error``, nothing raises.

    Only the bytes the file had when it was opened are hashed and decoded: a file that grows
    while it is read (a download in progress) cannot keep a worker busy, and its record says so.
    """
    meta = FileMeta()
    try:
        # O_NONBLOCK: a file swapped for a fifo after the walk must not hang the worker.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        meta.error = _open_error(exc)
        return meta, None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        meta.bytes, meta.mtime_ns = st.st_size, st.st_mtime_ns
        if not stat.S_ISREG(st.st_mode):
            meta.error = "unreadable: not a regular file"
            return meta, None
        try:
            if options.hash_files:
                meta.sha256 = _sha256(fh, st.st_size, meta)
            pixels = _decode(fh, st.st_size, options, meta) if want_pixels else None
        except OSError as exc:
            meta.error = _open_error(exc)
            return meta, None
        if want_pixels and options.provenance is not None:
            # Read from the same open file, whether or not its pixels decoded: evidence stands on its own.
            meta.provenance = options.provenance.read(ReadWindow(fh, st.st_size), path)  # path: a sidecar .c2pa
        return meta, pixels


def _decode(fh, size: int, options: ReadOptions, meta: FileMeta) -> np.ndarray | None:
    with decoder_stderr() as said:
        try:
            out = decode(ReadWindow(fh, size), options.spec, options.max_pixels)
        except DecodeError as exc:
            meta.error = str(exc)
            out = None
    if said:
        meta.note(f"decoder said: {said[0]}")
    if out is None:
        return None
    meta.format, meta.width, meta.height, meta.boxes = out.format, out.width, out.height, out.boxes
    meta.note(out.notes)
    return out.pixels


def _sha256(fh, size: int, meta: FileMeta) -> str:
    digest, left = hashlib.sha256(), size
    while left > 0:
        chunk = fh.read(min(CHUNK, left))
        if not chunk:
            meta.note(f"the file shrank while it was read: hashed {human(size - left)} of {human(size)}")
            break
        digest.update(chunk)
        left -= len(chunk)
    if fh.read(1):
        meta.note(f"the file grew while it was read: hashed and judged its first {human(size)}")
    fh.seek(0)
    return digest.hexdigest()


def _open_error(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "missing: file not found (deleted during the scan?)"
    if isinstance(exc, PermissionError):
        return "unreadable: permission denied"
    return f"unreadable: {exc.strerror or type(exc).__name__}"


_SINK: int | None = None  # a memory file that takes file descriptor 2 while a decoder runs


@contextmanager
def decoder_stderr() -> Iterator[list[str]]:
    """Capture what C decoders (libtiff, libjpeg...) write to file descriptor 2 while the block runs.

    They write to the terminal directly, in the middle of the progress output and attached to no
    file; captured, the text becomes a note of the file that caused it. Yields a list that holds,
    after the block, the captured text as one line (or nothing).
    """
    global _SINK
    said: list[str] = []
    if _SINK is None:
        try:
            _SINK = os.memfd_create("synthsight-decoder-stderr")
        except (AttributeError, OSError):  # not Linux: leave stderr alone
            yield said
            return
    sys.stderr.flush()
    saved = os.dup(2)
    os.ftruncate(_SINK, 0)
    os.dup2(_SINK, 2)
    try:
        yield said
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        text = os.pread(_SINK, 4 * DECODER_SAID_MAX, 0).decode("utf-8", "replace")
        lines = list(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))
        if lines:
            said.append(" / ".join(lines)[:DECODER_SAID_MAX])


def worker_main(conn, shm_name: str, options: ReadOptions) -> None:
    """Decode tasks from ``conn`` until it closes; pixels go to shared memory, metadata back on ``conn``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    shm = SharedMemory(shm_name)
    flat = np.ndarray((shm.size,), dtype=np.uint8, buffer=shm.buf)
    try:
        while True:
            try:
                task = conn.recv()
            except (EOFError, OSError):
                break
            if task is None:
                break
            task_id, path, offset, want_pixels = task
            meta, pixels = read_file(path, options, want_pixels)
            if pixels is not None:
                flat[offset : offset + pixels.size] = pixels.reshape(-1)
            conn.send((task_id, meta))
    finally:
        del flat
        shm.close()
