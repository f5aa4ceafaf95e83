"""Reliability of preprocess.decode on hostile files: it decodes, or raises DecodeError naming the cause.

No other exception type may escape; decompression bombs are refused before any pixel buffer exists;
the memory a decode takes is bounded by the pixel cap; input files are never modified.
"""

from __future__ import annotations

import csv
import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import hostile
import numpy as np
import pytest
from conftest import CORPORA

from synthsight.errors import DecodeError
from synthsight.image.preprocess import PreprocessSpec, decode, top_byte

SPEC = PreprocessSpec(size=64)
CASES = hostile.files([c for c, _ in hostile._file_cases()])
MANIFEST = CORPORA / "badinputs" / "manifest.csv"
BAD_ROWS = list(csv.DictReader(MANIFEST.open())) if MANIFEST.is_file() else []
REASONS = {"missing", "unreadable", "too-large", "not-an-image", "truncated", "unsupported", "corrupt", "invalid-size"}


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> tuple[Path, list[hostile.Case]]:
    return hostile.corpus_once(tmp_path_factory)


def outcome(path, max_pixels: int | None = None) -> tuple[str, object]:
    """("decode", Decoded) or ("error", DecodeError); any other exception fails the calling test."""
    try:
        return "decode", decode(path, SPEC) if max_pixels is None else decode(path, SPEC, max_pixels)
    except DecodeError as exc:
        return "error", exc


def assert_clear(exc: DecodeError) -> None:
    """One line, a known reason, and words after it that say what happened."""
    text = str(exc)
    assert exc.reason in REASONS, text
    assert "\n" not in text and "\r" not in text, text
    assert len(text) > len(exc.reason) + 12, f"message does not name a cause: {text!r}"


@pytest.mark.parametrize("case", CASES, ids=hostile.case_id)
def test_generated_case(corpus, case):
    root, _ = corpus
    kind, got = outcome(case.path(root))
    assert kind == case.expect, f"{case.what}: expected {case.expect}, got {got}"
    if kind == "decode":
        assert got.pixels.shape == (64, 64, 3) and got.pixels.dtype == np.uint8
        assert got.pixels.flags["C_CONTIGUOUS"] and got.format
        assert case.check is None or case.check(got.pixels), f"{case.what}: wrong pixels"
    else:
        assert_clear(got)
        assert got.reason in case.reasons, f"{case.what}: {got}"
        assert any(w in str(got).lower() for w in case.words), f"{case.what}: {got}"


DECIDED = hostile.BADINPUTS_DECIDED


@pytest.mark.parametrize("row", BAD_ROWS, ids=[r["file"][:60] for r in BAD_ROWS])
def test_badinputs_file(badinputs_dir, row):
    kind, got = outcome(badinputs_dir / row["file"])
    expected = {"should-decode": "decode", "should-fail-cleanly": "error"}[row["expected"]]
    expected, note = DECIDED.get(row["file"], (expected, ""))
    assert kind == expected, f"{row['file']} ({row['what_it_tests']}): {got}"
    assert note in (got.notes if kind == "decode" else ""), got
    if kind == "error":
        assert_clear(got)
        if row["category"] == "decompression-bomb":
            assert got.reason == "too-large", got
        if row["category"] == "empty":
            assert "empty" in str(got), got


def test_valid_12bit_jpeg_is_unsupported_not_corrupt(badinputs_dir, corpus):
    root, _ = corpus
    for path in (badinputs_dir / "ljt_monkey12.jpg", Path(root) / "broken" / "fake_12bit.jpg"):
        kind, got = outcome(path)
        assert kind == "error" and got.reason == "unsupported" and "12-bit JPEG" in str(got), got


def test_open_file_object_gives_the_same_outcome(corpus):
    """The decode pool hands decode() an open file, not a path: same outcome, same message."""
    root, cases = corpus
    for case in hostile.files(cases):
        by_path = outcome(case.path(root))
        with open(case.path(root), "rb") as fh:
            by_file = outcome(fh)
        assert by_path[0] == by_file[0], case.what
        if by_path[0] == "error":
            assert str(by_path[1]) == str(by_file[1]), case.what
        else:
            assert np.array_equal(by_path[1].pixels, by_file[1].pixels), case.what


