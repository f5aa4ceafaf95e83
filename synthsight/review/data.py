"""What the review page shows, as plain data: the summary, the index every filter runs on, row chunks.

- The **summary** (counts, histogram, folders, manifests) is small and goes inside the HTML file.
- The **index** holds, for every record, what filters and sorting need (path, score, verdict,
  provenance class, error kind) as parallel arrays; it is one file the page loads at start.
- **Rows** hold the rest (SHA-256, sizes, evidence, error text, media names) in chunks of
  :data:`CHUNK` records in page order; the page loads only the chunks of the rows it shows.

Every string here has been through :func:`inert`; media are named by 64 hex digits only, so the
page can build their links without ever using a path from a report.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from synthsight.reports.writers import Record
from synthsight.review.records import DETAIL_LIMIT, TEXT_LIMIT, Merged, error_kind, folder_of, inert, verdict_names
from synthsight.review.thumbs import Media

CHUNK = 500  # records per row file: a page of scattered rows loads at most page-size chunks of this size
HISTOGRAM_BINS = 20
TOP_FOLDERS = 15
MAX_ERROR_KINDS = 30  # more distinct causes than this fold into "other" (a hand-made report could hold millions)
MAX_EARLIER_RUNS = 10
_HEX64 = re.compile(r"[0-9a-f]{64}")


def summary(merged: Merged, media: dict[int, Media], thumbs_limit: int) -> dict[str, Any]:
    """Counts per verdict and provenance class, score histogram, largest folders, reports and manifests."""
    records = merged.records
    verdicts = Counter(r.verdict for r in records)
    provenance = Counter(r.provenance for r in records if r.provenance)
    bins = {"ai": [0] * HISTOGRAM_BINS, "real": [0] * HISTOGRAM_BINS}
    for r in records:
        if r.score is not None and r.verdict in bins:
            bins[r.verdict][min(HISTOGRAM_BINS - 1, max(0, int(r.score * HISTOGRAM_BINS)))] += 1
    folders: dict[str, list[int]] = {}
    for r in records:
        entry = folders.setdefault(folder_of(inert(r.path)), [0, 0, 0])
        entry[0] += 1
        entry[1] += r.verdict == "ai"
        entry[2] += r.verdict == "error"
    largest = sorted(folders.items(), key=lambda kv: (-kv[1][0], kv[0]))[:TOP_FOLDERS]
    return {
        "total": len(records),
        "verdicts": [[v, verdicts.get(v, 0)] for v in verdict_names(records)],
        "provenance": [[inert(k, 60), n] for k, n in provenance.most_common()],
        "histogram": bins,
        "thresholds": sorted({s.threshold for s in merged.sources if s.threshold is not None}),
        "folders": [[name, *counts] for name, counts in largest],
        "root": common_root(list(folders)),
        "folder_count": len(folders),
        "reports": [_source(s) for s in merged.sources],
        "warnings": [inert(w) for w in merged.warnings],
        "duplicates": merged.duplicates,
        "conflicts": merged.conflicts,
        "thumbs": {
            "limit": thumbs_limit,
            "made": sum(1 for m in media.values() if m.thumb),
            "missing": sum(1 for m in media.values() if not m.thumb),
        },
        "has": {
            "evidence": any(r.evidence or r.provenance for r in records),
            "gradcam": any(r.gradcam for r in records),
            "sha256": any(r.sha256 for r in records),
        },
        "chunk": CHUNK,
        "chunks": (len(records) + CHUNK - 1) // CHUNK,
    }


def common_root(folders: list[str]) -> str:
    """The folder every record lies under (with its trailing separator), or '' when that is only ``/``."""
    if not folders or not all(f.startswith(os.sep) for f in folders):
        return ""
    try:
        root = os.path.commonpath(folders)
    except ValueError:
        return ""
    return "" if root in ("", os.sep) else root + os.sep


def _source(source) -> dict[str, Any]:
    manifest = source.manifest
    if manifest and len(manifest.get("earlier_runs") or []) > MAX_EARLIER_RUNS:
        runs = manifest["earlier_runs"]
        manifest = {
            **manifest,
            "earlier_runs": runs[-MAX_EARLIER_RUNS:],
            "earlier_runs_left_out": len(runs) - MAX_EARLIER_RUNS,
        }
    return {
        "name": inert(source.path.name),
        "path": inert(os.path.abspath(source.path)),
        "records": source.records,
        "threshold": source.threshold,
        "manifest": _inert_tree(manifest) if manifest else None,
    }


def _inert_tree(value: Any, depth: int = 0) -> Any:
    """A manifest with every string made inert and its size bounded (it is as editable as the report)."""
    if depth > 6:
        return inert(json.dumps(value, default=str), 500)
    if isinstance(value, dict):
        return {inert(k, 100): _inert_tree(v, depth + 1) for k, v in list(value.items())[:200]}
    if isinstance(value, list):
        return [_inert_tree(v, depth + 1) for v in value[:200]]
    if isinstance(value, str):
        return inert(value, 2000)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return inert(value, 200)


def index(merged: Merged) -> dict[str, Any]:
    """Parallel arrays over all records in page order: what every filter and sort of the page needs."""
    records = merged.records
    verdicts = verdict_names(records)
    provs = [""] + sorted({r.provenance for r in records if r.provenance})
    kinds = Counter(error_kind(inert(r.error, 200)) for r in records if r.error)
    errs = [""] + [k for k, _ in kinds.most_common(MAX_ERROR_KINDS)]
    if len(kinds) > MAX_ERROR_KINDS and "other" not in errs:
        errs.append("other")
    code_v = {v: i for i, v in enumerate(verdicts)}
    code_p = {p: i for i, p in enumerate(provs)}
    code_e = {e: i for i, e in enumerate(errs)}
    other = code_e.get("other", 0)
    out: dict[str, Any] = {
        "path": [inert(r.path) for r in records],
        "score": [None if r.score is None else round(r.score, 6) for r in records],
        "v": [code_v[r.verdict] for r in records],
        "p": [code_p[r.provenance] for r in records],
        "e": [code_e.get(error_kind(inert(r.error, 200)), other) if r.error else 0 for r in records],
        "verdicts": verdicts,
        "provs": [inert(p, 60) for p in provs],
        "errs": errs,
    }
    if len(merged.sources) > 1:
        out["src"] = merged.origin
    return out


def row_chunks(merged: Merged, media: dict[int, Media], thumbs_limit: int) -> Iterator[list[dict[str, Any]]]:
    """The detail of each record, :data:`CHUNK` at a time in page order (empty fields left out)."""
    records = merged.records
    for start in range(0, len(records), CHUNK):
        yield [_row(records[i], media.get(i), thumbs_limit) for i in range(start, min(start + CHUNK, len(records)))]


def _row(r: Record, media: Media | None, thumbs_limit: int) -> dict[str, Any]:
    row = {
        "h": r.sha256 if _is_hex(r.sha256) else inert(r.sha256, 100),
        "b": r.bytes,
        "f": inert(r.format, 20),
        "w": r.width,
        "ht": r.height,
        "m": inert(r.mtime, 40),
        "pv": inert(r.provenance, 60),
        "ev": inert(r.evidence, TEXT_LIMIT),
        "er": inert(r.error, TEXT_LIMIT),
        "n": inert(r.notes, TEXT_LIMIT),
        "x": _exact_bytes(r.path),
    }
    if r.top_tile and r.width and r.height:  # a tiles model: the box of its top tile, drawn on the thumbnail
        row.update(tt=r.top_tile, tk=f"{r.tiles} tiles, {inert(r.aggregate, 20)}")
    if r.provenance_detail:
        row["pd"] = inert(json.dumps(r.provenance_detail, indent=1, ensure_ascii=False, default=str), DETAIL_LIMIT)
    if media is not None:
        row.update(t=media.thumb, tn=inert(media.thumb_note, TEXT_LIMIT))
        row.update(g=media.overlay, gn=inert(media.overlay_note, TEXT_LIMIT) if r.gradcam else "")
    elif r.gradcam:
        row["gn"] = f"overlay not copied into the page ({_beyond(thumbs_limit)}): " + inert(r.gradcam, 500)
    if media is None and r.verdict in ("ai", "real"):
        row["tn"] = f"no thumbnail: {_beyond(thumbs_limit)}"
    return {k: v for k, v in row.items() if v not in (None, "")}


def _beyond(limit: int) -> str:
    return "this page was made with --thumbs 0" if limit == 0 else f"beyond the top {limit:,} (--thumbs)"


def _is_hex(text: str) -> bool:
    return _HEX64.fullmatch(text) is not None


def _exact_bytes(path: str) -> str:
    """Base64 of the exact name when the shown path is not it (undecodable bytes, invisible characters)."""
    if path.isprintable():
        return ""
    try:
        raw = os.fsencode(path)
    except UnicodeError:  # a lone surrogate that no byte produced (a hand-edited JSON report)
        raw = path.encode("utf-8", "surrogatepass")
    return base64.b64encode(raw).decode("ascii")


def script_payload(kind: str, number: int, data: Any) -> str:
    """A data file the page loads with a <script> element (file:// forbids fetch): one call, JSON inside.

    The JSON is ASCII-only (so no U+2028/2029 or encoding questions) and sits in a single-quoted JS
    string that ``JSON.parse`` reads, which browsers parse much faster than the same object literal.
    """
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    quoted = text.replace("\\", "\\\\").replace("'", "\\'")
    return f"synthsightData({json.dumps(kind)},{int(number)},JSON.parse('{quoted}'));\n"
