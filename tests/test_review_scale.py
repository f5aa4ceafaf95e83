"""The review page's benchmark in its quick form: 10,000 records built, opened and searched; thumbnails timed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from review_support import need_chromium

REPO = Path(__file__).resolve().parents[1]


def test_bench_review_quick_measures_build_browser_and_thumbnails(tmp_path):
    need_chromium()
    cmd = [sys.executable, str(REPO / "benchmarks" / "bench_review.py"), "--quick", "--cache", str(tmp_path)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "| 10,000 |" in out  # the build row
    assert "| first page | 10000 |" in out and "| text search (one box) | 1000 |" in out  # the page's own counts
    assert "| this process |" in out and "thumbnails/s" in out
