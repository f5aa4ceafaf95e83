"""scan --ray streams its inventory (issue 24 item 8): the driver hands the listed entries to Ray Data through a
bounded window as the cluster takes them, instead of pinning the whole list in the object store before the first
decode; the entries it records itself (missing paths) never go to the cluster, and the report keeps list order.

One local Ray for the module (2 CPUs and a declared GPU, as test_scanner_cluster's), dashboard off.
"""

from __future__ import annotations

import json
import pickle
import threading
import time
from pathlib import Path

import pytest
from scanner_support import make_tree, records_by_path

from synthsight.reports.parts import Tally
from synthsight.reports.writers import read_records
from synthsight.scanner import scan
from synthsight.scanner.session import StopFlag
from synthsight.scanner.walk import Entry

ray = pytest.importorskip("ray", reason="Ray is the optional extra synthsight[cluster] (make test installs it)")


def test_the_listing_stops_at_a_full_window_and_at_its_bound_of_entries_out_and_keeps_its_order(
    ray_cluster, monkeypatch
):
    """Blocks of 4 entries, a window of 2: with nobody reading, the listing of 400 entries stops after 3 blocks
    (2 in the window, 1 waiting to go in); with the dataset reading but no records coming back, it stops once
    MAX_AHEAD_BYTES of entries are out, whatever the list's length; as records come back it goes on, every entry
    to decode reaches the dataset once, in list order, and the settled ones (errors) are written by ``settle``."""
    from synthsight.scanner.options import ScanOptions
    from synthsight.scanner.ray import feed
    from synthsight.scanner.worker import ReadOptions
    from synthsight.spec import PreprocessSpec

    monkeypatch.setattr(feed, "LIST_BLOCK_ROWS", 4)
    monkeypatch.setattr(feed, "WINDOW_BLOCKS", 2)
    monkeypatch.setattr(feed, "MAX_AHEAD_BYTES", 4000)  # ~6 blocks of 4 entries
    pulled = 0

    def entries():
        nonlocal pulled
        for i in range(400):
            pulled += 1
            yield Entry(f"/x/f{i:04d}.png", "error" if i % 10 == 9 else "image", size=100, mtime_ns=1)

    settled: list[int] = []

    def settle(batch: list[tuple[int, Entry]]) -> Tally:
        settled.extend(seq for seq, _ in batch)
        return Tally(len(batch))

    def steady() -> int:
        while True:
            held = pulled
            time.sleep(1.5)
            if pulled == held:
                return held

    read = ReadOptions.for_scan(PreprocessSpec(), ScanOptions(quiet=True), None)
    listing = feed.Listing(entries(), read, StopFlag(), settle)
    got: list[int] = []
    reader = threading.Thread(
        target=lambda: got.extend(pickle.loads(r["entry"])[0] for r in listing.dataset().iter_rows())  # tasks.pack's
    )
    try:
        assert listing.wait_first()
        held = steady()
        assert listing.blocks == 3 and held <= 3 * 4 + 2, f"{held} entries listed ahead of a reader, 3 blocks at most"
        reader.start()
        deadline = time.monotonic() + 60
        while listing.blocks == 3 and time.monotonic() < deadline:  # Ray Data's start
            time.sleep(0.1)
        steady()
        assert 3 < listing.blocks < 12 and listing.out_bytes() <= 4000 + 1000, (listing.blocks, listing.out_bytes())
        while not listing.done.is_set():  # the records come back: the listing goes on to its end
            listing.returned(listing.sent_rows - listing.returned_rows)
            time.sleep(0.05)
        reader.join(60)
        listing.finish()
    finally:
        listing.close()
    assert got == [i for i in range(400) if i % 10 != 9], "every entry to decode once, in list order"
    assert settled == [i for i in range(400) if i % 10 == 9], "every settled entry written once, in order"
    assert sum(t.records for t in listing.take_tallies()) == 40
    assert listing.describe() == {"list_blocks": 90, "list_window_blocks": 2}


def test_decoding_starts_while_the_list_is_still_being_read_and_the_report_keeps_its_order(
    ray_cluster, tiny_onnx, tmp_path, monkeypatch
):
    """The listing is held after its first 8 images (two blocks of 4, one decode task's 8 files) until the
    cluster's first records come back (30 s at most):
    they do (the old driver read the whole list into the object store first, so they could not), and the report
    is the plain scan's, in list order, the missing paths' records in their places."""
    from synthsight.scanner.ray import feed, source

    root = tmp_path / "tree"
    make_tree(root, n_images=24)
    images = sorted(str(p) for p in root.rglob("img*"))
    listed = [*images[:6], *(f"{root}/gone{i:02d}.png" for i in range(40)), *images[6:], f"{root}/last-gone.png"]
    listing = tmp_path / "list.txt"
    listing.write_text("".join(p + "\n" for p in listed))
    monkeypatch.setattr(feed, "LIST_BLOCK_ROWS", 4)
    monkeypatch.setattr(feed, "MAX_BLOCK_BYTES", 512)  # a read block of ~2 list blocks, not ~20
    came_back, held = threading.Event(), []

    def gated(entries):
        for k, entry in enumerate(entries):
            if k == 6 + 40 + 2 + 1:  # the 8th image went out
                held.append(came_back.wait(30.0))
            yield entry

    records, tallies = source.RaySource.records, source.RaySource._records
    monkeypatch.setattr(source.RaySource, "records", lambda self, entries, stop: records(self, gated(entries), stop))

    def tallied(self, batch):
        came_back.set()
        return tallies(self, batch)

    monkeypatch.setattr(source.RaySource, "_records", tallied)
    model, common = str(tiny_onnx["onnx"]), dict(files_from=str(listing), batch_size=1, quiet=True)
    scan([], model, [tmp_path / "ray.jsonl"], ray="local", **common)
    assert held == [True], "no record came back before the whole list was read"
    scan([], model, [tmp_path / "local.jsonl"], workers=0, **common)
    got, want = (records_by_path(read_records(tmp_path / f"{n}.jsonl")[0]) for n in ("ray", "local"))
    assert list(got) == list(want) == listed, "every listed path once, in list order"
    for path, r in got.items():
        w = want[path]
        assert (r.verdict, r.error, r.sha256, r.width, r.height) == (w.verdict, w.error, w.sha256, w.width, w.height)
        assert (r.score is None) == (w.score is None) and (r.score is None or abs(r.score - w.score) <= 1e-6), path
    plan = json.loads(Path(f"{tmp_path / 'ray.jsonl'}.manifest.json").read_text())["ray"]
    assert plan["list_blocks"] == 24 // 4 and plan["list_window_blocks"] == feed.WINDOW_BLOCKS
