"""`synthsight scan` / `explain` as a user runs them: exit codes, Ctrl-C and a killed worker, then --resume."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from scanner_support import image_bytes, records_by_path

from synthsight.reports.writers import read_records
from synthsight.scanner import scan

pytest_plugins = ["scanner_fixtures"]
REPO = Path(__file__).resolve().parents[1]
SLOW_NAME = "m-sparse.jpg"


def cli(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "synthsight", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def run(*args: str) -> subprocess.CompletedProcess:
    p = cli(*args)
    out, err = p.communicate(timeout=120)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


@pytest.fixture()
def slow_tree(tmp_path: Path) -> Path:
    """80 small images around a sparse 384 MiB file: hashing it holds the scan for about a second."""
    root = tmp_path / "tree"
    root.mkdir()
    for i in range(40):
        (root / f"a{i:02d}.png").write_bytes(image_bytes("PNG", 20 + i, 24, i))
        (root / f"z{i:02d}.jpg").write_bytes(image_bytes("JPEG", 30, 20 + i, 100 + i))
    with open(root / SLOW_NAME, "wb") as fh:
        fh.truncate(384 << 20)
    return root


def wait_for_lines(path: Path, n: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return
        time.sleep(0.02)
    raise AssertionError(f"{path} never reached {n} lines (exit {proc.poll()})")


def same_records(a: Path, b: Path) -> None:
    ra, rb = records_by_path(read_records(a)[0]), records_by_path(read_records(b)[0])
    assert set(ra) == set(rb)
    for path, rec in ra.items():
        assert (rec.verdict, rec.sha256, rec.error) == (rb[path].verdict, rb[path].sha256, rb[path].error), path


def test_bad_outputs_and_paths_are_refused_before_scanning(tiny_onnx, tmp_path: Path):
    model = str(tiny_onnx["onnx"])
    r = run("scan", str(tmp_path), "--model", model, "--out", str(tmp_path))
    assert r.returncode == 2 and "is a folder" in r.stderr and "Traceback" not in r.stderr
    r = run("scan", str(tmp_path / "nope"), "--model", model, "--out", str(tmp_path / "r.csv"))
    assert r.returncode == 2 and "no such file" in r.stderr
    assert not (tmp_path / "r.csv").exists()


def test_ctrl_c_exits_130_with_valid_reports_and_resume_finishes(slow_tree, backend, tiny_onnx, tmp_path: Path):
    csv_out, json_out = tmp_path / "r.csv", tmp_path / "r.json"
    args = ["scan", str(slow_tree), "--model", str(tiny_onnx["onnx"]), "--workers", "1", "--batch-size", "4"]
    proc = cli(*args, "--out", str(csv_out), "--out", str(json_out))
    wait_for_lines(csv_out, 1 + 8, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    partial = read_records(csv_out)[0]
    assert 8 <= len(partial) < 81 and csv_out.read_bytes().endswith(b"\n")
    assert '"status": "interrupted"' in json_out.read_text()
    command = err.strip().splitlines()[-1].strip()
    assert command.startswith("synthsight scan") and command.endswith("--resume")
    again = run(*shlex.split(command)[1:])
    assert again.returncode == 0, again.stderr
    reference = tmp_path / "whole.csv"
    scan([str(slow_tree)], backend, [reference], workers=1, batch_size=4, quiet=True)
    same_records(reference, csv_out)
    same_records(reference, json_out)


def _decode_workers(pid: int) -> list:
    import psutil

    # forkserver: the workers are children of the fork server, itself a child of the scan.
    kids = psutil.Process(pid).children(recursive=True)
    return [k for k in kids if k.ppid() != pid]


def test_a_file_that_kills_two_decode_workers_gets_one_record_and_resume_repairs_it(
    slow_tree, backend, tiny_onnx, tmp_path: Path
):
    out = tmp_path / "r.jsonl"
    args = ["scan", str(slow_tree), "--model", str(tiny_onnx["onnx"]), "--workers", "1", "--batch-size", "1"]
    proc = cli(*args, "--out", str(out), "--quiet")
    wait_for_lines(out, 40, proc)  # a00..a39 done: the worker now hashes the sparse file
    killed: set[int] = set()
    for _ in range(2):  # the first death gets the file read again by a fresh worker, the second its record
        time.sleep(0.2)
        deadline = time.monotonic() + 30
        while not (workers := [w for w in _decode_workers(proc.pid) if w.pid not in killed]):
            assert time.monotonic() < deadline, "no fresh decode worker"
            time.sleep(0.02)
        assert len(workers) == 1
        killed.add(workers[0].pid)
        workers[0].send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    recs = records_by_path(read_records(out)[0])
    assert len(recs) == 81
    assert (
        recs[str(slow_tree / SLOW_NAME)].error
        == "worker-died: decode workers died twice while reading this file (the second time: signal 9)"
    )
    assert all(r.verdict in ("ai", "real") for p, r in recs.items() if not p.endswith(SLOW_NAME))
    again = run(*args, "--out", str(out), "--quiet", "--resume")
    assert again.returncode == 0, again.stderr
    reference = tmp_path / "whole.jsonl"
    scan([str(slow_tree)], backend, [reference], workers=1, batch_size=1, quiet=True)
    same_records(reference, out)
    assert out.read_bytes().count(b"\n") == 81  # the superseded line is gone


def test_explain_prints_verdict_and_writes_overlay(tiny_bundle, tmp_path: Path):
    image = tmp_path / "x.png"
    image.write_bytes(image_bytes("PNG", 50, 40, 1))
    # In this process: a new one would spend most of its 20 s importing pytorch-grad-cam's stack.
    from click.testing import CliRunner

    from synthsight.cli.explain import explain

    r = CliRunner().invoke(explain, [str(image), "--model", str(tiny_bundle), "--out", str(tmp_path / "cam.png")])
    assert r.exit_code == 0, r.output
    assert r.stdout.split()[0] in ("ai", "real") and "score" in r.stdout
    assert (tmp_path / "cam.png").stat().st_size > 0


def test_a_scan_that_finds_nothing_warns_in_one_line_and_exits_3(tiny_onnx, tmp_path: Path):
    from synthsight.errors import EXIT_NOTHING_SCANNED

    empty, texts = tmp_path / "mnt" / "archive", tmp_path / "notes"
    empty.mkdir(parents=True)
    texts.mkdir()
    (texts / "readme.txt").write_text("not an image")
    for folder in (empty, texts):
        out = tmp_path / f"{folder.name}.csv"
        r = run("scan", str(folder), "--model", str(tiny_onnx["onnx"]), "--out", str(out), "--quiet")
        lines = r.stderr.strip().splitlines()
        assert r.returncode == EXIT_NOTHING_SCANNED == 3, r.stderr
        assert len(lines) == 1 and lines[0].startswith(f"WARNING: nothing to scan: no image file found in {folder}")
        assert out.is_file() and len(read_records(out)[0]) == 0  # the (empty) report is still written
    # one shard of a small tree may own no file (the other shards scan them): not a wrong folder
    r = run("scan", str(texts), "--model", str(tiny_onnx["onnx"]), "--out", str(tmp_path / "s.csv"), "--shard", "1/2")
    assert r.returncode == 0 and "nothing to scan" not in r.stderr, r.stderr