def test_folder_and_missing_file_are_decode_errors(tmp_path):
    assert outcome(tmp_path)[1].reason == "unreadable"
    assert outcome(tmp_path / "gone.png")[1].reason == "missing"


def test_pixel_cap_refuses_before_decoding(corpus):
    root, _ = corpus
    kind, got = outcome(os.path.join(root, "modes", "strip_20000x4.png"), max_pixels=50_000)
    assert kind == "error" and got.reason == "too-large" and "--max-pixels" in str(got)


def test_inputs_are_never_modified(corpus):
    root, cases = corpus

    def state() -> dict[str, tuple[str, int]]:
        out = {}
        for case in hostile.files(cases):
            path = case.path(root)
            out[path] = (hashlib.sha256(Path(path).read_bytes()).hexdigest(), os.stat(path).st_mtime_ns)
        return out

    before = state()
    for path in before:
        outcome(path)
    assert state() == before


def test_top_byte_equals_the_float_rule():
    x = np.concatenate([np.arange(-1000, 70000), [2**31 - 1, -(2**31)]]).astype(np.int32).reshape(-1, 2)
    assert np.array_equal(top_byte(x), np.clip(np.rint(x / 257.0), 0, 255).astype(np.uint8))


# Peak memory is measured in a fresh interpreter: ru_maxrss is the process's high-water mark.
_PEAK = textwrap.dedent(
    """
    import json, resource, sys
    from synthsight.image.preprocess import PreprocessSpec, decode
    from synthsight.errors import DecodeError
    spec, cap = PreprocessSpec(size=64), int(sys.argv[1])
    peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = {}
    for path in sys.argv[2:]:
        before = peak()
        try:
            decode(path, spec, cap)
            result = "decoded"
        except DecodeError as exc:
            result = exc.reason
        out[path] = [result, peak() - before]
    print(json.dumps(out))
    """
)


def peak_growth(paths: list[str], max_pixels: int) -> dict[str, tuple[str, int]]:
    import json

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-c", _PEAK, str(max_pixels), *paths], capture_output=True, text=True, env=env, timeout=120
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_bombs_are_refused_without_allocating(corpus, request):
    root, cases = corpus
    bombs = [c.path(root) for c in cases if c.bomb]
    corpus_dir = CORPORA / "badinputs"
    if corpus_dir.is_dir():
        bombs += [str(corpus_dir / r["file"]) for r in BAD_ROWS if r["category"] == "decompression-bomb"]
        bombs.remove(str(corpus_dir / "decompression_bomb_extents.gif"))  # a real 100x100 first frame: decodes
    overflow = os.path.join(root, "bombs", "idat_overflow_64x64.png")  # 64x64 whose zlib stream inflates to 256 MB
    growth = peak_growth([*bombs, overflow], 178_956_970)
    decoded = {overflow, *(str(corpus_dir / name) for name, (kind, _) in DECIDED.items() if kind == "decode")}
    for path, (result, grown) in growth.items():
        expected = "decoded" if path in decoded else "too-large"  # text-chunk bombs: without their chunks
        assert result == expected, path
        assert grown < 16 << 20, f"{path}: peak RSS grew by {grown / 2**20:.0f} MB"


@pytest.mark.parametrize("kind", ["rgb8", "gray16", "rgba8"])
def test_decode_memory_is_bounded_by_the_pixel_cap(tmp_path, kind):
    """An image just under the cap decodes in at most 32 bytes per capped pixel; just over it, in ~0."""
    side = 2000
    channels, depth, color_type = {"rgb8": (3, 8, 2), "gray16": (1, 16, 0), "rgba8": (4, 8, 6)}[kind]
    row = 1 + side * channels * depth // 8
    path = tmp_path / f"{kind}.png"
    path.write_bytes(hostile.png(side, side, hostile.zeros_zlib(side * row), color_type, depth))
    cap = side * side
    (under, grown_under), (over, grown_over) = (
        peak_growth([str(path)], cap)[str(path)],
        peak_growth([str(path)], cap - 1)[str(path)],
    )
    assert under == "decoded" and over == "too-large"
    assert grown_under < 32 * cap, f"{kind}: {grown_under / cap:.1f} bytes per pixel"
    assert grown_over < 2 << 20, f"{kind}: refused file still grew RSS by {grown_over / 2**20:.1f} MB"
