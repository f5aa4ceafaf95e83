"""Thumbnails and overlays for the review page: the project's decoder, bounded, honest about what is missing."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path

import numpy as np
from PIL import Image
from review_support import make_corpus, png_bytes
from review_workers import crash_on_poison

from synthsight.review.page import ReviewConfig, write_review
from synthsight.review.thumbs import THUMB_SIDE, Job, make_all, make_media


def _jpeg_with_orientation(path: Path, orientation: int) -> Path:
    arr = np.zeros((200, 400, 3), np.uint8)
    arr[:, :200] = (255, 0, 0)  # left half red, right half blue
    arr[:, 200:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(arr).save(path, "JPEG", exif=exif.tobytes(), quality=95)
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_thumbnail_is_bounded_oriented_and_named_by_the_files_hash(tmp_path):
    src = _jpeg_with_orientation(tmp_path / "rotated.jpg", 6)  # stored 400x200, shown rotated 90 degrees clockwise
    media = make_media(Job(str(src), _sha(src)), str(tmp_path / "out"))
    assert media.thumb == _sha(src) and not media.thumb_note
    with Image.open(tmp_path / "out" / "thumbs" / f"{media.thumb}.jpg") as im:
        assert im.size == (THUMB_SIDE // 2, THUMB_SIDE)  # portrait now, long side bounded
        top, bottom = np.asarray(im.convert("RGB"))[[5, -5], THUMB_SIDE // 4]
    assert top[0] > 200 and top[2] < 60  # the red (left) half is on top after orientation
    assert bottom[2] > 200 and bottom[0] < 60


def test_the_scans_pixel_cap_and_a_changed_file_give_placeholders_that_say_why(tmp_path):
    src = tmp_path / "big.png"
    src.write_bytes(png_bytes(300, 300, 1))
    capped = make_media(Job(str(src), _sha(src)), str(tmp_path / "out"), max_pixels=10_000)
    assert not capped.thumb and capped.thumb_note.startswith("too-large: 300x300")
    changed = make_media(Job(str(src), "0" * 64), str(tmp_path / "out"))
    assert not changed.thumb and "changed since the scan" in changed.thumb_note
    gone = make_media(Job(str(tmp_path / "gone.png"), ""), str(tmp_path / "out"))
    assert "file not found" in gone.thumb_note
    (tmp_path / "broken.png").write_bytes(src.read_bytes()[:200])
    broken = make_media(Job(str(tmp_path / "broken.png"), ""), str(tmp_path / "out"))
    assert broken.thumb_note.startswith(("truncated", "corrupt"))
    assert not (tmp_path / "out" / "thumbs").exists() or not list((tmp_path / "out" / "thumbs").iterdir())


def test_a_fifo_or_a_device_named_by_a_report_is_refused_without_waiting(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    result: list = []
    worker = threading.Thread(target=lambda: result.append(make_media(Job(str(fifo), ""), str(tmp_path / "o"))))
    worker.start()
    worker.join(5)
    assert not worker.is_alive() and result[0].thumb_note == "not a regular file"
    assert make_media(Job("/dev/zero", ""), str(tmp_path / "o")).thumb_note == "not a regular file"


def test_overlays_are_copied_only_when_they_are_real_png_files(tmp_path):
    src = tmp_path / "a.png"
    src.write_bytes(png_bytes(20, 20, 3))
    overlay = tmp_path / "cam.png"
    overlay.write_bytes(png_bytes(64, 64, 4))
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the page")
    out = tmp_path / "out"
    good = make_media(Job(str(src), "", str(overlay)), str(out))
    assert (out / "gradcam" / f"{good.overlay}.png").read_bytes() == overlay.read_bytes()
    assert "not a PNG" in make_media(Job(str(src), "", str(secret)), str(out)).overlay_note
    assert "missing" in make_media(Job(str(src), "", "javascript:alert(1)"), str(out)).overlay_note
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    assert "unreadable" in make_media(Job(str(src), "", str(fake)), str(out)).overlay_note
    assert sorted(p.name for p in (out / "gradcam").iterdir()) == [f"{good.overlay}.png"]


def test_a_crashing_decoder_costs_only_its_own_file(tmp_path):
    jobs = []
    for name in ("a", "b", "poison", "c", "d", "e"):
        path = tmp_path / f"{name}.png"
        path.write_bytes(png_bytes(20, 20, ord(name[0])))
        jobs.append(Job(str(path), ""))
    media = make_all(jobs, tmp_path / "out", workers=2, work=crash_on_poison)
    notes = {Path(j.path).stem: (m.thumb, m.thumb_note) for j, m in zip(jobs, media, strict=True)}
    assert notes["poison"] == ("", "the decoder crashed on this file")
    assert all(thumb and not note for name, (thumb, note) in notes.items() if name != "poison"), notes


def test_building_a_page_never_touches_the_scanned_files_and_makes_each_picture_once(tmp_path):
    corpus = make_corpus(tmp_path, n=12)
    twin = corpus.root / "folder-a" / "twin.png"
    first = next(r for r in corpus.records if r.verdict == "ai" and r.sha256)
    twin.write_bytes(Path(first.path).read_bytes())
    os.utime(twin, ns=(1_000_000_000, 1_000_000_000))
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in corpus.root.rglob("*") if p.is_file()}
    from synthsight.reports.writers import JsonWriter, Record, read_records

    records = read_records(corpus.report)[0] + [Record(path=str(twin), verdict="ai", sha256=first.sha256, score=0.9)]
    writer = JsonWriter(corpus.report)
    writer.write(records)
    writer.close({"threshold": 0.5})
    html = tmp_path / "page.html"
    result = write_review(ReviewConfig([str(corpus.report)], str(html), workers=2, quiet=True))
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in corpus.root.rglob("*") if p.is_file()}
    assert after == before
    thumbs = list((tmp_path / "page_files" / "thumbs").iterdir())
    judged = {r.sha256 for r in records if r.verdict in ("ai", "real")}
    assert len(thumbs) == len(judged) == result.thumbs_made - 1  # the twin shares its picture's thumbnail
    with Image.open(io.BytesIO(thumbs[0].read_bytes())) as im:
        assert max(im.size) <= THUMB_SIDE
