"""progress: plain periodic lines when stderr is not a terminal, nothing with --quiet; the tree is walked once."""

from __future__ import annotations

import io
import time
from pathlib import Path

from scanner_support import image_bytes

from synthsight.scanner.progress import Progress
from synthsight.scanner.walk import Lookahead, Walker


def _tree(root: Path, n: int) -> None:
    for i in range(n):
        (root / f"{i}.png").write_bytes(image_bytes("PNG", 8, 8, i))


def test_plain_lines_with_total_and_eta_when_not_a_terminal(tmp_path: Path):
    _tree(tmp_path, 4)
    stream = io.StringIO()
    walk = Lookahead(Walker([tmp_path]))
    progress = Progress(walk, stream=stream, every=0.0)
    deadline = time.monotonic() + 5
    while progress.total is None and time.monotonic() < deadline:  # the walk runs ahead in its thread
        time.sleep(0.01)
    progress.update(2, 2)
    progress.close()
    walk.close()
    line = stream.getvalue().strip()
    assert line.startswith("scanned 2/4 files") and "images/s" in line and "ETA" in line


def test_a_tree_larger_than_the_look_ahead_shows_what_was_found_so_far(tmp_path: Path):
    _tree(tmp_path, 6)
    stream = io.StringIO()
    walk = Lookahead(Walker([tmp_path]), ahead=2)  # the walk waits for the scan after 2 entries
    time.sleep(0.2)
    progress = Progress(walk, stream=stream, every=0.0)
    progress.update(0, 0)
    assert progress.total is None and "found so far" in stream.getvalue()
    assert len(list(walk)) == 6 and walk.done and progress.total == 6
    walk.close()


def test_the_tree_is_listed_once(tmp_path: Path, monkeypatch):
    _tree(tmp_path, 5)
    import os

    listed = []
    real = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path: listed.append(path) or real(path))
    walk = Lookahead(Walker([tmp_path]))
    progress = Progress(walk, stream=io.StringIO(), every=0.0)
    assert len(list(walk)) == 5
    progress.update(5, 5)
    progress.close()
    assert listed == [str(tmp_path)]


def test_quiet_prints_nothing(tmp_path: Path):
    stream = io.StringIO()
    walk = Lookahead(Walker([tmp_path]))
    progress = Progress(walk, quiet=True, stream=stream, every=0.0)
    progress.update(3, 3)
    progress.close()
    walk.close()
    assert stream.getvalue() == ""
