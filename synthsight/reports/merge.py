"""``synthsight merge OUT SHARD_REPORT...``: the reports of ``scan --shard K/N`` as one report, in walk order.

Each shard report is a CSV or JSONL report with its run manifest beside it. Before anything is written,
merge refuses (one line, exit 2) shards that do not belong together: made by another model file,
threshold, preprocessing or class list, another N, other roots or walk options, or not finished; and it
names the shards given twice and the shards missing. The records are then merged in walk order without
walking again: the walk visits the names of each folder in byte order, depth first, and the roots in
command-line order, so ordering the records by (root, path components as bytes) *is* the walk order.
(Records of a ``--files-from`` scan are ordered by the bytes of their paths.) Shard reports are already
in that order, so they are merged as streams in constant memory; a shard that is not (files added to a
folder between an interrupted run and its --resume, or a files-from shard) is sorted in memory. A file
recorded more than once (overlapping roots, a path listed twice) keeps every record and is reported.

The merged manifest names every shard (report, command line, counts, times) and is written beside a
CSV/JSONL report, or inside a JSON one. The output is written to a temporary file and renamed.
"""

from __future__ import annotations

import heapq
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from synthsight import __version__
from synthsight.atomic import Atomic
from synthsight.errors import UsageError
from synthsight.reports import manifest as manifests
from synthsight.reports.writers import (
    STREAM_FORMATS,
    VERDICTS,
    Record,
    check_output,
    encode_path,
    iter_records,
    writer_for,
)

# What shards of one scan share besides manifests.IDENTITY (model file, threshold, preprocessing, classes).
SAME_SCAN = (
    ("N of --shard K/N", lambda m: (m.get("shard") or {}).get("count")),
    ("what was scanned (roots or --files-from, walk options)", lambda m: m.get("source")),
    ("--max-pixels", lambda m: m.get("max_pixels")),
)
# The resume identity but the shard (hashing included: what a report is made of must not mix either).
SAME_MODEL = tuple((name, get) for name, get in manifests.IDENTITY if name != manifests.SHARD_IDENTITY)
CHUNK = 4096  # records per write
SHOWN = 5  # paths named in the line about files recorded twice


@dataclass
class ShardReport:
    report: Path
    manifest: dict[str, Any]

    @property
    def index(self) -> int:
        return self.manifest["shard"]["index"]

    @property
    def count(self) -> int:
        return self.manifest["shard"]["count"]


@dataclass
class MergeSummary:
    out: Path
    shards: int
    counts: dict[str, int]
    twice: int = 0
    twice_shown: list[str] = field(default_factory=list)

    @property
    def line(self) -> str:
        parts = ", ".join(f"{self.counts.get(v, 0)} {v}" for v in VERDICTS)
        line = f"merged {self.shards} shards: {sum(self.counts.values())} records ({parts}); report: {self.out}"
        if self.twice:
            shown = ", ".join(encode_path(p)[0] for p in self.twice_shown)
            more = ", ..." if self.twice > len(self.twice_shown) else ""
            line += f"; {self.twice} files are recorded more than once (all records kept): {shown}{more}"
        return line


class _OutOfOrder(Exception):
    def __init__(self, shard: ShardReport):
        self.shard = shard


def merge(out: str | Path, reports: list[str | Path], overwrite: bool = False, command_line: str = "") -> MergeSummary:
    """Merge the shard reports into ``out`` (any report format); see the module docstring for the checks."""
    target = check_output(out, resume=False, overwrite=overwrite)
    shards = [_shard(Path(r)) for r in reports]
    if not shards:
        raise UsageError("merge: give the shard reports (.csv or .jsonl) of one `scan --shard K/N` job")
    if any(os.path.abspath(s.report) == str(target) for s in shards):
        raise UsageError(f"merge: {target} is one of the shard reports; write the merged report elsewhere")
    _check_together(shards)
    key = order_key(shards[0].manifest)
    in_memory: set[int] = set()
    while True:
        try:
            return _write(target, shards, key, in_memory, command_line)
        except _OutOfOrder as exc:
            in_memory.add(exc.shard.index)


def _shard(report: Path) -> ShardReport:
    if report.suffix.lower() not in STREAM_FORMATS:
        raise UsageError(f"merge: {report} is not a .csv or .jsonl report (shards are merged from those)")
    if not report.is_file():
        raise UsageError(f"merge: {report}: no such report")
    manifest = _read_manifest(report)
    shard = manifest.get("shard")
    if not isinstance(shard, dict) or not isinstance(shard.get("count"), int):
        raise UsageError(f"merge: {report} is not a shard (it was scanned without --shard K/N)")
    if manifest.get("status") != "complete":
        raise UsageError(
            f"merge: shard {shard['index']}/{shard['count']} ({report}) is {manifest.get('status')}: "
            "finish it first (run its scan command again with --resume)"
        )
    return ShardReport(report, manifest)


def _read_manifest(report: Path) -> dict[str, Any]:
    try:
        data = manifests.manifest_of(report)
    except manifests.ManifestUnreadable as exc:
        raise UsageError(f"merge: {exc}") from None
    if data is None:
        name = manifests.manifest_path(report).name
        raise UsageError(f"merge: {report} has no run manifest ({name}) to check it by")
    return data


