"""Reports into the review page's data: inert text, merging, order, and one clear line for a bad report."""

from __future__ import annotations

import json

import pytest
from review_support import PAYLOAD_SCRIPT, make_corpus, read_payload

from synthsight.errors import UsageError
from synthsight.reports.writers import CsvWriter, Record
from synthsight.review import data
from synthsight.review.page import json_for_html
from synthsight.review.records import error_kind, inert, load_reports


def test_inert_text_shows_every_invisible_or_reordering_character():
    assert inert("photo-\u202egnp.exe") == "photo-\\u202egnp.exe"  # right-to-left override
    assert inert("a\u200bb\u2066c") == "a\\u200bb\\u2066c"  # zero-width space, bidi isolate
    assert inert("line\nbreak\tand\x1b[31m") == "line\\nbreak\\tand\\x1b[31m"
    assert inert("caf\udce9.png") == "caf\\xe9.png"  # a byte that was not UTF-8 (surrogate-escaped)
    assert inert("lone \ud800 surrogate") == "lone \\ud800 surrogate"  # what a hand-edited JSON may hold
    assert inert("plain ünïcödé 中文 ok") == "plain ünïcödé 中文 ok"
    assert inert("x" * 50, limit=10) == "x" * 10 + "… (40 more characters)"


def test_embedded_json_cannot_close_its_script_element():
    text = json_for_html({"path": "</script><script>alert(1)</script>&\u2028\u2029"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert "\u2028" not in text and "\u2029" not in text
    assert json.loads(text)["path"] == "</script><script>alert(1)</script>&\u2028\u2029"


def test_data_files_are_ascii_javascript_with_the_exact_values(tmp_path):
    value = [{"ev": 'it\'s \\ "quoted" \u2028 中 ' + PAYLOAD_SCRIPT}]
    payload = data.script_payload("rows", 3, value)
    assert payload.isascii() and payload.startswith('synthsightData("rows",3,JSON.parse(\'')
    (tmp_path / "rows.js").write_text(payload, encoding="ascii")
    assert read_payload(tmp_path / "rows.js") == value


def test_error_kinds_are_the_short_causes():
    assert error_kind("truncated: file is truncated or damaged (x)") == "truncated"
    assert error_kind("decode worker died (signal 9)") == "decode worker died"
    assert error_kind("cannot read: permission denied") == "cannot read"
    assert error_kind(PAYLOAD_SCRIPT) == "other"
    assert error_kind("") == ""


def test_reports_merge_identical_records_once_and_keep_conflicts(tmp_path):
    corpus = make_corpus(tmp_path, n=12)
    csv = tmp_path / "same.csv"
    writer = CsvWriter(csv)
    writer.write(corpus.records)
    writer.close()
    merged = load_reports([corpus.report, csv])
    assert len(merged.records) == len(corpus.records) and merged.duplicates == len(corpus.records)
    other = tmp_path / "other.csv"
    changed = [Record(path=r.path, verdict="ai", sha256=r.sha256, score=0.77) for r in corpus.records[:3]]
    writer = CsvWriter(other)
    writer.write(changed)
    writer.close()
    merged = load_reports([corpus.report, other])
    assert len(merged.records) == len(corpus.records) + 3 and merged.conflicts == 3
    assert any("different outcomes" in w for w in merged.warnings)
    assert any("no run manifest for other.csv" in w for w in merged.warnings)
    assert {merged.origin[i] for i, r in enumerate(merged.records) if r.path == changed[0].path} == {0, 1}


def test_page_order_is_score_then_errors_then_skipped(tmp_path):
    merged = load_reports([make_corpus(tmp_path, n=12).report])
    scores = [r.score for r in merged.records if r.score is not None]
    assert scores == sorted(scores, reverse=True)
    assert [r.verdict for r in merged.records[-2:]] == ["error", "skipped"]


@pytest.mark.parametrize(
    "content, why",
    [
        (b"\xff\xfe not utf-8", "not a readable synthsight scan report"),
        (b'{"records": [{"path": 1', "not a readable synthsight scan report"),
        (b'{"records": "nope"}', "not a readable synthsight scan report"),
    ],
)
def test_a_damaged_report_is_one_clear_line(tmp_path, content, why):
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    with pytest.raises(UsageError, match=why):
        load_reports([bad])


def test_a_csv_that_is_not_a_scan_report_is_refused(tmp_path):
    bad = tmp_path / "people.csv"
    bad.write_text("name,age\nann,3\n")
    with pytest.raises(UsageError, match="people.csv: not a synthsight scan CSV"):
        load_reports([bad])


def test_index_and_rows_hold_every_record_in_page_order(tmp_path):
    merged = load_reports([make_corpus(tmp_path, n=12).report])
    idx = data.index(merged)
    assert len(idx["path"]) == len(merged.records) == len(idx["v"]) == len(idx["score"])
    assert [idx["verdicts"][v] for v in idx["v"]] == [r.verdict for r in merged.records]
    rows = [row for chunk in data.row_chunks(merged, {}, 0) for row in chunk]
    assert [row.get("h", "") for row in rows] == [r.sha256 for r in merged.records]
    caf = next(row for row, path in zip(rows, idx["path"], strict=True) if path.endswith("caf\\xe9.png"))
    assert caf["x"]  # the exact name's bytes, since the shown one is not exact
