"""The one atomic write: a file is written beside its target under a temporary name and renamed over it, so a
reader (a scan resuming, a browser opening the review page, the next ``--precision auto``) sees the old file or
the new one, never half of one. The temporary name starts with a dot and holds this process's id, so two
processes writing the same target never share a temporary file. A failed write leaves no temporary file.

Standard library only, below every other part: reports, the review page, model bundles, engines, training
checkpoints and caches all write through it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


class Atomic:
    """``with Atomic(path) as tmp:`` write ``tmp`` any way (a writer, ``torch.save``, ``write_bytes``); on a clean
    exit it replaces ``path``, on an exception it is removed. Or call :meth:`commit` / :meth:`discard` by hand (a
    writer that streams into ``tmp`` for the length of a scan)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")

    def commit(self) -> None:
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> Path:
        return self.tmp

    def __exit__(self, exc_type, *exc: object) -> None:
        if exc_type is not None:
            self.discard()
            return
        try:
            self.commit()
        except BaseException:
            self.discard()
            raise


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` atomically; OSError is the caller's to word."""
    with Atomic(path) as tmp:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)
