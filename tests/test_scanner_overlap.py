"""The pipelined scan (scanner/overlap.py, runtime/background.py): the next batch computes while one batch's
records are made, so a scan takes about max(decode, inference), not their sum; records unchanged, in order."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from scanner_support import MeanBackend, random_pngs

from synthsight.image.preprocess import PreprocessSpec
from synthsight.reports.writers import read_records
from synthsight.runtime.background import Background
from synthsight.runtime.base import Done
from synthsight.scanner import overlap, pipeline, pool, scan
from synthsight.spec import ModelSpec

SPEC = ModelSpec(arch="mean", classes=["ai", "real"], preprocess=PreprocessSpec(size=16))
DECODE_S, INFER_S = 0.015, 0.2  # per file, per batch: the sleeps dominate whatever the machine does
FILES, BATCH = 60, 4  # 15 batches


class SlowBackend(MeanBackend):
    """A stand-in for a slow device: each batch sleeps (as a GPU or ONNX Runtime runs without the GIL)."""

    def __init__(self) -> None:
        super().__init__(SPEC, source="")
        self.threads: set[str] = set()

    def _infer(self, pixels: np.ndarray) -> np.ndarray:
        self.threads.add(threading.current_thread().name)
        time.sleep(INFER_S)
        return super()._infer(pixels)


@pytest.fixture
def slow_decode(monkeypatch):
    """Decoding in the calling thread (workers=0) made slow: each file sleeps DECODE_S first."""
    real = pool.read_file

    def read(*args, **kwargs):
        time.sleep(DECODE_S)
        return real(*args, **kwargs)

    monkeypatch.setattr(pool, "read_file", read)


def _scan(folder, out, backend, **kw):
    t0 = time.perf_counter()
    scan([str(folder)], backend, [out], workers=0, batch_size=BATCH, quiet=True, provenance=False, **kw)
    return time.perf_counter() - t0


def test_pipelined_scan_takes_the_slower_stage_not_the_sum(slow_decode, monkeypatch, tmp_path):
    folder = random_pngs(tmp_path / "images", FILES, size=(24, 20))
    decode, infer = FILES * DECODE_S, FILES // BATCH * INFER_S  # 0.9 s, 3.0 s
    backend = SlowBackend()
    wall = _scan(folder, tmp_path / "piped.csv", backend)
    assert wall <= 1.10 * max(decode, infer), f"{wall:.2f} s against max(decode {decode:.2f}, infer {infer:.2f})"
    assert backend.threads == {n for n in backend.threads if n.startswith("synthsight-infer")}

    # The same scan one batch at a time takes the sum: the bound above can fail.
    monkeypatch.setattr(pipeline, "in_flight", lambda b, s, f, ready: overlap.in_flight(b, s, f, depth=1))
    serial = _scan(folder, tmp_path / "serial.csv", SlowBackend())
    assert serial >= 0.95 * (decode + infer) > 1.10 * max(decode, infer)

    piped, _ = read_records(tmp_path / "piped.csv")
    one_by_one, _ = read_records(tmp_path / "serial.csv")
    assert [r.path for r in piped] == sorted(str(p) for p in folder.iterdir())  # walk order
    assert [(r.path, r.verdict, r.score) for r in piped] == [(r.path, r.verdict, r.score) for r in one_by_one]


def test_records_with_decode_workers_match_the_synchronous_backend(tmp_path):
    folder = random_pngs(tmp_path / "images", 20, size=(24, 20))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not a png")
    outs = []
    for name, backend in [("bg", MeanBackend(SPEC, source="")), ("sync", _Synchronous())]:
        out = tmp_path / f"{name}.csv"
        scan([str(folder)], backend, [out], workers=1, batch_size=3, quiet=True, provenance=False)
        outs.append([(r.path, r.verdict, r.score, r.error) for r in read_records(out)[0]])
    assert outs[0] == outs[1] and len(outs[0]) == 21
    assert sum(1 for r in outs[0] if r[1] == "error") == 1


class _Synchronous(MeanBackend):
    """A backend with its own submit (``overlaps``): the scan calls it as it is, on the main thread."""

    overlaps = True

    def __init__(self) -> None:
        super().__init__(SPEC, source="")

    def submit(self, pixels: np.ndarray) -> Done:
        assert threading.current_thread() is threading.main_thread()
        return Done(self.infer(pixels))


def test_in_flight_keeps_order_and_depth():
    submitted: list[int] = []
    finished: list[tuple[int, list[int]]] = []

    def finish(batch: int, handle: int) -> int:
        finished.append((batch, list(submitted)))
        return handle

    out = list(overlap.in_flight(range(5), lambda b: submitted.append(b) or b * 10, finish))
    assert out == [0, 10, 20, 30, 40]
    # batch k finishes once batch k+1 is submitted (the last one once there is no next)
    assert [len(seen) for _, seen in finished] == [2, 3, 4, 5, 5]


def test_in_flight_finishes_what_it_holds_when_the_next_batch_is_not_there():
    submitted: list[int] = []
    seen: list[int] = []
    ready = iter([True, False, True, True, True])  # batch 2 is late: batch 1 is not held for it
    finish = lambda b, h: seen.append(len(submitted))  # noqa: E731
    list(overlap.in_flight(range(4), submitted.append, finish, ready=lambda: next(ready)))
    assert seen == [2, 2, 4, 4]


def test_background_runs_batches_in_order_and_fails_like_infer():
    backend = MeanBackend(SPEC, source="")
    with Background(backend) as bg:
        batches = [np.full((2, 16, 16, 3), v, np.uint8) for v in (10, 200, 127)]
        handles = [bg.submit(b) for b in batches]
        for b, h in zip(batches, handles, strict=True):
            np.testing.assert_array_equal(h.result(), backend.infer(b))
        with pytest.raises(Exception, match="uint8"):
            bg.submit(np.zeros((1, 16, 16, 3), np.float32))  # refused at once, on the caller's thread
