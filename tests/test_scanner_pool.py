"""pool: the same batches whatever the number of workers; a killed worker costs one error record, not the scan."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scanner_support import image_bytes

from synthsight.image.preprocess import PreprocessSpec, decode
from synthsight.scanner.pool import DecodePool
from synthsight.scanner.walk import walk
from synthsight.scanner.worker import FileMeta, ReadOptions

SPEC = PreprocessSpec(size=32)
OPTIONS = ReadOptions(SPEC)


@pytest.fixture(scope="module")
def small_tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pooltree")
    for i in range(60):
        fmt, ext = [("PNG", ".png"), ("JPEG", ".jpg"), ("WEBP", ".webp")][i % 3]
        (root / f"f{i:03d}{ext}").write_bytes(image_bytes(fmt, 10 + i, 12 + i // 2, i))
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (root / "empty.png").write_bytes(b"")
    (root / "readme.txt").write_text("not an image")
    return root


def run(root: Path, workers: int, **kw) -> list[tuple]:
    out = []
    with DecodePool(walk([root], all_files=True), OPTIONS, batch_size=8, workers=workers, **kw) as pool:
        for batch in pool:
            for item in batch.items:
                meta = item.meta or FileMeta()
                pix = batch.pixels[item.row].copy() if item in batch.decoded() else None
                out.append((batch.index, item.entry.path, item.row, meta.error, meta.sha256 or None, pix))
            pool.release(batch)
    return out


def test_batches_identical_for_0_1_2_workers_and_equal_to_direct_decode(small_tree: Path):
    results = {w: run(small_tree, w) for w in (0, 1, 2)}
    for w in (1, 2):
        assert len(results[w]) == len(results[0])
        for a, b in zip(results[0], results[w], strict=True):
            assert a[:5] == b[:5]
            assert (a[5] is None and b[5] is None) or np.array_equal(a[5], b[5])
    by_name = {os.path.basename(r[1]): r for r in results[2]}
    assert len(by_name) == 63
    assert by_name["broken.jpg"][3] and by_name["empty.png"][3] and by_name["readme.txt"][5] is None
    direct = decode(small_tree / "f007.jpg", SPEC).pixels
    assert np.array_equal(by_name["f007.jpg"][5], direct)


def slow_file_between_images(folder: Path, n: int) -> None:
    """``n`` small PNGs, then m-huge.jpg (sparse: hashing it keeps a worker busy ~1 s), then ``n`` more."""
    for i in range(n):
        (folder / f"a{i:02d}.png").write_bytes(image_bytes("PNG", 16, 16, i))
    with open(folder / "m-huge.jpg", "wb") as fh:
        fh.truncate(384 << 20)
    for i in range(n):
        (folder / f"z{i:02d}.png").write_bytes(image_bytes("PNG", 16, 16, 100 + i))


def kill_while_reading(pool: DecodePool, name: str, times: int, deadline_s: float = 60) -> int:
    """SIGKILL the worker reading ``name``, ``times`` times (each time the file is read again); the kills done."""
    kills, seen = 0, set()
    deadline = time.monotonic() + deadline_s
    while kills < times and time.monotonic() < deadline:
        for w in list(pool._procs):
            busy = w.held and w.held[0].entry.path.endswith(name) and time.monotonic() - w.since > 0.1
            if busy and w.proc.pid not in seen:
                seen.add(w.proc.pid)
                os.kill(w.proc.pid, signal.SIGKILL)
                kills += 1
        time.sleep(0.02)
    return kills


@pytest.mark.parametrize("kills", [1, 2])
def test_a_killed_worker_costs_a_retry_and_only_a_file_that_kills_twice_gets_the_record(tmp_path: Path, kills):
    slow_file_between_images(tmp_path, 12)
    records = {}
    with DecodePool(walk([tmp_path]), OPTIONS, batch_size=4, workers=2) as pool:
        batches = iter(pool)
        assert kill_while_reading(pool, "m-huge.jpg", kills) == kills, "a worker was seen reading the big file"
        for batch in batches:
            for item in batch.items:
                records[os.path.basename(item.entry.path)] = item.meta.error
            pool.release(batch)
        assert pool.deaths == kills
    assert len(records) == 25
    if kills == 1:  # OOM or preemption would look the same: the file itself is innocent until it kills again
        assert records["m-huge.jpg"].startswith("not-an-image: "), records["m-huge.jpg"]  # its own verdict
    else:
        twice = "worker-died: decode workers died twice while reading this file (the second time: signal 9)"
        assert records["m-huge.jpg"] == twice
    assert all(err == "" for name, err in records.items() if name != "m-huge.jpg")


def test_a_file_given_to_a_worker_killed_since_the_last_look_goes_back_unread(tmp_path: Path):
    # The pool hands out work between its looks at the workers' sentinels; a worker killed in between (OOM, a
    # signal) has a closed pipe. That once raised BrokenPipeError out of the scan (1 run in 2 of the kill test).
    import multiprocessing

    from synthsight.scanner.batch import Item
    from synthsight.scanner.pool import _Worker
    from synthsight.scanner.walk import Entry

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=True)
    proc = ctx.Process(target=time.sleep, args=(60,), daemon=True)
    proc.start()
    child.close()
    proc.kill()
    proc.join()
    worker = _Worker(proc, parent)
    item = Item(7, Entry(str(tmp_path / "a.png"), "image", "", 1, 0))
    for _ in range(3):  # the pipe's buffer may take a first message: a dead reader refuses some send soon
        worker.give(item, -1)
    assert worker.broken and worker.unsent[-1] is item
    assert len(worker.held) + len(worker.unsent) == 3
    worker.stop()


def test_a_file_that_hangs_a_worker_times_out_and_the_scan_goes_on(tmp_path: Path):
    slow_file_between_images(tmp_path, 6)
    records: dict[str, list[str]] = {}
    with DecodePool(walk([tmp_path]), OPTIONS, batch_size=4, workers=1, decode_timeout=0.25) as pool:
        for batch in pool:
            for item in batch.items:
                records.setdefault(os.path.basename(item.entry.path), []).append(item.meta.error)
            pool.release(batch)
    assert len(records) == 13 and all(len(v) == 1 for v in records.values()), "every file exactly once"
    assert records["m-huge.jpg"][0].startswith("timed-out: decode took longer than 0.25 s"), records["m-huge.jpg"]


def test_a_script_without_a_main_guard_is_told_what_to_change(small_tree: Path, tiny_onnx, tmp_path: Path):
    # Each decode process imports the caller's __main__ (forkserver): an unguarded script scans again in it.
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from synthsight.scanner import scan\n"
        f"scan([{str(small_tree)!r}], {str(tiny_onnx['onnx'])!r}, [{str(tmp_path / 'v.csv')!r}],"
        " workers=1, quiet=True)\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert 'must do so under `if __name__ == "__main__":`' in done.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("cores", "workers", "threads", "plan"),
    [(1, None, None, (1, 1, 1)), (2, None, None, (2, 1, 2)), (16, None, None, (9, 15, 9)), (2, 1, None, (1, 1, 2)),
     (8, 0, None, (0, 0, 9)), (8, None, 3, (5, 7, 3))],
)  # fmt: skip
def test_the_core_plan_adds_one_spare_decoder_on_a_cpu(cores, workers, threads, plan):
    from synthsight.scanner.pool import plan_cores

    got = plan_cores(workers, threads, cores=cores)
    assert (got.cpu_workers, got.gpu_workers, got.threads) == plan


@pytest.mark.parametrize("workers", [0, 2])
def test_a_batch_larger_than_memory_or_dev_shm_is_one_line_before_any_allocation(small_tree, workers, monkeypatch):
    from synthsight.errors import UsageError

    with pytest.raises(UsageError, match=r"^--batch-size 10000000: the decode pool's \d+ batches of 32 px images need "
                                         r"[\d.]+ GB, more than half of the [\d.]+ GB of memory available; use "
                                         r"--batch-size \d+ or less$"):  # fmt: skip
        DecodePool(walk([small_tree]), OPTIONS, batch_size=10_000_000, workers=workers)
    # a machine with plenty of memory and a small /dev/shm (a container's 64 MB default)
    monkeypatch.setattr("synthsight.scanner.ring.available_memory", lambda: 64 << 30)
    monkeypatch.setattr("synthsight.scanner.ring.shared_memory_free", lambda: 64 << 20)
    if workers:
        with pytest.raises(UsageError, match=r"more than the 0\.1 GB free in /dev/shm .*; use --batch-size 5461 or"):
            DecodePool(walk([small_tree]), OPTIONS, batch_size=100_000, workers=workers)
        fixes = r"or less, fewer --workers, or more /dev/shm \(docker run --shm-size=\d+m\)$"
        with pytest.raises(UsageError, match=fixes):
            DecodePool(walk([small_tree]), OPTIONS, batch_size=100_000, workers=workers)
    assert len(run(small_tree, workers)) == 63  # what fits still runs
