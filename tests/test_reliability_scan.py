"""Scan guarantees over hostile inputs: one record per file, a verdict or a clear error, valid reports, bounded memory.

The scan runs over the generated hostile corpus (tests/hostile.py) and the shared badinputs corpus
together, with the tiny ONNX model through ONNX Runtime on the CPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import hostile
import pytest
from conftest import CORPORA

from synthsight.errors import DecodeError
from synthsight.image.preprocess import decode
from synthsight.scanner import scan

BADINPUTS = CORPORA / "badinputs"
VERDICT = {"decode": {"ai", "real"}, "error": {"error"}, "skipped": {"skipped"}, "absent": {"skipped"}}


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    return hostile.corpus_once(tmp_path_factory)


@pytest.fixture(scope="session")
def onnx_backend(tiny_onnx):
    from synthsight.runtime import open_backend

    with open_backend(str(tiny_onnx["onnx"]), backend="onnxruntime", device="cpu", threads=1) as b:
        yield b


@pytest.fixture(scope="session")
def full_scan(corpus, onnx_backend, tmp_path_factory):
    """One scan (2 decode workers, --all-files) of both corpora into CSV, JSONL and JSON."""
    root, _ = corpus
    out = tmp_path_factory.mktemp("scan_out")
    outs = [out / "r.csv", out / "r.jsonl", out / "r.json"]
    roots = [str(root)] + ([str(BADINPUTS)] if BADINPUTS.is_dir() else [])
    summary = scan(roots, onnx_backend, outs, workers=2, batch_size=8, all_files=True, quiet=True)
    return summary, {p.suffix: hostile.read_report(p) for p in outs}


def expected_verdicts(root: str, cases: list[hostile.Case]) -> dict[bytes, set[str]]:
    """Exact path bytes -> the verdicts acceptable for it in an --all-files scan."""
    want = {os.fsencode(c.path(root)): VERDICT[c.expect] for c in cases}
    if BADINPUTS.is_dir():
        import csv

        rows = {r["file"]: r["expected"] for r in csv.DictReader((BADINPUTS / "manifest.csv").open())}
        for dirpath, _, names in os.walk(BADINPUTS):
            for name in names:
                rel = os.path.relpath(os.path.join(dirpath, name), BADINPUTS)
                expected = rows.get(rel)
                # Files that are no image (licences, manifests, a .doc) are 'skipped' under --all-files.
                ok = {"ai", "real"} if expected == "should-decode" else {"error", "skipped"}
                if rel in hostile.BADINPUTS_DECIDED:
                    ok = VERDICT[hostile.BADINPUTS_DECIDED[rel][0]]
                want[os.fsencode(os.path.join(BADINPUTS, rel))] = ok if expected else {"skipped"}
    return want


def test_every_file_gets_exactly_one_record_in_every_report(corpus, full_scan):
    root, cases = corpus
    summary, reports = full_scan
    want = expected_verdicts(str(root), cases)
    assert not summary.interrupted
    for suffix, records in reports.items():
        paths = [r["raw_path"] for r in records]
        assert len(paths) == len(set(paths)), f"{suffix}: a file has two records"
        assert set(paths) == set(want), f"{suffix}: missing {set(want) - set(paths)}, extra {set(paths) - set(want)}"
        wrong = {r["raw_path"]: r["verdict"] for r in records if r["verdict"] not in want[r["raw_path"]]}
        assert not wrong, f"{suffix}: unexpected verdicts {wrong}"
    assert [r["raw_path"] for r in reports[".csv"]] == [r["raw_path"] for r in reports[".json"]]


def test_verdicts_have_scores_and_errors_name_their_cause(full_scan, onnx_backend):
    _, reports = full_scan
    threshold = onnx_backend.model_spec.threshold
    for r in reports[".jsonl"]:
        if r["verdict"] in ("ai", "real"):
            assert 0.0 <= r["score"] <= 1.0 and not r["error"], r
            assert (r["score"] >= threshold) == (r["verdict"] == "ai"), r
            assert r["format"] and r["width"] and r["height"] and len(r["sha256"]) == 64, r
        else:
            assert r["score"] is None and r["error"], f"no reason given: {r}"
            assert "\n" not in r["error"], r


def test_scan_errors_are_exactly_the_decoders_messages(full_scan):
    """The record carries what preprocess.decode says about that very file: never a neighbour's result."""
    _, reports = full_scan
    from synthsight.image.preprocess import PreprocessSpec

    spec = PreprocessSpec(size=64)
    checked = 0
    for r in reports[".jsonl"]:
        path = os.fsdecode(r["raw_path"])
        if r["verdict"] != "error" or not os.path.isfile(path) or os.path.islink(path):
            continue
        with pytest.raises(DecodeError) as info:
            decode(path, spec)
        assert r["error"] == str(info.value), path
        checked += 1
    # The generated corpus alone holds 19 undecodable files; the shared badinputs corpus adds more.
    assert checked >= (20 if BADINPUTS.is_dir() else 15)


def test_reports_agree_and_count_every_file(full_scan):
    summary, reports = full_scan
    import json

    keys = ("raw_path", "verdict", "error", "sha256", "bytes")
    as_text = {s: [tuple("" if r[k] is None else str(r[k]) for k in keys) for r in recs] for s, recs in reports.items()}
    assert as_text[".csv"] == as_text[".jsonl"] == as_text[".json"]
    manifest = json.loads(Path(summary.outputs[2]).read_text())["manifest"]
    assert manifest["status"] == "complete"
    counted = {v: sum(r["verdict"] == v for r in reports[".json"]) for v in ("ai", "real", "error", "skipped")}
    assert manifest["counts"] == counted


