"""What runs inside a decode worker process: read, hash and decode one file, pixels into shared memory.

Kept apart from the pool so the fork server preloads only this (PIL, numpy, preprocess), and so
``workers=0`` runs the very same ``read_file``.
"""

from __future__ import annotations

import hashlib
import os
import signal
import stat
from multiprocessing.shared_memory import SharedMemory
from typing import Any

import numpy as np

from synthsight.errors import DecodeError
from synthsight.preprocess import PreprocessSpec, decode

CHUNK = 1 << 20


def read_file(path: str, spec: PreprocessSpec, max_pixels: int, want_hash: bool, want_pixels: bool):
    """(meta, pixels or None) for one file; every failure becomes ``meta['error']``, nothing raises."""
    meta: dict[str, Any] = {}
    try:
        # O_NONBLOCK: a file swapped for a fifo after the walk must not hang the worker.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        meta["error"] = _open_error(exc)
        return meta, None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        meta.update(bytes=st.st_size, mtime_ns=st.st_mtime_ns)
        if not stat.S_ISREG(st.st_mode):
            meta["error"] = "unreadable: not a regular file"
            return meta, None
        try:
            if want_hash:
                digest = hashlib.sha256()
                while chunk := fh.read(CHUNK):
                    digest.update(chunk)
                meta["sha256"] = digest.hexdigest()
                fh.seek(0)
            if not want_pixels:
                return meta, None
            out = decode(fh, spec, max_pixels)
        except DecodeError as exc:
            meta["error"] = str(exc)
            return meta, None
        except OSError as exc:
            meta["error"] = _open_error(exc)
            return meta, None
    meta.update(format=out.format, width=out.width, height=out.height, notes=out.notes)
    return meta, out.pixels


def _open_error(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "missing: file not found (deleted during the scan?)"
    if isinstance(exc, PermissionError):
        return "unreadable: permission denied"
    return f"unreadable: {exc.strerror or type(exc).__name__}"


def worker_main(conn, shm_name: str, spec: dict, max_pixels: int, want_hash: bool) -> None:
    """Decode tasks from ``conn`` until it closes; pixels go to shared memory, metadata back on ``conn``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    shm = SharedMemory(shm_name)
    flat = np.ndarray((shm.size,), dtype=np.uint8, buffer=shm.buf)
    pspec = PreprocessSpec.from_dict(spec)
    try:
        while True:
            try:
                task = conn.recv()
            except (EOFError, OSError):
                break
            if task is None:
                break
            task_id, path, offset, want_pixels = task
            meta, pixels = read_file(path, pspec, max_pixels, want_hash, want_pixels)
            if pixels is not None:
                flat[offset : offset + pixels.size] = pixels.reshape(-1)
            conn.send((task_id, meta))
    finally:
        del flat
        shm.close()
