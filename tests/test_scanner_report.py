"""report: every writer round-trips every record (nasty paths too); CSV is spreadsheet-safe; outputs checked early."""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import pytest
from scanner_support import NASTY_NAMES

from synthsight.errors import UsageError
from synthsight.reports.writers import (
    COLUMNS,
    WRITERS,
    Encoded,
    Record,
    check_output,
    read_records,
    write_records,
    writer_for,
)


def sample_records() -> list[Record]:
    records = []
    for i, name in enumerate(NASTY_NAMES):
        records.append(
            Record(
                path=os.fsdecode(b"/evidence/" + name),
                verdict=["ai", "real", "error", "skipped"][i % 4],
                sha256="ab" * 32,
                bytes=100 + i,
                mtime="2024-01-02T03:04:05.123456Z",
                format="PNG",
                width=10,
                height=20,
                score=0.25 + i / 100 if i % 4 < 2 else None,
                error="=cmd|' /C calc'!A0" if i % 4 == 2 else "",
                notes="first frame" if i == 0 else "",
            )
        )
    return records


@pytest.mark.parametrize("ext", sorted(WRITERS))
def test_every_writer_round_trips_losslessly(tmp_path: Path, ext: str):
    records = sample_records()
    out = tmp_path / f"report{ext}"
    writer = WRITERS[ext](out)
    writer.write(records[:5])
    writer.write(records[5:])
    writer.close({"status": "complete"})
    back, _ = read_records(out)
    assert [os.fsencode(r.path) for r in back] == [os.fsencode(r.path) for r in records]
    for a, b in zip(back, records, strict=True):
        assert a.verdict == b.verdict and a.error == b.error and a.bytes == b.bytes and a.mtime == b.mtime
        assert (a.score is None) == (b.score is None) and (a.score is None or abs(a.score - b.score) < 1e-6)


@pytest.mark.parametrize("ext", sorted(WRITERS))
def test_records_with_lines_made_elsewhere_write_the_same_report(tmp_path: Path, ext: str):
    """A Ray actor encodes each record's lines (writers' encode, one record at a time); the driver copies them:
    byte for byte the report its writer makes of the records; a batch cut by --resume is written anew."""
    records = sample_records()
    text = {s: "".join(writer_for(f"r{s}").encode([r]) for r in records) for s in (".csv", ".jsonl")}
    odd = Encoded(records, {".csv": "copied,as,is\n", ".jsonl": '{"copied": "as is"}\n'})
    for name, written, made in (
        ("copied", records, Encoded(records, text)),
        ("direct", records, records),
        ("used", records, odd),  # every record: the lines given are what is written
        ("cut", records[1:], odd),  # not every record: they are not
    ):
        writer = WRITERS[ext](tmp_path / f"{name}{ext}")
        write_records(writer, written, made)
        writer.close({"m": 1})
    assert (tmp_path / f"copied{ext}").read_bytes() == (tmp_path / f"direct{ext}").read_bytes()
    assert "copied" in (tmp_path / f"used{ext}").read_text(encoding="utf-8")
    assert [r.path for r in read_records(tmp_path / f"cut{ext}")[0]] == [r.path for r in records[1:]]


def test_csv_is_one_line_per_record_and_neutralises_formulas(tmp_path: Path):
    out = tmp_path / "r.csv"
    w = WRITERS[".csv"](out)
    w.write(sample_records())
    w.close()
    raw = out.read_bytes()
    assert raw.count(b"\n") == len(NASTY_NAMES) + 1  # header + one physical line per record
    raw.decode("utf-8")  # valid UTF-8 even for non-UTF-8 file names
    rows = list(csv.DictReader(raw.decode("utf-8").splitlines()))
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    assert any(r["path"].startswith("/evidence/") and r["path_b64"] for r in rows)


def test_jsonl_lines_are_valid_json_with_exact_path_bytes(tmp_path: Path):
    out = tmp_path / "r.jsonl"
    w = WRITERS[".jsonl"](out)
    w.write(sample_records())
    w.close()
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(NASTY_NAMES)
    docs = [json.loads(line) for line in lines]
    odd = next(d for d in docs if "not-utf8" in d["path"])
    assert "\\xff\\xfe" in odd["path"] and odd["path_b64"]


def test_json_is_written_atomically_at_close(tmp_path: Path):
    out = tmp_path / "r.json"
    w = WRITERS[".json"](out)
    w.write(sample_records())
    assert not out.exists()
    w.close({"status": "complete", "counts": {"ai": 3}})
    doc = json.loads(out.read_text())
    assert doc["manifest"]["status"] == "complete" and len(doc["records"]) == len(NASTY_NAMES)
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_a_cut_last_line_is_ignored_when_read(tmp_path: Path):
    out = tmp_path / "r.jsonl"
    w = WRITERS[".jsonl"](out)
    w.write(sample_records()[:3])
    w.close()
    whole = out.stat().st_size
    with open(out, "ab") as fh:
        fh.write(b'{"path": "/half')
    records, good = read_records(out)
    assert len(records) == 3 and good == whole


def test_outputs_are_checked_before_scanning(tmp_path: Path):
    with pytest.raises(UsageError, match="is a folder"):
        check_output(tmp_path, False, False)
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(UsageError, match="is a folder"):
        check_output(tmp_path / "d.csv", False, False)
    with pytest.raises(UsageError, match="does not exist"):
        check_output(tmp_path / "missing" / "r.csv", False, False)
    with pytest.raises(UsageError, match="unknown format"):
        check_output(tmp_path / "r.xlsx", False, False)
    (tmp_path / "old.csv").write_text("x")
    with pytest.raises(UsageError, match="already exists"):
        check_output(tmp_path / "old.csv", False, False)
    assert check_output(tmp_path / "old.csv", True, False) == tmp_path / "old.csv"


def test_one_manifest_reader_for_inline_and_sidecar_manifests(tmp_path):
    """manifest_of: inside a JSON report, beside a CSV/JSONL one; None without one; one error when broken."""
    from synthsight.reports.manifest import ManifestUnreadable, manifest_of, write_manifest

    csv_report, json_report = tmp_path / "v.csv", tmp_path / "v.json"
    csv_report.write_text(",".join(COLUMNS) + "\r\n")
    assert manifest_of(csv_report) is None
    write_manifest(csv_report, {"threshold": 0.5}, [])
    assert manifest_of(csv_report)["threshold"] == 0.5
    writer = WRITERS[".json"](json_report)
    writer.write([Record(path="a.png", verdict="ai", score=0.9)])
    writer.close({"threshold": 0.7})
    assert manifest_of(json_report) == {"threshold": 0.7}
    (tmp_path / "v.csv.manifest.json").write_text("{broken")
    with pytest.raises(ManifestUnreadable, match="v.csv.manifest.json is unreadable"):
        manifest_of(csv_report)


def test_the_summary_line_says_1_file_and_the_out_given_twice_is_named(tmp_path):
    from synthsight.reports.writers import summary_line
    from synthsight.scanner.pipeline import scan

    assert summary_line({"ai": 1}, 1.0, [tmp_path / "r.csv"]).startswith("scanned 1 file: ")
    assert summary_line({"ai": 1}, 1.0, [], [(1, "not images")]).startswith("scanned 1 of 2 files walked: ")
    report = tmp_path / "r.csv"
    with pytest.raises(UsageError, match=rf"^--out {re.escape(str(report))} is given twice"):
        scan([str(tmp_path)], "unused.onnx", [report, str(report)])