def test_default_walk_of_links_fifo_and_deep_tree(corpus, onnx_backend, tmp_path):
    """Without --all-files: links get a 'skipped' record, a fifo is left out, a 60-deep image is found."""
    root, cases = corpus
    scan([str(root)], onnx_backend, [tmp_path / "r.jsonl"], workers=0, batch_size=8, quiet=True)
    got = {r["raw_path"]: r for r in hostile.read_report(tmp_path / "r.jsonl")}
    for case in cases:
        key = os.fsencode(case.path(root))
        if case.expect == "absent":
            assert key not in got, case.what
        else:
            assert got[key]["verdict"] in VERDICT[case.expect], (case.what, got[key])
    assert "symbolic link" in got[os.fsencode(os.path.join(root, "links", "up_loop"))]["error"]


def test_following_links_never_loops(corpus, onnx_backend, tmp_path):
    """--follow-symlinks from links/: up_loop leads back to the whole corpus, which is walked once, then stops."""
    root, _ = corpus
    links = os.path.join(root, "links")
    scan([links], onnx_backend, [tmp_path / "r.jsonl"], workers=0, follow_symlinks=True, quiet=True)
    records = hostile.read_report(tmp_path / "r.jsonl")
    got = {os.fsdecode(r["raw_path"]): r for r in records}
    assert len(got) == len(records), "a path has two records"
    assert any(r["verdict"] == "skipped" and "loop" in r["error"] for r in records), "no loop was reported"
    for name in ("self.jpg", "dangling.png"):
        rec = got[os.path.join(links, name)]
        assert rec["verdict"] == "error" and "symbolic link" in rec["error"], rec
    files = [os.stat(p) for p, r in got.items() if r["verdict"] in ("ai", "real", "error") and os.path.isfile(p)]
    inodes = [(st.st_dev, st.st_ino) for st in files]
    assert len(inodes) == len(set(inodes)), "a file was scanned twice through links"
    assert len(inodes) > 50  # the corpus was reached through the loop


def test_hostile_names_round_trip_in_every_format(corpus, full_scan):
    root, _ = corpus
    _, reports = full_scan
    names = {os.fsencode(os.path.join(root, n)) for n in hostile.NASTY_NAMES.values()}
    for suffix, records in reports.items():
        found = {r["raw_path"] for r in records} & names
        assert found == names, f"{suffix}: lost {names - found}"


# -- memory ---------------------------------------------------------------------------------------------------


def _memory_corpus(root: Path, corpus, side: int) -> None:
    """Bombs from both corpora and images right at the pixel cap, in the costliest modes (RGBA, 16-bit)."""
    corpus_root, cases = corpus
    root.mkdir()
    for case in cases:
        if case.bomb:
            os.symlink(case.path(corpus_root), root / os.path.basename(case.name))
    if BADINPUTS.is_dir():
        for name in os.listdir(BADINPUTS):
            if ("bomb" in name and "extents" not in name) or "10000x10000" in name or "reallybig" in name:
                os.symlink(BADINPUTS / name, root / name)
    for i, (color_type, depth, channels) in enumerate([(6, 8, 4), (0, 16, 1), (2, 8, 3)] * 2):
        row = 1 + side * channels * depth // 8
        (root / f"at_cap_{i}.png").write_bytes(
            hostile.png(side, side, hostile.zeros_zlib(side * row), color_type, depth)
        )


def _scan_peak(tiny_onnx, paths: list[str], out: Path, max_pixels: int) -> tuple[int, int, str]:
    """(peak RSS of the scan's whole process tree, exit code, stderr) of `synthsight scan` as a subprocess."""
    cmd = [sys.executable, "-m", "synthsight", "scan", *paths, "--model", str(tiny_onnx["onnx"]), "--out", str(out)]
    cmd += ["--workers", "2", "--batch-size", "8", "--max-pixels", str(max_pixels), "--quiet", "--follow-symlinks"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, hostile.tree_rss(proc.pid))
        time.sleep(0.02)
    _, err = proc.communicate()
    return peak, proc.returncode, err.decode(errors="replace")


def test_scan_memory_is_bounded_by_pixel_cap_and_batch(corpus, tiny_onnx, tmp_path):
    """Peak RSS of the whole scan (parent + 2 decode workers) over a bomb-heavy corpus.

    Bound: the same scan over small images, plus per worker 32 bytes per capped pixel (the costliest
    decode measured: RGBA and 16-bit PNG) plus 64 MB of slack. Bombs must cost nothing.
    """
    side = 1500
    cap = side * side
    heavy = tmp_path / "heavy"
    _memory_corpus(heavy, corpus, side)
    light = tmp_path / "light"
    light.mkdir()
    for i in range(12):
        hostile.noise(64, 48, i).save(light / f"small_{i}.png")
    base, code, err = _scan_peak(tiny_onnx, [str(light)], tmp_path / "light.jsonl", cap)
    assert code == 0, err
    peak, code, err = _scan_peak(tiny_onnx, [str(heavy)], tmp_path / "heavy.jsonl", cap)
    assert code == 0, err
    records = hostile.read_report(tmp_path / "heavy.jsonl")
    assert len(records) == len(os.listdir(heavy))
    assert sum(r["verdict"] in ("ai", "real") for r in records) == 6  # the at-cap images decode
    assert all(r["error"].startswith("too-large") for r in records if r["verdict"] == "error")
    bound = base + 2 * 32 * cap + (64 << 20)
    print(
        f"\nscan peak RSS: light {base / 2**20:.0f} MB, bomb-heavy {peak / 2**20:.0f} MB, bound {bound / 2**20:.0f} MB"
    )
    assert peak < bound, (
        f"peak {peak / 2**20:.0f} MB over the bound {bound / 2**20:.0f} MB (light {base / 2**20:.0f} MB)"
    )