def _check_together(shards: list[ShardReport]) -> None:
    first = shards[0]
    for other in shards[1:]:
        differ = [name for name, get in SAME_MODEL + SAME_SCAN if get(other.manifest) != get(first.manifest)]
        if differ:
            model = (other.manifest.get("model") or {}).get("sha256") or "?"
            raise UsageError(
                f"merge: {other.report} does not belong with {first.report}: it differs in {', '.join(differ)} "
                f"(model sha256 {model[:12]}, threshold {other.manifest.get('threshold')}); "
                "merge the shards of one scan command"
            )
    by_index: dict[int, list[Path]] = {}
    for s in shards:
        by_index.setdefault(s.index, []).append(s.report)
    twice = {k: v for k, v in sorted(by_index.items()) if len(v) > 1}
    if twice:
        named = "; ".join(f"shard {k}/{first.count}: {', '.join(map(str, v))}" for k, v in twice.items())
        raise UsageError(f"merge: shards given more than once: {named}")
    missing = [k for k in range(first.count) if k not in by_index]
    if missing:
        named = ", ".join(f"{k}/{first.count}" for k in missing[:20]) + (", ..." if len(missing) > 20 else "")
        raise UsageError(f"merge: missing {len(missing)} of {first.count} shards: {named}")


def order_key(manifest: dict[str, Any]) -> Callable[[str], tuple]:
    """A sort key equal to the walk's order for the scan ``manifest`` describes (byte order for --files-from)."""
    roots = manifests.source_roots(manifest)
    if not roots:
        return lambda path: (0, (os.fsencode(path),))
    prefixes = [(i, root, root if root.endswith(os.sep) else root + os.sep) for i, root in enumerate(roots)]

    def key(path: str) -> tuple:
        for i, root, prefix in prefixes:
            if path == root:
                return (i, ())
            if path.startswith(prefix):
                return (i, tuple(os.fsencode(path[len(prefix) :]).split(b"/")))
        return (len(roots), tuple(os.fsencode(path).split(b"/")))

    return key


def _stream(shard: ShardReport, key: Callable[[str], tuple], in_memory: set[int]) -> Iterator[tuple[tuple, Record]]:
    if shard.index in in_memory:
        yield from sorted(((key(r.path), r) for r in iter_records(shard.report)), key=lambda kr: kr[0])
        return
    last: tuple | None = None
    for r in iter_records(shard.report):
        k = key(r.path)
        if last is not None and k < last:
            raise _OutOfOrder(shard)
        last = k
        yield k, r


def _write(target: Path, shards: list[ShardReport], key, in_memory: set[int], command_line: str) -> MergeSummary:
    streams = [_stream(s, key, in_memory) for s in shards]
    summary = MergeSummary(target, len(shards), dict.fromkeys(VERDICTS, 0))
    is_stream = target.suffix.lower() in STREAM_FORMATS
    atomic = Atomic(target) if is_stream else None  # a JSON report is written atomically by its own writer
    writer = writer_for(target)(atomic.tmp if atomic else target)
    try:
        chunk: list[Record] = []
        last_key, last_twice = None, None
        for k, record in heapq.merge(*streams, key=lambda kr: kr[0]):
            if k == last_key and k != last_twice:
                summary.twice += 1
                last_twice = k
                if len(summary.twice_shown) < SHOWN:
                    summary.twice_shown.append(record.path)
            last_key = k
            summary.counts[record.verdict] = summary.counts.get(record.verdict, 0) + 1
            chunk.append(record)
            if len(chunk) >= CHUNK:
                writer.write(chunk)
                chunk = []
        writer.write(chunk)
    except BaseException:
        writer.abort()
        if atomic:
            atomic.discard()
        raise
    manifest = merged_manifest(shards, summary, target, command_line)
    writer.close(manifest)
    if atomic:
        atomic.commit()
        manifests.write_manifest(target, manifest, [])
    return summary


def merged_manifest(
    shards: list[ShardReport], summary: MergeSummary, target: Path, command_line: str
) -> dict[str, Any]:
    """The first shard's manifest for what they share, with counts over all, and one entry per shard."""
    ordered = sorted(shards, key=lambda s: s.index)
    base = {k: v for k, v in ordered[0].manifest.items() if k not in ("earlier_runs", "report")}
    walked: dict[str, int] = {}
    for s in ordered:
        for k, v in (s.manifest.get("walked") or {}).items():
            walked[k] = walked.get(k, 0) + int(v or 0)
    walked["records"] = sum(summary.counts.values())
    return {
        **base,
        "command_line": command_line or " ".join(sys.argv),
        "status": "complete",
        "resumed": any(s.manifest.get("resumed") for s in ordered),
        "shard": None,
        "started": min(s.manifest.get("started") or "" for s in ordered),
        "finished": max(s.manifest.get("finished") or "" for s in ordered),
        "seconds": round(sum(float(s.manifest.get("seconds") or 0) for s in ordered), 3),
        "counts": dict(summary.counts),
        "walked": walked,
        "counts_with_earlier_runs": None,
        "images_per_second": None,
        "outputs": [str(target)],
        "recorded_more_than_once": {"files": summary.twice, "first": [encode_path(p)[0] for p in summary.twice_shown]},
        "merged": {
            "tool": "synthsight",
            "version": __version__,
            "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "shards": [_shard_entry(s) for s in ordered],
        },
    }


def _shard_entry(s: ShardReport) -> dict[str, Any]:
    m = s.manifest
    keep = ("command_line", "status", "resumed", "backend", "device", "precision", "started", "finished", "seconds")
    return {
        "index": s.index,
        "count": s.count,
        "report": str(s.report.resolve()),
        **{k: m.get(k) for k in keep},
        "counts": m.get("counts_with_earlier_runs") or m.get("counts"),
        "earlier_runs": len(m.get("earlier_runs") or []),
    }
