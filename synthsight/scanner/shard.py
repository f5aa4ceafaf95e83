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
from dataclasses import dataclass

from synthsight.errors import UsageError


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
