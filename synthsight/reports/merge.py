"""``synthsight merge OUT SHARD_REPORT...``: the reports of ``scan --shard K/N`` as one report, in walk order.

Each shard report is a CSV or JSONL report with its run manifest beside it. Before anything is written,
merge refuses (one line, exit 2) shards that do not belong together: made by another model file,
threshold, preprocessing or class list, another N, other roots or walk options, or not finished; it names
the shards given twice and the shards missing; and, reading each shard once, it refuses a shard whose
report holds another number of records than its manifest counts (lines cut, edited or appended after its
scan) or a record of a file that is not this shard's (each path is checked against the shard hash).

The records are then merged in walk order without walking again: the walk visits the names of each folder
in byte order, depth first, and the roots in command-line order, so ordering the records by (root, path
components as bytes) *is* the walk order. (Records of a ``--files-from`` scan are ordered by the bytes of
their paths: a list's own order is not in the records.) The merge is external (runs.py): a shard in that
order is read in place, the out-of-order rest of one (files added to a folder between an interrupted run
and its --resume, any --files-from shard) is sorted on disk in chunks, so memory does not grow with the
record count. Lines already in the merged report's format are copied unchanged, JSONL lines into a CSV are
converted line to line (lines.py). A file recorded more than once (overlapping roots, a path listed twice)
keeps every record and is reported.

The merged manifest names every shard (report, command line, counts, times) and is written beside a
CSV/JSONL report, or inside a JSON one. The output is written to a temporary file and renamed.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from synthsight import __version__
from synthsight.atomic import Atomic
from synthsight.errors import UsageError
from synthsight.reports import manifest as manifests
from synthsight.reports.lines import Lines, jsonl_to_csv, open_lines
from synthsight.reports.runs import Run, Spill
from synthsight.reports.shard import key_candidates, owner_of, shard_of
from synthsight.reports.writers import (
    STREAM_FORMATS,
    VERDICTS,
    check_output,
    encode_path,
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


def merge(out: str | Path, reports: list[str | Path], overwrite: bool = False, command_line: str = "") -> MergeSummary:
    """Merge the shard reports into ``out`` (any report format); see the module docstring for the checks."""
    target = check_output(out, resume=False, overwrite=overwrite)
    shards = [_shard(Path(r)) for r in reports]
    if not shards:
        raise UsageError("merge: give the shard reports (.csv or .jsonl) of one `scan --shard K/N` job")
    if any(os.path.abspath(s.report) == str(target) for s in shards):
        raise UsageError(f"merge: {target} is one of the shard reports; write the merged report elsewhere")
    _check_together(shards)
    with Spill(target) as spill:
        formats: list[Lines] = []
        runs: list[Run] = []
        for s in shards:  # the first pass: every shard read once, checked, its out-of-order rest sorted on disk
            runs += _shard_runs(s, spill, formats)
        summary = MergeSummary(target, len(shards), dict.fromkeys(VERDICTS, 0))
        writer, tmp = open_target(target)
        write_items(writer, tmp, spill.merged(runs), formats, summary)
        close_target(writer, tmp, target, merged_manifest(shards, summary, target, command_line))
    return summary


def _shard_runs(shard: ShardReport, spill: Spill, formats: list[Lines]) -> list[Run]:
    """The shard's records as runs in walk order; refuses a shard that lost records or holds another's files."""
    lines, _ = open_lines(shard.report)
    formats.append(lines)
    fmt = len(formats) - 1
    keyed = record_key(shard.manifest)
    name = f"shard {shard.index}/{shard.count} ({shard.report})"
    seen = 0

    def items(check: bool) -> Iterator[tuple]:
        nonlocal seen
        for line in open_lines(shard.report)[1]:
            raw, verdict = lines.fields(line)
            key, owned = keyed(raw)
            if check:
                seen += 1
                if not owned:
                    raise UsageError(
                        f"merge: {name} holds {encode_path(os.fsdecode(raw))[0]!r}, a file of "
                        f"{owner_of(shard.manifest, raw)}: it is not this shard's report (a report copied or written "
                        "over?); rescan the shard into its own report"
                    )
            yield key, verdict, fmt, line

    runs = spill.runs(items(True), lambda n: itertools.islice(items(False), n))
    expected = expected_records(shard.manifest)
    if expected is not None and seen != expected:
        raise UsageError(
            f"merge: {name} holds {seen} records but its manifest counts {expected}: the report lost or gained "
            "lines after its scan (cut, edited or appended to); rescan the shard (its command with --overwrite)"
        )
    return runs


def record_key(manifest: dict[str, Any]) -> Callable[[bytes], tuple[bytes, bool]]:
    """For a record's path (bytes): its place in the walk order of the scan ``manifest`` describes (byte order
    for --files-from), and whether it belongs to the manifest's shard (True when the manifest cannot tell).

    The place is one bytes string, compared in C: the root's index, then the path below it with each ``/`` made
    NUL. No name holds a NUL, so comparing these equals comparing the (root, components) tuples the walk orders by.
    """
    roots = [os.fsencode(r) for r in manifests.source_roots(manifest)]
    candidates = key_candidates(manifest)
    shard = manifest.get("shard") or {}
    index, count = shard.get("index"), shard.get("count")
    check = candidates is not None and isinstance(count, int)

    def key(raw: bytes) -> tuple[bytes, bool]:
        found = candidates(raw) if candidates is not None else []
        owned = not check or any(shard_of(k, count) == index for _, k in found)
        if not roots:
            return raw, owned
        if not found:
            return len(roots).to_bytes(4, "big") + raw.replace(b"/", b"\0"), owned
        i, rel = found[0]
        return i.to_bytes(4, "big") + (b"" if raw == roots[i] else rel.replace(b"/", b"\0")), owned

    return key


def expected_records(manifest: dict[str, Any]) -> int | None:
    """How many records the report of ``manifest`` holds, as its scan wrote them (None: it cannot say)."""
    if isinstance(manifest.get("report_records"), int):
        return manifest["report_records"]
    if not manifest.get("resumed") and isinstance(manifest.get("counts"), dict):
        return sum(int(v or 0) for v in manifest["counts"].values())  # an older manifest of a run in one go
    return None


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


def open_target(target: Path) -> tuple[Any, Atomic | None]:
    """A writer for the merged report: a stream report is written to a temporary name (renamed by
    :func:`close_target`), a JSON one renames its own temporary file when closed."""
    if target.suffix.lower() not in STREAM_FORMATS:
        return writer_for(target)(target), None
    atomic = Atomic(target)
    return writer_for(target)(atomic.tmp), atomic


def write_items(
    writer: Any, tmp: Atomic | None, items: Iterable[tuple], formats: list[Lines], summary: MergeSummary
) -> None:
    """Write ``(key, verdict, format index, line)`` items in the target's format, counting them.

    Lines already in the target's format are copied as they are, JSONL lines into a CSV are converted line to
    line (lines.jsonl_to_csv); the others become records, written anew.
    """
    target = summary.out.suffix.lower()
    # How each source's lines go out: "copy", "csv" (JSONL lines converted) or "record".
    modes = ["copy" if f.passes_to(target) else "csv" if (f.suffix, target) == (".jsonl", ".csv") else "record"
             for f in formats]  # fmt: skip
    pending: list[str] = []  # lines of one mode, in order
    mode = "copy"
    last_key, last_twice = None, None
    try:
        for k, verdict, fmt, line in items:
            if k == last_key and k != last_twice:
                summary.twice += 1
                last_twice = k
                if len(summary.twice_shown) < SHOWN:
                    summary.twice_shown.append(os.fsdecode(formats[fmt].fields(line)[0]))
            last_key = k
            summary.counts[verdict] = summary.counts.get(verdict, 0) + 1
            if modes[fmt] != mode or len(pending) >= CHUNK:
                _flush(writer, pending, mode)
                pending, mode = [], modes[fmt]
            pending.append(line if mode != "record" else formats[fmt].record(line))
        _flush(writer, pending, mode)
    except BaseException:
        _abort(writer, tmp)
        raise


def _flush(writer: Any, pending: list, mode: str) -> None:
    """Write ``pending`` (lines, or records in mode "record") as ``mode`` says (see write_items)."""
    if not pending:
        return
    if mode == "copy":
        writer.write_lines(pending)
    elif mode == "csv":
        writer.write_lines([jsonl_to_csv(pending)])
    else:
        writer.write(pending)


def close_target(writer: Any, tmp: Atomic | None, target: Path, manifest: dict[str, Any]) -> None:
    try:
        writer.close(manifest)
    except BaseException:
        _abort(writer, tmp)
        raise
    if tmp is not None:
        tmp.commit()
        manifests.write_manifest(target, manifest, [])


def _abort(writer: Any, atomic: Atomic | None) -> None:
    writer.abort()
    if atomic is not None:
        atomic.discard()


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
        "report_records": sum(summary.counts.values()),
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
