"""``--files-from LIST``: scan an inventory instead of walking folders.

At 10^8 files listing folders is itself the bottleneck, and archives usually keep an inventory. The list
holds one path per line, or NUL-separated names with ``--null`` (as ``find -print0`` writes them: the
only form that can name a file whose name holds a newline); ``-`` reads standard input. It is read as it
is scanned, never held in memory whole.

Each listed path follows the rules of a path named on the command line (walk.py), except that a missing
one gets an ``error`` record instead of stopping the scan (an inventory is older than the archive):
- relative paths are relative to the current folder; records carry absolute paths;
- a listed file that is not an image gets a ``skipped`` record; fifos and devices a ``skipped`` record;
  links are followed;
- a listed folder is not entered (``find`` lists folders and their files alike, so entering them would scan
  files twice); it gets no record and is counted in the summary ("folders named in --files-from");
- empty lines are ignored; a path listed twice gets two records (the list is not held in memory to
  find repeats).
With ``--shard K/N`` the line decides the shard (see shard.py), before the file is even looked at, so each
shard of a job array touches only its own files.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from typing import BinaryIO

from synthsight.errors import UsageError
from synthsight.reports.record import encode_path
from synthsight.reports.shard import Shard, listed_form, listed_key
from synthsight.scanner.walk import Entry, Walker

CHUNK = 1 << 20


def read_list(fh: BinaryIO, null: bool = False) -> Iterator[str]:
    """The non-empty names of a list, one per line (or NUL-separated), as ``str`` holding their exact bytes."""
    sep = b"\0" if null else b"\n"
    tail = b""
    while chunk := fh.read(CHUNK):
        parts = (tail + chunk).split(sep)
        tail = parts.pop()
        for raw in parts:
            if raw:
                yield os.fsdecode(raw)
    if tail:
        yield os.fsdecode(tail)


class Inventory(Walker):
    """Iterates :class:`Entry` objects for the paths listed in ``source`` (a file name, or ``-`` for stdin)."""

    def __init__(
        self,
        source: str,
        null: bool = False,
        include: tuple[str, ...] = (),
        exclude: tuple[str, ...] = (),
        all_files: bool = False,
        shard: Shard | None = None,
    ):
        super().__init__((), include=include, exclude=exclude, all_files=all_files, shard=shard)
        self.source, self.null = source, null
        self.cwd = os.getcwd()  # relative lines are relative to it
        self.forms: set[str] = set()  # how the lines of this shard name their files (see shard.listed_form)
        if source == "-":
            self._fh: BinaryIO = sys.stdin.buffer
        else:
            try:
                self._fh = open(source, "rb")  # noqa: SIM115 (closed when the list is read to its end)
            except OSError as exc:
                raise UsageError(f"--files-from {source}: {exc.strerror or exc}") from None
            if stat.S_ISDIR(os.fstat(self._fh.fileno()).st_mode):
                self._fh.close()
                raise UsageError(f"--files-from {source}: is a folder; give a file with one path per line")

    def _owns(self, path: str) -> bool:
        return True  # the shard was decided by the listed line, before the file was looked at

    def __iter__(self) -> Iterator[Entry]:
        try:
            for line in read_list(self._fh, self.null):
                if self.shard is not None and not self.shard.owns(listed_key(line)):
                    continue
                yield from self._listed(line)
        finally:
            if self._fh is not sys.stdin.buffer:
                self._fh.close()

    def _listed(self, line: str) -> Iterator[Entry]:
        path = os.path.abspath(line)
        if self.shard is not None:
            self.forms.add(listed_form(line, path, self.cwd))
        name = os.path.basename(path)
        if self._excluded(path, name):
            self._count("excluded", path)
            return
        if self.include and not self._matches(path, name, self.include):
            self._count("not_included", path)
            return
        try:
            st = os.stat(path)
        except FileNotFoundError:
            why = "broken symbolic link" if os.path.islink(path) else "missing: listed in --files-from, not found"
            yield Entry(path, "error", why)
            return
        except OSError as exc:
            yield Entry(path, "error", f"cannot read: {(exc.strerror or type(exc).__name__).lower()}")
            return
        if stat.S_ISDIR(st.st_mode):
            self._count("listed_folder", path)
            return
        yield from self._file(path, st, named=True)

    def describe(self) -> dict[str, object]:
        return {"files_from": self.source if self.source == "-" else os.path.abspath(self.source), "null": self.null}

    def shard_keys(self) -> dict[str, str] | None:
        """How the lines of this shard were keyed, so that `merge` can check each record belongs to it."""
        forms = self.forms or {"absolute"}
        listed = "other" if "other" in forms else "mixed" if len(forms) > 1 else next(iter(forms))
        cwd, cwd_b64 = encode_path(self.cwd)
        return {"listed": listed, "cwd": cwd, **({"cwd_b64": cwd_b64} if cwd_b64 else {})}
