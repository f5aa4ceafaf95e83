"""scan(): every file accounted for exactly once in every output, the same for 0, 1 and 2 workers,
verdicts equal to the backend run directly, hostile corpora never crash it, Ctrl-C then --resume."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scanner_support import make_tree, records_by_path

from synthsight.image.preprocess import decode
from synthsight.reports.writers import read_records
from synthsight.runtime.base import Backend, scores_from_logits
from synthsight.scanner import scan

pytest_plugins = ["scanner_fixtures"]  # the `backend` fixture


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("tree")
    return root, make_tree(root)


def outputs(folder: Path, stem: str) -> list[Path]:
    return [folder / f"{stem}.csv", folder / f"{stem}.jsonl", folder / f"{stem}.json"]


def read_all(paths: list[Path]) -> list[dict]:
    """Records of each output, keyed by exact path; asserts each path appears once per output."""
    return [records_by_path(read_records(p)[0]) for p in paths]


def test_tree_accounted_once_in_all_outputs_identically_for_0_1_2_workers(tree, backend, tmp_path):
    root, expected = tree
    wanted = {p: o for p, o in expected.items() if o != "ignored"}
    runs = {}
    for workers in (0, 1, 2):
        outs = outputs(tmp_path, f"w{workers}")
        summary = scan([str(root)], backend, outs, workers=workers, batch_size=16, quiet=True)
        assert not summary.interrupted
        per_output = read_all(outs)
        for recs in per_output:
            assert set(recs) == set(wanted), "every file exactly once, nothing else"
            for path, outcome in wanted.items():
                verdict = recs[path].verdict
                assert verdict in (("ai", "real") if outcome == "ok" else (outcome,)), (path, recs[path])
        manifest = json.loads(outs[2].read_text())["manifest"]
        assert manifest["counts"] == summary.counts and sum(summary.counts.values()) == len(wanted)
        assert manifest["status"] == "complete" and manifest["decode_workers"] == workers
        runs[workers] = per_output[0]
    for workers in (1, 2):
        for path, rec in runs[0].items():
            other = runs[workers][path]
            assert (rec.verdict, rec.sha256, rec.error, rec.width) == (
                other.verdict,
                other.sha256,
                other.error,
                other.width,
            )
            assert rec.score is None or abs(rec.score - other.score) < 1e-5


def test_scan_verdicts_equal_the_backend_run_directly(tree, backend, tmp_path):
    root, expected = tree
    good = sorted(p for p, o in expected.items() if o == "ok")[::9]
    out = tmp_path / "r.jsonl"
    scan(good, backend, [out], workers=2, batch_size=8, quiet=True)
    recs = records_by_path(read_records(out)[0])
    pixels = np.stack([decode(p, backend.preprocess).pixels for p in good])
    scores = scores_from_logits(backend.infer(pixels), backend.positive_index)
    threshold = backend.model_spec.threshold
    for path, score in zip(good, scores, strict=True):
        assert recs[path].verdict == ("ai" if score >= threshold else "real")
        assert abs(recs[path].score - score) < 1e-4


def test_the_manifest_backend_line_is_what_the_backend_describes(tree, backend, tmp_path):
    """One backend line (Backend.describe()), in every report: ONNX Runtime's providers included, which the
    manifest once left out."""
    root, _ = tree
    outs = [tmp_path / "r.csv", tmp_path / "r.json"]
    scan([root], backend, outs, workers=0, batch_size=8, quiet=True)
    line = backend.describe()
    assert line["providers"] == ["CPUExecutionProvider"] and "model" not in line  # the model is the manifest's own
    beside, inline = (tmp_path / "r.csv.manifest.json").read_text(), outs[1].read_text()
    for manifest in (json.loads(beside), json.loads(inline)["manifest"]):
        assert {k: manifest[k] for k in line} == line
        assert manifest["model"]["path"] == os.path.abspath(backend.source)


@pytest.mark.parametrize("corpus", ["badinputs_dir", "realworld_dir"])
def test_shared_corpora_never_crash_and_every_file_has_a_record(corpus, request, backend, tmp_path):
    root = request.getfixturevalue(corpus)
    out = tmp_path / "r.csv"
    summary = scan([str(root)], backend, [out], workers=1, all_files=True, quiet=True)
    recs = records_by_path(read_records(out)[0])
    files = {os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs}
    assert set(recs) == files
    assert sum(summary.counts.values()) == len(files)
    assert all(r.error for r in recs.values() if r.verdict == "error")
    if corpus == "realworld_dir":
        with open(root / "manifest.csv", newline="") as fh:
            listed = {str(root / row["path"]) for row in csv.DictReader(fh)}
        assert all(recs[p].verdict in ("ai", "real") for p in listed), "every labelled image decodes"


class InterruptingBackend(Backend):
    """Wraps a backend; sends this process SIGINT during its n-th batch (a user pressing Ctrl-C)."""

    def __init__(self, inner: Backend, at_call: int, signum: int = signal.SIGINT):
        super().__init__(inner.model_spec, source=inner.source)
        self.inner, self.at_call, self.calls, self.signum = inner, at_call, 0, signum
        self.name, self.device, self.precision = inner.name, inner.device, inner.precision

    def _infer(self, pixels: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.calls == self.at_call:
            os.kill(os.getpid(), self.signum)
        return self.inner.infer(pixels)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_then_resume_equals_an_uninterrupted_run(signum, tree, backend, tmp_path):
    root, _ = tree
    whole = outputs(tmp_path, "whole")
    scan([str(root)], backend, whole, workers=1, batch_size=32, quiet=True)
    parts = outputs(tmp_path, "part")
    first = scan([str(root)], InterruptingBackend(backend, 5, signum), parts, workers=1, batch_size=32, quiet=True)
    # Batch 5 computes once batch 4 is submitted, before batch 4's records are written (scanner/overlap.py): the
    # stop comes after batch 4's records at the earliest; batch 5, in flight, is dropped (or written when late).
    assert first.interrupted and 3 * 32 <= first.images < 900
    assert json.loads(parts[2].read_text())["manifest"]["status"] == "interrupted"
    done = read_all(parts[:2])
    assert len(done[0]) == len(done[1]) == sum(first.counts.values())
    second = scan([str(root)], backend, parts, workers=2, batch_size=32, quiet=True, resume=True)
    assert not second.interrupted and sum(second.counts.values()) == len(read_all(whole)[0]) - len(done[0])
    for a, b in zip(read_all(whole), read_all(parts), strict=True):
        assert set(a) == set(b)
        for path, rec in a.items():
            assert (rec.verdict, rec.sha256, rec.error) == (b[path].verdict, b[path].sha256, b[path].error)


def test_a_report_with_a_gap_is_resumed_into_the_whole_runs_lines_in_walk_order(tree, backend, tmp_path):
    """A scan that stopped with a gap (a --ray scan's block lost with its node) gets the missing files appended
    by --resume; the completed report puts them back in walk order: line for line the uninterrupted run's."""
    root, _ = tree
    whole = outputs(tmp_path, "whole")[:2]
    scan([str(root)], backend, whole, workers=0, batch_size=32, quiet=True)
    gapped = outputs(tmp_path, "gap")[:2]
    for src, dst in zip(whole, gapped, strict=True):
        lines = src.read_bytes().splitlines(keepends=True)
        head = 1 if src.suffix == ".csv" else 0
        dst.write_bytes(b"".join(lines[: head + 10] + lines[head + 40 :]))  # records 10-39 lost
        Path(f"{dst}.manifest.json").write_bytes(Path(f"{src}.manifest.json").read_bytes())
    again = scan([str(root)], backend, gapped, workers=0, batch_size=32, quiet=True, resume=True)
    assert sum(again.counts.values()) == 30, "only the lost files are scanned again"
    for a, b in zip(whole, gapped, strict=True):
        assert b.read_bytes() == a.read_bytes(), f"{b.name}: the lines of the uninterrupted run, in its order"
        assert json.loads(Path(f"{b}.manifest.json").read_text())["report_records"] == len(read_records(a)[0])


def test_resume_refuses_a_different_model(tiny_onnx, tmp_path):
    from synthsight.errors import UsageError

    images = tmp_path / "images"
    images.mkdir()
    for i in range(6):
        Image.fromarray(np.full((40, 40, 3), 40 * i, np.uint8)).save(images / f"{i}.png")
    report = tmp_path / "r.csv"
    scan([str(images)], str(tiny_onnx["onnx"]), [report], workers=0, quiet=True)
    manifest = json.loads((tmp_path / "r.csv.manifest.json").read_text())
    assert manifest["status"] == "complete" and len(manifest["model"]["sha256"]) == 64
    before = report.read_bytes()
    with pytest.raises(UsageError, match="model sha256"):
        scan([str(images)], str(tiny_onnx["fp16"]), [report], workers=0, quiet=True, resume=True)
    with pytest.raises(UsageError, match="threshold"):
        scan([str(images)], str(tiny_onnx["onnx"]), [report], workers=0, quiet=True, resume=True, threshold=0.01)
    with pytest.raises(UsageError, match=r"differs in hashing \(--hash/--no-hash\)"):  # never mixed
        scan([str(images)], str(tiny_onnx["onnx"]), [report], workers=0, quiet=True, resume=True, hash_files=False)
    assert report.read_bytes() == before, "a refused resume leaves the report alone"
    scan([str(images)], str(tiny_onnx["onnx"]), [report], workers=0, quiet=True, resume=True)
    manifest = json.loads((tmp_path / "r.csv.manifest.json").read_text())
    assert manifest["resumed"] and [r["status"] for r in manifest["earlier_runs"]] == ["complete"]


def test_a_bundle_named_by_its_json_is_hashed_by_its_weights(tiny_bundle, tmp_path):
    """`--model NAME.json` used to hash the JSON, so new weights under the same JSON resumed silently."""
    import shutil

    from synthsight.errors import UsageError

    images = tmp_path / "images"
    images.mkdir()
    for i in range(3):
        Image.fromarray(np.full((40, 40, 3), 60 * i, np.uint8)).save(images / f"{i}.png")
    shutil.copy(tiny_bundle / "model.safetensors", tmp_path / "det.safetensors")
    shutil.copy(tiny_bundle / "model.json", tmp_path / "det.json")
    report = tmp_path / "r.csv"
    scan([str(images)], str(tmp_path / "det.json"), [report], workers=0, quiet=True)
    manifest = json.loads((tmp_path / "r.csv.manifest.json").read_text())
    weights = (tmp_path / "det.safetensors").read_bytes()
    assert manifest["model"]["sha256"] == hashlib.sha256(weights).hexdigest()
    from safetensors.torch import load_file, save_file

    state = load_file(str(tmp_path / "det.safetensors"))
    first = next(iter(state))
    state[first] = state[first] + 1.0  # retrained weights, same JSON
    save_file(state, str(tmp_path / "det.safetensors"))
    with pytest.raises(UsageError, match="model sha256"):
        scan([str(images)], str(tmp_path / "det.json"), [report], workers=0, quiet=True, resume=True)
