"""progress: plain periodic lines when stderr is not a terminal, nothing with --quiet."""

from __future__ import annotations

import io
import time
from pathlib import Path

from scanner_support import image_bytes

from synthsight.scanner.progress import Progress
from synthsight.scanner.walk import Walker


def test_plain_lines_with_total_and_eta_when_not_a_terminal(tmp_path: Path):
    for i in range(4):
        (tmp_path / f"{i}.png").write_bytes(image_bytes("PNG", 8, 8, i))
    stream = io.StringIO()
    progress = Progress(Walker([tmp_path]), stream=stream, every=0.0)
    deadline = time.monotonic() + 5
    while progress.total is None and time.monotonic() < deadline:  # counted in a background thread
        time.sleep(0.01)
    progress.update(2, 2)
    progress.close()
    line = stream.getvalue().strip()
    assert line.startswith("scanned 2/4 files") and "images/s" in line and "ETA" in line


def test_quiet_prints_nothing(tmp_path: Path):
    stream = io.StringIO()
    progress = Progress(Walker([tmp_path]), quiet=True, stream=stream, every=0.0)
    progress.update(3, 3)
    progress.close()
    assert stream.getvalue() == ""
