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
    progress.update(2)
    progress.close()
    walk.close()
    line = stream.getvalue().strip()
    assert line.startswith("scanned 2/4 files") and "files/s" in line and "ETA" in line
    assert "images/s" not in line  # one rate (issue 18 item 12)


def test_a_tree_larger_than_the_look_ahead_shows_what_was_found_so_far(tmp_path: Path):
    _tree(tmp_path, 6)
    stream = io.StringIO()
    walk = Lookahead(Walker([tmp_path]), ahead=2)  # the walk waits for the scan after 2 entries
    time.sleep(0.2)
    progress = Progress(walk, stream=stream, every=0.0)
    progress.update(0)
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
    progress.update(5)
    progress.close()
    assert listed == [str(tmp_path)]


def test_quiet_prints_nothing(tmp_path: Path):
    stream = io.StringIO()
    walk = Lookahead(Walker([tmp_path]))
    progress = Progress(walk, quiet=True, stream=stream, every=0.0)
    progress.update(3)
    progress.close()
    walk.close()
    assert stream.getvalue() == ""


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_shows_one_rate_named_files_per_second(tmp_path: Path):
    """Issue 18 item 12: the bar showed tqdm's ``16.21file/s`` beside our ``15.7 images/s``."""
    _tree(tmp_path, 4)
    stream = _Tty()
    walk = Lookahead(Walker([tmp_path]))
    progress = Progress(walk, stream=stream, every=0.0)
    deadline = time.monotonic() + 5
    while progress.total is None and time.monotonic() < deadline:
        time.sleep(0.01)
    progress.update(2)
    progress.bar.refresh()
    progress.close()
    walk.close()
    shown = stream.getvalue().split("\r")[-1]
    assert "2/4 files" in shown and shown.count("/s") == 1 and "files/s" in shown, shown


def test_the_precision_line_fits_80_columns_and_names_its_rate_inference_only():
    from synthsight.runtime.cpu.precision import fastest
    from synthsight.scanner.pipeline import precision_line

    class Opt:
        def __init__(self, label: str, reference: bool):
            self.label, self.reference = label, reference

        def gate(self):
            return True, "certified: max |dp| 0.004, agreement 0.999 on 128 validation images of /data/long/path"

    fp32, int8 = Opt("fp32/onnxruntime", True), Opt("int8/openvino", False)
    chosen, why = fastest([fp32, int8], {"fp32/onnxruntime": 158.2, "int8/openvino": 198.2})
    assert chosen is int8 and "198.2 vs 158.2 images/s, inference only" in why
    line = precision_line({"asked": "auto", "chosen": chosen.label, "why": why + "; left out: bf16/openvino (x)"})
    assert len(line) <= 80 and line.startswith("precision auto: int8/openvino (timed 1.25x fp32/onnxruntime"), line
    assert len(precision_line({"asked": "auto", "chosen": "fp32/onnxruntime", "why": "x" * 200})) <= 80


def test_the_summary_line_shows_the_progress_lines_rate(tmp_path: Path):
    """Issue 18 item 12: the last progress line said files/s (every record) and the summary line after it
    images/s (judged images only): two figures for one scan. Both are files/s of every record now."""
    from synthsight.reports.writers import summary_line

    stream = io.StringIO()
    walk = Lookahead(Walker([tmp_path]))
    progress = Progress(walk, stream=stream, every=0.0)
    progress.t0 = time.perf_counter() - 10.0  # 10 records in 10 s: 1.0 files/s
    progress.update(10)
    progress.close()
    walk.close()
    assert "1.0 files/s" in stream.getvalue()
    counts = {"ai": 4, "real": 2, "error": 4}  # 10 records, 6 of them judged images
    for line in (summary_line(counts, 10.0, [tmp_path / "r.csv"]), summary_line(counts, 10.0, [], [(3, "not images")])):
        assert "; 1.0 files/s; " in line and "images/s" not in line
