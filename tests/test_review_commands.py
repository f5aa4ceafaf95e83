"""`synthsight report` and `scan --html`: what a user runs, its exit codes, and the page file it leaves."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from review_support import PAYLOAD_NAME, PAYLOAD_SCRIPT, make_corpus, read_payload

from synthsight.reports.writers import read_records
from synthsight.review.page import MARKER
from synthsight.review.records import inert

REPO = Path(__file__).resolve().parents[1]


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "synthsight", *args], capture_output=True, text=True, cwd=cwd or REPO, timeout=300
    )


def test_report_writes_one_page_and_its_folder(tmp_path):
    corpus = make_corpus(tmp_path, n=12)
    html = tmp_path / "review.html"
    done = cli("report", str(corpus.report), "--html", str(html), "--workers", "0")
    assert done.returncode == 0, done.stderr
    assert f"review page: {html} ({len(corpus.records)} records" in done.stderr
    folder = tmp_path / "review_files"
    assert (folder / MARKER).is_file() and (folder / "data" / "index.js").is_file()
    page = html.read_text(encoding="utf-8")
    head = page[: page.index("</head>")]
    assert head.index('http-equiv="Content-Security-Policy"') < head.index("<style>")
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert "default-src &#x27;none&#x27;" in csp and "http" not in csp and "unsafe" not in csp
    assert PAYLOAD_NAME not in page and PAYLOAD_SCRIPT not in page  # the manifest's command line, escaped
    assert "<script" not in page.split('<script id="summary-data"')[1].split("</script>")[0]
    assert "cdn" not in page.lower() and "https://" not in page


def test_report_refuses_to_replace_what_it_should_not(tmp_path):
    corpus = make_corpus(tmp_path, n=6)
    html = tmp_path / "review.html"
    assert cli("report", str(corpus.report), "--html", str(html), "-q").returncode == 0
    again = cli("report", str(corpus.report), "--html", str(html))
    assert again.returncode == 2 and "already exists: pass --overwrite" in again.stderr
    thumbs = sorted((tmp_path / "review_files" / "thumbs").iterdir())
    stale = thumbs[0].with_name("f" * 64 + ".jpg")
    stale.write_bytes(b"from an earlier page")
    stamps = {p.name: p.stat().st_mtime_ns for p in thumbs}
    assert cli("report", str(corpus.report), "--html", str(html), "--overwrite", "-q").returncode == 0
    assert {p.name: p.stat().st_mtime_ns for p in thumbs} == stamps  # reused, not remade
    assert not stale.exists()  # no longer on the page: removed
    foreign = tmp_path / "other_files"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    refused = cli("report", str(corpus.report), "--html", str(tmp_path / "other.html"))
    assert refused.returncode == 2 and "was not made by synthsight report" in refused.stderr
    assert (foreign / "thesis.tex").read_text() == "precious"


def test_a_damaged_report_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"path": "a.png", "verdict": "ai"}\n{"path": \xff\n')
    done = cli("report", str(bad), "--html", str(tmp_path / "p.html"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "bad.jsonl" in done.stderr


def test_scan_html_without_a_report_is_refused_before_scanning(tmp_path):
    model = tmp_path / "not-even-a-model.onnx"
    model.write_bytes(b"x")
    done = cli("scan", str(tmp_path), "--model", str(model), "--html", str(tmp_path / "p.html"))
    assert done.returncode == 2 and "--html needs a report to build the page from" in done.stderr


def test_scan_html_writes_the_page_of_the_report_it_just_wrote(tmp_path, tiny_onnx):
    corpus = make_corpus(tmp_path, n=9)
    report, html = tmp_path / "scan.jsonl", tmp_path / "scan.html"
    done = cli("scan", str(corpus.root), "--model", str(tiny_onnx["onnx"]), "--out", str(report), "--workers", "0",
               "--html", str(html), "--thumbs", "5")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"review page: {html}" in done.stderr and ", 5 thumbnails" in done.stderr
    records = read_records(report)[0]
    page = html.read_text(encoding="utf-8")
    summary = json.loads(page.split('<script id="summary-data" type="application/json">')[1].split("</script>")[0])
    manifest = json.loads((tmp_path / "scan.jsonl.manifest.json").read_text())
    assert summary["reports"][0]["manifest"]["model"]["sha256"] == manifest["model"]["sha256"]
    assert summary["thresholds"] == [[manifest["threshold"], "threshold"]] and summary["total"] == len(records)
    index = read_payload(tmp_path / "scan_files" / "data" / "index.js")
    assert sorted(index["path"]) == sorted(inert(r.path) for r in records) and len(records) == len(corpus.records) - 1


def test_two_pages_never_share_one_data_folder(tmp_path):
    from synthsight.errors import UsageError
    from synthsight.review.page import ReviewConfig, write_review

    corpus = make_corpus(tmp_path, n=4)
    first = tmp_path / "rep" / "audit.html"
    first.parent.mkdir()
    write_review(ReviewConfig([str(corpus.report)], str(first), workers=0, quiet=True))
    before = (first.parent / "audit_files" / "data" / "index.js").read_bytes()
    second = ReviewConfig([str(corpus.report)], str(first.with_suffix(".htm")), workers=0, quiet=True)
    with pytest.raises(UsageError, match="audit_files/ beside it holds the data of the page audit.html"):
        write_review(second)
    assert (first.parent / "audit_files" / "data" / "index.js").read_bytes() == before
    assert not first.with_suffix(".htm").exists()
    # the same page again (--overwrite) keeps its folder
    write_review(ReviewConfig([str(corpus.report)], str(first), workers=0, quiet=True, overwrite=True))
    # a folder from before pages were named in its marker: any other page of the stem owns it
    marker = first.parent / "audit_files" / MARKER
    marker.write_text("made by synthsight report; rewritten by the next run for this page\n")
    with pytest.raises(UsageError, match="holds the data of the page audit.html"):
        write_review(second)


def test_ctrl_c_while_the_page_is_built_says_the_scan_is_complete_and_leaves_no_folder(tiny_onnx, tmp_path,
                                                                                         monkeypatch):  # fmt: skip
    from click.testing import CliRunner

    from synthsight.cli.scan import scan

    make_corpus(tmp_path, n=4)
    report, html = tmp_path / "r.jsonl", tmp_path / "review.html"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("synthsight.review.page.make_all", interrupted)  # Ctrl-C among the thumbnails
    args = [str(tmp_path / "images"), "--model", str(tiny_onnx["onnx"]), "--out", str(report), "--html", str(html)]
    done = CliRunner().invoke(scan, [*args, "--workers", "0", "-q"])
    assert done.exit_code == 130, done.output
    assert "interrupted while building the review page: the scan is complete" in done.stderr
    assert f"synthsight report {report} --html {html}" in done.stderr
    assert len(read_records(report)[0]) >= 4
    assert not html.exists() and not (tmp_path / "review_files").exists()


def test_thumbnail_progress_into_a_log_is_plain_lines(tmp_path, capsys):
    from synthsight.review.page import ReviewConfig, write_review

    corpus = make_corpus(tmp_path, n=4)
    write_review(ReviewConfig([str(corpus.report)], str(tmp_path / "p.html"), workers=0, quiet=False))
    err = capsys.readouterr().err  # not a terminal, as a log file or a batch job's output
    assert "\r" not in err and re.search(r"^thumbnails (\d+)/\1$", err, re.M), err
