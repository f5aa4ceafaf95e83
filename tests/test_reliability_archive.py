"""Hostile archives, part 2: no file stalls a scan, decoders keep off the terminal, every walked file counts."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scanner_support import MeanBackend, image_bytes

from synthsight.image.preprocess import PreprocessSpec
from synthsight.reports.writers import read_records
from synthsight.scanner import scan
from synthsight.spec import ModelSpec

REPO = Path(__file__).resolve().parents[1]
SPEC = ModelSpec(arch="convnext_atto", preprocess=PreprocessSpec(size=32))
GiB = 1 << 30


def _small(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, fmt)
    return buf.getvalue()


def _headers() -> dict[str, bytes]:
    jpeg = _small("JPEG")
    return {
        "header-then-zeros.jpg": jpeg[: jpeg.find(b"\xff\xda")],  # the JPEG parser skips junk byte by byte
        "whole-then-zeros.jpg": jpeg,
        "header-then-zeros.png": _small("PNG")[:33],
        "whole-then-zeros.png": _small("PNG"),
        "header-then-zeros.gif": _small("GIF")[:30],  # so does the GIF one
        "whole-then-zeros.gif": _small("GIF"),
        "whole-then-zeros.tif": _small("TIFF"),
        "header-then-zeros.webp": _small("WEBP")[:30],  # Pillow's WebP plugin reads the whole file
    }


def _sparse(path: Path, head: bytes, size: int) -> None:
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(size)
    if os.stat(path).st_blocks * 512 > 64 << 20:
        pytest.skip("this filesystem has no sparse files")


def test_huge_files_behind_small_image_headers_are_refused_in_seconds(tmp_path: Path):
    """An 8 GiB disk image named .jpg kept a decode worker busy for minutes; now each gets its record at once."""
    for name, head in _headers().items():
        _sparse(tmp_path / name, head, 8 * GiB)
    out = tmp_path / "r.jsonl"
    t0 = time.monotonic()
    scan([str(tmp_path)], MeanBackend(SPEC), [out], workers=1, hash_files=False, quiet=True, decode_timeout=120)
    seconds = time.monotonic() - t0
    records = {Path(r.path).name: r for r in read_records(out)[0]}
    assert set(records) == set(_headers())
    for name, rec in records.items():
        assert rec.verdict == "error", (name, rec)
        assert "8.0 GiB" in rec.error, (name, rec.error)  # the message names the file's size
    whole = [r for n, r in records.items() if n.startswith("whole")]
    assert all(r.error.startswith("too-large: the file is 8.0 GiB, far more than its 64x64") for r in whole)
    assert seconds < 60, f"8 huge files took {seconds:.0f} s"


def test_a_huge_file_is_still_hashed_and_its_neighbours_scanned(tmp_path: Path):
    head = _small("JPEG")
    _sparse(tmp_path / "disk.jpg", head, GiB)
    (tmp_path / "ok.png").write_bytes(image_bytes("PNG", 20, 20, 1))
    out = tmp_path / "r.csv"
    scan([str(tmp_path)], MeanBackend(SPEC), [out], workers=1, quiet=True)
    records = {Path(r.path).name: r for r in read_records(out)[0]}
    import hashlib

    digest = hashlib.sha256(head + bytes(GiB - len(head))).hexdigest()
    assert records["disk.jpg"].sha256 == digest and records["disk.jpg"].error.startswith("too-large")
    assert records["ok.png"].verdict in ("ai", "real")


def test_a_file_that_grows_while_it_is_read_cannot_hold_the_worker(tmp_path: Path):
    path = tmp_path / "download.jpg"
    path.write_bytes(_small("JPEG"))
    stop = threading.Event()

    def grow() -> None:
        with open(path, "ab") as fh:
            while not stop.is_set():
                fh.write(bytes(1 << 20))
                fh.flush()

    writer = threading.Thread(target=grow, daemon=True)
    writer.start()
    try:
        time.sleep(0.2)
        out = tmp_path / "r.jsonl"
        t0 = time.monotonic()
        scan([str(path)], MeanBackend(SPEC), [out], workers=0, quiet=True)
        assert time.monotonic() - t0 < 30
    finally:
        stop.set()
        writer.join()
    (rec,) = read_records(out)[0]
    assert "the file grew while it was read" in rec.notes, rec
    assert rec.bytes is not None and rec.bytes < path.stat().st_size


def _tiff_that_makes_libtiff_talk(path: Path) -> None:
    """An LZW TIFF whose strip claims more bytes than the file has: libtiff complains on fd 2."""
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(
        buf, "TIFF", compression="tiff_lzw"
    )
    data = bytearray(buf.getvalue())
    ifd = struct.unpack("<I", data[4:8])[0]
    for i in range(struct.unpack("<H", data[ifd : ifd + 2])[0]):
        entry = ifd + 2 + 12 * i
        if struct.unpack("<H", data[entry : entry + 2])[0] == 279:  # StripByteCounts
            data[entry + 8 : entry + 12] = struct.pack("<I", len(data) + 5000)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("workers", ["0", "1"])
def test_decoder_messages_go_to_the_files_notes_not_the_terminal(tmp_path: Path, tiny_onnx, workers):
    images = tmp_path / "in"
    images.mkdir()
    _tiff_that_makes_libtiff_talk(images / "talks.tif")
    (images / "quiet.png").write_bytes(image_bytes("PNG", 20, 20, 2))
    out = tmp_path / "r.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "synthsight", "scan", str(images), "--model", str(tiny_onnx["onnx"]),
         "--out", str(out), "--workers", workers],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert "TIFF" not in done.stderr and lines[-1].startswith("scanned 2 files"), done.stderr
    assert all(line.startswith(("precision ", "scanned ")) for line in lines), done.stderr  # synthsight's own only
    records = {Path(r.path).name: r for r in read_records(out)[0]}
    assert "decoder said: TIFFFillStrip" in records["talks.tif"].notes, records["talks.tif"]
    assert "decoder said" not in records["quiet.png"].notes


def _placeable_wmf() -> bytes:
    """A placeable Windows metafile header (100 x 100 units at 1440 per inch) and a metafile header."""
    placeable = struct.pack("<IHhhhhHIH", 0x9AC6CDD7, 0, 0, 0, 100, 100, 1440, 0, 0)
    return placeable + struct.pack("<HHHIHIH", 1, 9, 0x300, 12, 0, 3, 0) + struct.pack("<IH", 3, 0)


def test_every_walked_file_is_accounted_for(tmp_path: Path):
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    (root / "a.png").write_bytes(image_bytes("PNG", 20, 20, 1))
    (root / "sub" / "b.jpg").write_bytes(image_bytes("JPEG", 20, 20, 2))
    (root / "notes.txt").write_text("not an image")
    (root / "letter.doc").write_bytes(b"\xd0\xcf\x11\xe0" + bytes(100))
    (root / "skip-me.png").write_bytes(image_bytes("PNG", 20, 20, 3))
    (root / "drawing.wmf").write_bytes(_placeable_wmf())  # Pillow identifies it; it cannot draw it here
    os.mkfifo(root / "pipe")
    out = tmp_path / "r.csv"
    summary = scan([str(root)], MeanBackend(SPEC), [out], workers=0, quiet=True, exclude=("skip-me*",))
    records = {Path(r.path).name: r for r in read_records(out)[0]}
    assert set(records) == {"a.png", "b.jpg", "drawing.wmf"}
    assert records["drawing.wmf"].error.startswith("unsupported: Windows metafile")
    assert summary.walked == {"not_image": 2, "excluded": 1, "special": 1}
    assert summary.line.startswith("scanned 3 of 7 files walked: ")
    assert "not scanned: 2 not images (--all-files lists them), 1 left out by --exclude, 1 fifos" in summary.line
    manifest = json.loads((tmp_path / "r.csv.manifest.json").read_text())
    assert manifest["walked"] == {"records": 3, "not_image": 2, "excluded": 1, "special": 1}


def test_a_badinputs_scan_accounts_for_all_85_files(badinputs_dir: Path, tmp_path: Path):
    out = tmp_path / "r.csv"
    summary = scan([str(badinputs_dir)], MeanBackend(SPEC), [out], workers=1, quiet=True)
    walked = sum(1 for _, _, files in os.walk(badinputs_dir) for _ in files)
    assert walked == 85
    assert sum(summary.counts.values()) + sum(summary.walked.values()) == walked
    assert summary.line.startswith(f"scanned {sum(summary.counts.values())} of 85 files walked")
    records = {Path(r.path).name: r for r in read_records(out)[0]}
    assert records["drawing.wmf"].error.startswith("unsupported: ")
