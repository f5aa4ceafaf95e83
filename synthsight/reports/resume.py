"""--resume: continue a scan from its CSV/JSONL reports so that the final records equal an uninterrupted run's.

A file is skipped when every stream report already holds a record for the same path with the same
size and modification time. Records that say nothing about the file itself (reason `worker-died`)
are retried, and at the end of a completed resumed scan each stream report is rewritten (atomically)
with one record per path, the latest, in walk order, when it holds a superseded line or its records left walk
order: a scan that stopped with a gap (a ``--ray`` scan's lost block, records cut from a report) gets the
missing files appended at the end, and the rewrite puts them back in their place, so the resumed report equals an
uninterrupted run's line for line. A report cut mid-line (power loss, kill -9) is truncated to its
last complete line before appending.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

from synthsight.atomic import Atomic
from synthsight.errors import UsageError
from synthsight.reports import parts
from synthsight.reports.lines import Lines
from synthsight.reports.writers import COLUMNS, STREAM_FORMATS, Record, mtime_text, read_records, writer_for


class Walked(Protocol):
    """What --resume needs of a walked entry (:class:`synthsight.scanner.walk.Entry`): reports sit below the scan."""

    path: str
    size: int | None
    mtime_ns: int | None


class Previous:
    """What earlier runs recorded, per stream report."""

    def __init__(
        self, known: dict[Path, dict[str, Record]], lengths: dict[Path, int], counts: dict[Path, int] | None = None
    ):
        self.known = known
        self.lengths = lengths
        self.counts = counts or {}  # records (lines) in each stream report when the run started
        self.produced: set[str] = set()
        self.dirty: set[Path] = set()
        self.compacted: dict[Path, int] = {}  # records in each report rewritten by compact()
        self.order: dict[str, int] = {}  # walk position of each path walked in this run (compact() sorts by it)

    @staticmethod
    def _same(rec: Record | None, entry_size: int | None, mtime: str) -> bool:
        return rec is not None and not rec.transient and rec.bytes == entry_size and rec.mtime == mtime

    def should_skip(self, entry: Walked) -> bool:
        if not self.known:
            return False
        self.order.setdefault(entry.path, len(self.order))
        mtime = mtime_text(entry.mtime_ns)
        return all(self._same(recs.get(entry.path), entry.size, mtime) for recs in self.known.values())

    def fresh_for(self, out: Path, records: list[Record]) -> list[Record]:
        """The records ``out`` still needs: a stream report that has an equal, final record is not repeated."""
        self.produced.update(r.path for r in records)
        recs = self.known.get(out)
        if recs is None:
            return records
        fresh = []
        for r in records:
            old = recs.get(r.path)
            if self._same(old, r.bytes, r.mtime) and old.verdict == r.verdict:
                continue
            if old is not None:
                self.dirty.add(out)  # an older line for this path is superseded
            fresh.append(r)
        return fresh

    def keep_line(self, out: Path, suffix: str) -> Callable[[str], bool]:
        """As :meth:`fresh_for`, for one report line (of ``suffix``) at a time: False for a line ``out`` holds."""
        lines, recs = Lines(suffix), self.known.get(out)

        def keep(line: str) -> bool:
            path = os.fsdecode(lines.fields(line)[0])
            self.produced.add(path)
            old = recs.get(path) if recs else None
            if old is None:
                return True
            new = lines.record(line)
            if self._same(old, new.bytes, new.mtime) and old.verdict == new.verdict:
                return False
            self.dirty.add(out)
            return True

        return keep

    def remaining(self) -> list[Record]:
        """Earlier records not rescanned in this run (for the JSON report, which is rewritten whole)."""
        if not self.known:
            return []
        first = next(iter(self.known.values()))
        return [r for p, r in first.items() if p not in self.produced]

    def truncate_partial(self, out: Path) -> None:
        good = self.lengths.get(out)
        if good is not None and out.stat().st_size > good:
            with open(out, "r+b") as fh:
                fh.truncate(good)

    def compact(self) -> None:
        """Rewrite, atomically, each stream report that holds a superseded line or whose records left walk order:
        one record per path (the latest), in walk order; a path this run did not walk (gone since) keeps its
        place after the walked ones, in report order."""
        unwalked = len(self.order)
        for out in sorted(self.known):
            if not out.exists():
                continue
            records, _ = read_records(out)
            latest = {r.path: r for r in records}
            ordered = sorted(latest.values(), key=lambda r: self.order.get(r.path, unwalked))  # stable
            if (
                out not in self.dirty
                and len(ordered) == len(records)
                and all(a is b for a, b in zip(ordered, records, strict=True))
            ):
                continue
            with Atomic(out) as tmp:
                writer = writer_for(out)(tmp)
                writer.write(ordered)
                writer.close()
            self.compacted[out] = len(latest)

    def records_in(self, out: Path) -> int:
        """Records ``out`` held when this run started (after truncating a cut last line)."""
        return self.counts.get(out, 0)


def _check_columns(out: Path) -> None:
    """New lines must match the report's header: a CSV of an older synthsight (fewer columns) is not appended to."""
    if out.suffix.lower() != ".csv":
        return
    with open(out, encoding="utf-8", newline="") as fh:
        header = tuple(next(csv.reader([fh.readline()]), []))
    if header != COLUMNS:
        missing = ", ".join(c for c in COLUMNS if c not in header)
        raise UsageError(
            f"--resume: {out} was written by an older synthsight (no {missing} columns): finish it with that "
            "version, or write a new report"
        )


def _fold_leftovers(outs: list[Path], streams: list[Path]) -> None:
    """The part files of a ``scan --ray`` whose driver died go into the reports first (reports/parts.py)."""
    folder = parts.parts_folder(outs[0])
    if not folder.is_dir():
        return

    def keep_of(out: Path, lines: Lines) -> Callable[[str], bool]:
        known: dict[str, Record] = {}
        if out.exists() and out.stat().st_size:
            records, good = read_records(out)
            known = {r.path: r for r in records}
            with open(out, "r+b") as fh:  # a line cut mid-way goes before anything is appended
                fh.truncate(good)

        def keep(line: str) -> bool:
            old = known.get(os.fsdecode(lines.fields(line)[0]))
            if old is None:
                return True
            new = lines.record(line)
            return not (Previous._same(old, new.bytes, new.mtime) and old.verdict == new.verdict)

        return keep

    for out in streams:
        parts.fold_leftovers(out, outs[0], keep_of)
    parts.remove(folder)


def load(outs: Iterable[Path]) -> Previous:
    """Read the stream reports among ``outs`` (CSV/JSONL); a missing or empty one means nothing done yet."""
    outs = list(outs)
    streams = [o for o in outs if writer_for(o).streamed]
    if not streams:
        formats = " or ".join(STREAM_FORMATS)
        raise UsageError(f"--resume needs a {formats} --out: those are the reports a scan resumes from")
    _fold_leftovers(outs, streams)
    known: dict[Path, dict[str, Record]] = {}
    lengths: dict[Path, int] = {}
    counts: dict[Path, int] = {}
    for out in streams:
        if not out.exists() or out.stat().st_size == 0:
            known[out] = {}
            continue
        try:
            records, good = read_records(out)
        except (ValueError, UnicodeDecodeError, KeyError) as exc:
            raise UsageError(f"--resume: {out} is not a synthsight report ({exc})") from None
        _check_columns(out)
        known[out] = {r.path: r for r in records}
        lengths[out], counts[out] = good, len(records)
    return Previous(known, lengths, counts)
