"""The file's own evidence beside the verdict, end to end: every sample gets its class in CSV, JSONL and JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from provenance_samples import with_test_anchor, write_samples
from scanner_support import MeanBackend

from synthsight.image.preprocess import PreprocessSpec
from synthsight.reports.writers import read_records
from synthsight.scanner import scan
from synthsight.spec import ModelSpec

REPO = Path(__file__).resolve().parents[1]
FORMATS = (".csv", ".jsonl", ".json")


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    root = tmp_path_factory.mktemp("provenance-scan")
    expected = write_samples(root / "files", ca_pem=root / "test-ca.pem")
    return root, expected


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "synthsight", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def _by_name(report: Path) -> dict:
    return {Path(r.path).name: r for r in read_records(report)[0]}


@pytest.mark.parametrize("anchored", [False, True], ids=["vendored-trust-list", "with-test-ca"])
def test_every_sample_gets_its_class_in_every_report_format(samples, tiny_onnx, anchored):
    root, expected = samples
    want = with_test_anchor(expected) if anchored else expected
    outs = [root / f"{'anchored' if anchored else 'plain'}{fmt}" for fmt in FORMATS]
    args = ["scan", str(root / "files"), "--model", str(tiny_onnx["onnx"]), "--overwrite", "--workers", "1"]
    args += [a for out in outs for a in ("--out", str(out))]
    done = _cli(*args, *(("--trust-anchors", str(root / "test-ca.pem")) if anchored else ()))
    assert done.returncode == 0, done.stderr
    for out in outs:
        records = _by_name(out)
        assert {name: r.provenance for name, r in records.items()} == want, out.suffix
        for name, rec in records.items():
            if want[name] != "none":
                assert rec.evidence, (out.suffix, name)
            if out.suffix != ".csv" and want[name] != "none":
                assert isinstance(rec.provenance_detail, dict) and rec.provenance_detail, (out.suffix, name)
            assert "\n" not in rec.evidence
    csv_header = outs[0].read_text(encoding="utf-8").splitlines()[0].split(",")
    assert "provenance" in csv_header and "evidence" in csv_header and "provenance_detail" not in csv_header
    manifest = json.loads(outs[2].read_text())["manifest"]["provenance"]
    assert manifest["enabled"] and sum(manifest["counts"].values()) == len(want)
    assert {t["sha256"] for t in manifest["trust_lists"]} and len(manifest["trust_lists"]) == 1 + anchored
    ai_trusted = sum(k == "ai-trusted" for k in want.values())
    assert (f"{ai_trusted} ai-trusted" in done.stderr) == anchored


def test_the_verdict_is_never_changed_by_the_evidence(samples, tmp_path):
    root, expected = samples
    backend = MeanBackend(ModelSpec(arch="convnext_atto", preprocess=PreprocessSpec(size=32)))
    with_evidence, without = tmp_path / "on.jsonl", tmp_path / "off.jsonl"
    scan([str(root / "files")], backend, [with_evidence], workers=0, quiet=True)
    summary = scan([str(root / "files")], backend, [without], workers=0, quiet=True, provenance=False)
    on, off = _by_name(with_evidence), _by_name(without)
    assert {n: (r.verdict, r.score, r.error) for n, r in on.items()} == {
        n: (r.verdict, r.score, r.error) for n, r in off.items()
    }
    assert all(r.provenance == "" and r.evidence == "" and r.provenance_detail is None for r in off.values())
    assert "provenance:" not in summary.line and summary.manifest["provenance"] == {"enabled": False}


def test_resume_refuses_to_mix_records_with_and_without_provenance(samples, tmp_path):
    from synthsight.errors import UsageError

    root, _ = samples
    backend = MeanBackend(ModelSpec(arch="convnext_atto", preprocess=PreprocessSpec(size=32)))
    report = tmp_path / "r.csv"
    scan([str(root / "files")], backend, [report], workers=0, quiet=True)
    with pytest.raises(UsageError, match="provenance settings"):
        scan([str(root / "files")], backend, [report], workers=0, quiet=True, resume=True, provenance=False)
    anchor = [str(root / "test-ca.pem")]
    with pytest.raises(UsageError, match="provenance settings"):
        scan([str(root / "files")], backend, [report], workers=0, quiet=True, resume=True, trust_anchors=anchor)


def test_the_summary_counts_files_per_class(samples, tiny_onnx, tmp_path):
    root, expected = samples
    done = _cli("scan", str(root / "files"), "--model", str(tiny_onnx["onnx"]), "--out", str(tmp_path / "r.csv"))
    assert done.returncode == 0, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    for klass in set(expected.values()):
        n = sum(v == klass for v in expected.values())
        assert f"{n} {klass}" in line, (klass, line)


def test_explain_shows_the_evidence_beside_the_verdict(samples, tiny_bundle, tmp_path):
    root, expected = samples
    name = next(n for n, k in expected.items() if k == "ai-declared" and n.endswith(".png"))
    from click.testing import CliRunner

    from synthsight.cli.explain import explain

    args = [str(root / "files" / name), "--model", str(tiny_bundle), "--out", str(tmp_path / "o.png")]
    done = CliRunner().invoke(explain, args)  # in this process: pytorch-grad-cam's imports are paid once
    assert done.exit_code == 0, done.output
    assert "provenance: ai-declared" in done.stdout and "score " in done.stdout


def test_a_bad_trust_anchor_file_is_one_line_before_scanning(samples, tiny_onnx, tmp_path):
    root, _ = samples
    bad = tmp_path / "not-a-cert.pem"
    bad.write_text("hello")
    done = _cli("scan", str(root / "files"), "--model", str(tiny_onnx["onnx"]), "--trust-anchors", str(bad))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not os.path.exists(tmp_path / "r.csv")


def test_the_realworld_stable_diffusion_pngs_are_declared(realworld_dir: Path, tmp_path):
    import csv

    with open(realworld_dir / "manifest.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    sd21 = [realworld_dir / r["path"] for r in rows if "2.1" in r["generator"] and r["path"].endswith(".png")]
    assert len(sd21) == 6, [r["generator"] for r in rows][:20]
    backend = MeanBackend(ModelSpec(arch="convnext_atto", preprocess=PreprocessSpec(size=32)))
    out = tmp_path / "r.jsonl"
    scan([str(p) for p in sd21], backend, [out], workers=0, quiet=True)
    assert {r.provenance for r in read_records(out)[0]} == {"ai-declared"}


def test_a_text_chunk_bomb_does_not_hide_the_pixels_from_the_detector(samples, tmp_path):
    root, expected = samples
    backend = MeanBackend(ModelSpec(arch="convnext_atto", preprocess=PreprocessSpec(size=32)))
    out = tmp_path / "bomb.jsonl"
    scan([str(root / "files" / "hostile-ztxt-bomb.png")], backend, [out], workers=0, quiet=True)
    (rec,) = read_records(out)[0]
    assert rec.error == "" and rec.verdict in ("ai", "real"), rec  # was error "too-large": no verdict at all
    assert "decoded without 1 PNG text chunk(s) over Pillow's limits (zTXt 'Comment')" in rec.notes
    assert rec.provenance == expected["hostile-ztxt-bomb.png"] == "ai-declared"  # its small text chunk still reads


def test_a_scan_without_the_provenance_libraries_is_one_line_and_no_provenance_runs(samples, tiny_onnx, tmp_path):
    """A GPU image with synthsight installed --no-deps has no cryptography / c2pa-python: no traceback."""
    root, _ = samples
    block = "import sys, runpy; sys.modules['cryptography'] = sys.modules['c2pa'] = None; "
    run = block + "sys.argv = ['synthsight', *sys.argv[1:]]; runpy.run_module('synthsight', run_name='__main__')"
    out = tmp_path / "r.csv"
    args = ["scan", str(root / "files"), "--model", str(tiny_onnx["onnx"]), "--out", str(out), "--quiet"]
    command = [sys.executable, "-c", run, *args]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        "error: reading provenance (on by default) needs cryptography and c2pa-python, not installed here: "
        "pip install cryptography c2pa-python, or scan with --no-provenance"
    ], done.stderr
    assert not out.exists()
    done = subprocess.run([*command, "--no-provenance"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert all(r.provenance is None or r.provenance == "" for r in read_records(out)[0])
