"""Read and merge scan reports for the review page, in page order, with every string made inert.

Reports are read with the scanner's own reader (:func:`synthsight.reports.writers.read_records`) and
their run manifests (inside a JSON report, beside a CSV/JSONL one). Several reports merge into one
list: a record that two reports hold identically (the CSV and the JSON of one scan) appears once; the
same path with a different outcome (two models, two dates) is kept from each report and counted as a
conflict, never silently dropped.

Page order: scored records by score, highest first; then errors, then skipped files; ties by path.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthsight.errors import UsageError
from synthsight.reports.manifest import manifest_of
from synthsight.reports.writers import VERDICTS, Record, read_records

TEXT_LIMIT = 1000  # characters of evidence, error or notes kept per record: one hostile cell cannot bloat the page
DETAIL_LIMIT = 4000  # characters of provenance_detail (pretty JSON) kept per record
_ERROR_KIND = re.compile(r"\s*([A-Za-z][A-Za-z0-9 _-]{0,39}?)\s*(?:[:(]|$)")


def inert(value: Any, limit: int | None = None) -> str:
    """``value`` as text that displays as itself: one line, every invisible or reordering character shown.

    Control characters, right-to-left overrides and other format characters become Python escapes
    (``\\u202e``), bytes that were not UTF-8 (surrogate-escaped) ``\\xNN``, as the reports write them.
    The text still goes into the page as data (JSON, ``textContent``), never as markup.
    """
    text = value if isinstance(value, str) else str(value)
    if not text.isprintable():
        text = "".join(_shown(c) for c in text)
    if limit is not None and len(text) > limit:
        text = f"{text[:limit]}… ({len(text) - limit} more characters)"
    return text


def _shown(ch: str) -> str:
    if ch.isprintable():
        return ch
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (os.fsdecode's surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return ch.encode("unicode_escape", "backslashreplace").decode("ascii")


def error_kind(error: str) -> str:
    """The short cause an error message starts with (``truncated``, ``decode worker died``), else ``other``."""
    if not error:
        return ""
    match = _ERROR_KIND.match(error)
    return match.group(1).lower() if match else "other"


@dataclass
class Source:
    """One report given to the page: where it is, its run manifest (None when absent), its record count."""

    path: Path
    manifest: dict[str, Any] | None
    records: int = 0

    @property
    def threshold(self) -> float | None:
        value = (self.manifest or {}).get("threshold")
        return float(value) if isinstance(value, (int, float)) else None


@dataclass
class Merged:
    """Records of one or more reports in page order; ``origin[i]`` is the index in ``sources`` of record i."""

    records: list[Record]
    origin: list[int]
    sources: list[Source]
    duplicates: int = 0  # identical records held by more than one report, shown once
    conflicts: int = 0  # paths with different outcomes in different reports, each kept
    warnings: list[str] = field(default_factory=list)


def load_reports(paths: list[str | Path]) -> Merged:
    """Read and merge ``paths`` (CSV, JSONL or JSON scan reports); a report that cannot be read is a UsageError."""
    if not paths:
        raise UsageError("give at least one scan report (.csv, .jsonl or .json)")
    sources: list[Source] = []
    seen: dict[str, tuple] = {}  # path -> outcome of its first record
    conflicting: set[str] = set()
    records: list[Record] = []
    origin: list[int] = []
    duplicates = 0
    for k, path in enumerate(paths):
        recs, source = _read_one(Path(path))
        sources.append(source)
        for r in recs:
            outcome = (r.sha256, r.verdict, r.score, r.error, r.provenance)
            first = seen.setdefault(r.path, outcome)
            if first is not outcome:
                if first == outcome:
                    duplicates += 1
                    continue
                conflicting.add(r.path)
            records.append(r)
            origin.append(k)
    order = sorted(range(len(records)), key=lambda i: _order_key(records[i]))
    merged = Merged([records[i] for i in order], [origin[i] for i in order], sources, duplicates, len(conflicting))
    merged.warnings = _warnings(merged)
    return merged


def _read_one(path: Path) -> tuple[list[Record], Source]:
    if not path.is_file():
        raise UsageError(f"{path}: no such report file")
    if path.suffix.lower() not in (".csv", ".jsonl", ".json"):
        raise UsageError(f"{path}: not a scan report (expected .csv, .jsonl or .json)")
    try:
        records, _ = read_records(path)
        manifest = manifest_of(path)
    except UsageError as exc:
        raise UsageError(f"{path}: {exc}") from None
    except (UnicodeDecodeError, ValueError, TypeError, KeyError, AttributeError) as exc:
        # a report synthsight wrote is valid UTF-8 JSON/CSV; anything else was damaged or is not one
        raise UsageError(f"{path}: not a readable synthsight scan report ({type(exc).__name__}: {exc})") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return records, Source(path, manifest, len(records))


def _order_key(r: Record) -> tuple:
    rank = 0 if r.score is not None else 1 if r.verdict == "error" else 2
    return (rank, -(r.score or 0.0), r.path)


def _warnings(merged: Merged) -> list[str]:
    out = []
    models = {(s.manifest or {}).get("model", {}).get("sha256") for s in merged.sources if s.manifest}
    thresholds = {s.threshold for s in merged.sources if s.threshold is not None}
    if len(models - {None, ""}) > 1:
        out.append(
            f"these reports were made by {len(models - {None, ''})} different models: their scores differ in kind"
        )
    if len(thresholds) > 1:
        shown = ", ".join(f"{t:.4g}" for t in sorted(thresholds))
        out.append(f"the reports use different thresholds ({shown}); each record's verdict follows its own report's")
    if merged.conflicts:
        out.append(
            f"{merged.conflicts} paths have different outcomes in different reports: each report's record is shown"
        )
    missing = [s.path.name for s in merged.sources if s.manifest is None]
    if missing:
        out.append(f"no run manifest for {', '.join(missing)}: model and threshold unknown there")
    unfinished = [s.path.name for s in merged.sources if (s.manifest or {}).get("status") not in (None, "complete")]
    if unfinished:
        out.append(f"scan not complete for {', '.join(unfinished)} (interrupted, failed or still running)")
    return out


def folder_of(display_path: str) -> str:
    """The folder part of a display path (what the per-folder counts group by)."""
    head = display_path.rsplit(os.sep, 1)[0] if os.sep in display_path else "."
    return head or os.sep


def verdict_names(records: list[Record]) -> list[str]:
    """The verdicts in their documented order, then any other value a hand-edited report holds."""
    extra = sorted({r.verdict for r in records} - set(VERDICTS))
    return list(VERDICTS) + extra
