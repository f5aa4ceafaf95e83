"""``--shard K/N``: a deterministic partition of a scan for job arrays (SLURM ``--array``, Kubernetes indexed jobs).

A file belongs to shard ``int(SHA-1(key)[:8]) % N`` where ``key`` is the exact bytes of its path relative
to the scan root it was found under (for a file named on the command line, its name; for ``--files-from``,
the line as listed, without a leading ``./``). SHA-1 is used as a well-spread, fixed function, not for
security; Python's ``hash()`` is salted per process and would put a file in another shard on every node.
So the N shards of one command are disjoint, together they hold exactly the records of the unsharded scan,
and they do not depend on where the archive is mounted.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from synthsight.errors import UsageError
from synthsight.reports.manifest import source_roots
from synthsight.reports.record import decode_path


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0 <= index < count)."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"K/N"`` (as ``$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT``); UsageError otherwise."""
        k, sep, n = str(text).strip().partition("/")
        try:
            index, count = int(k), int(n)
        except ValueError:
            index = count = -1
        if not sep or count < 1 or not 0 <= index < count:
            raise UsageError(f"--shard {text!r}: expected K/N with 0 <= K < N, e.g. --shard 0/8")
        return cls(index, count)

    def owns(self, key: bytes) -> bool:
        return shard_of(key, self.count) == self.index

    def to_dict(self) -> dict[str, int]:
        return {"index": self.index, "count": self.count}

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_of(key: bytes, count: int) -> int:
    return int.from_bytes(hashlib.sha1(key).digest()[:8], "big") % count


def relative_key(root: str, path: str) -> bytes:
    """The bytes that place ``path`` (found under scan root ``root``) in a shard."""
    if path == root:
        return os.fsencode(os.path.basename(root))
    prefix = root if root.endswith(os.sep) else root + os.sep
    rel = path[len(prefix) :] if path.startswith(prefix) else os.path.relpath(path, root)
    return os.fsencode(rel)


def listed_key(line: str) -> bytes:
    """The bytes that place a ``--files-from`` line in a shard (``./a.jpg`` and ``a.jpg`` agree)."""
    raw = os.fsencode(line)
    while raw.startswith(b"./"):
        raw = raw[2:].lstrip(b"/")
    return raw


def listed_form(line: str, path: str, cwd: str) -> str:
    """How a ``--files-from`` line names its file: ``absolute`` (the path itself), ``relative`` (to ``cwd``)
    or ``other`` (``..``, ``//``...: its key cannot be told from the path the record holds)."""
    key, raw = listed_key(line), os.fsencode(path)
    if key == raw:
        return "absolute"
    prefix = os.fsencode(cwd if cwd.endswith(os.sep) else cwd + os.sep)
    return "relative" if raw.startswith(prefix) and key == raw[len(prefix) :] else "other"


def key_candidates(manifest: dict[str, Any]) -> Callable[[bytes], list[tuple[int, bytes]]] | None:
    """For the scan ``manifest`` describes: the shard keys a record's path (its bytes) may have come from, each
    with the index of its root (None: the manifest cannot tell).

    A folder walk keys a file by its path relative to the root it was found under (roots may overlap: every
    root above the path is a candidate, the first first); a ``--files-from`` scan by the listed line, which the
    manifest's ``shard_keys`` says how to rebuild (lines all absolute, all relative to the scan's folder, or both).
    """
    roots = [os.fsencode(r) for r in source_roots(manifest)]
    if roots:
        prefixes = [(i, r, r if r.endswith(b"/") else r + b"/") for i, r in enumerate(roots)]

        def under(raw: bytes) -> list[tuple[int, bytes]]:
            out = []
            for i, root, prefix in prefixes:
                if raw == root:
                    out.append((i, os.path.basename(root)))
                elif raw.startswith(prefix):
                    out.append((i, raw[len(prefix) :]))
            return out

        return under
    info = manifest.get("shard_keys") or {}
    form, cwd = info.get("listed"), decode_path(info.get("cwd") or "", info.get("cwd_b64") or "")
    if form not in ("absolute", "relative", "mixed") or not cwd:
        return None
    prefix = os.fsencode(cwd if cwd.endswith(os.sep) else cwd + os.sep)

    def listed(raw: bytes) -> list[tuple[int, bytes]]:
        out = [(0, raw)] if form != "relative" else []
        if form != "absolute" and raw.startswith(prefix):
            out.append((0, raw[len(prefix) :]))
        return out

    return listed


def owner_of(manifest: dict[str, Any], raw: bytes) -> str:
    """``shard J/N``: the shard a path (bytes) belongs to, for a message."""
    count = (manifest.get("shard") or {}).get("count")
    keys = (key_candidates(manifest) or (lambda r: []))(raw)
    return f"shard {shard_of(keys[0][1], count)}/{count}" if keys else "no shard of this scan (not under its roots)"
