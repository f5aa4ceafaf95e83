"""lines.jsonl_to_csv: JSONL record lines into CSV lines without making the records (a merge of JSONL shards into
a CSV report), byte for byte what the CSV writer makes of the same records."""

from __future__ import annotations

import json
import os

from synthsight.reports.lines import jsonl_to_csv
from synthsight.reports.writers import CsvWriter, JsonlWriter, Record, jsonl_record


def awkward_records() -> list[Record]:
    raw = os.fsdecode(b"/a/\xff\xfe-not-utf8.jpg")
    return [
        Record("/plain/a.jpg", "ai", sha256="ab" * 32, bytes=10, mtime="2026-01-01T00:00:00.000000Z", format="JPEG",
               width=4000, height=3000, score=0.5, raw_score=0.25),
        Record(raw, "error", error="decode-failed: bad\nline\x00", notes="tab\there"),
        Record("=cmd|' /C calc'!A0.png", "real", score=1.0, stratum="camera", provenance="c2pa", evidence="-x"),
        Record("/t/\u00e9\u6f22.webp", "uncertain", stability=0.75, score_min=0.1, score_max=0.9, unstable=True),
        Record("/tiles.png", "ai", tiles=4, aggregate="max", top_tile=[0, 0, 64, 64], tile_scores=[0.1, 0.9],
               tile_boxes=[[0, 0, 64, 64], [64, 0, 128, 64]], unstable=False),
        Record("/neg.png", "skipped", bytes=-5, width=0, gradcam="@g.png",
               provenance_detail={"c2pa": {"claim": "x"}}),
        Record("+starts-with-plus", "real", score=1e-07),
    ]  # fmt: skip


def test_jsonl_lines_become_the_csv_lines_the_csv_writer_writes():
    records = awkward_records()
    lines = [JsonlWriter._line(r) for r in records]
    assert jsonl_to_csv(lines) == CsvWriter.encode([jsonl_record(x) for x in lines]) == CsvWriter.encode(records)


def test_lines_of_another_producer_read_as_the_records_would_be():
    """Integers where floats are (score 1), empty strings for numbers, keys in another order, no path_b64."""
    line = json.dumps({"verdict": "ai", "path": "/x.png", "score": 1, "bytes": "", "unstable": "true",
                       "top_tile": "1,2,3,4", "sha256": None}) + "\n"  # fmt: skip
    assert jsonl_to_csv([line]) == CsvWriter.encode([jsonl_record(line)])
    assert jsonl_to_csv([line]).startswith("/x.png,,,,,,,,ai,1.000000,")
