"""scan --ray when Ray's nodes go away (issue 24 item 5): the driver's own node losing its Ray processes while the
driver lives on ends the scan in one line, exit 1, with reports made of every part so far and a manifest that
says interrupted; --resume then finishes the scan with the plain scan's records.

The scans run as `synthsight scan` processes of their own with a local Ray each (its processes are the
driver's children, so the test can kill them and leave the driver); the resume and the reference scan use
this module's in-process Ray.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from scanner_support import RAY_ENV as ENV
from scanner_support import REPO, records_by_path, wait_for_parts
from scanner_support import slow_tree as make_slow_tree

from synthsight.reports.writers import read_records
from synthsight.scanner import scan

ray = pytest.importorskip("ray", reason="Ray is the optional extra synthsight[cluster] (make test installs it)")


def slow_tree(root: Path) -> Path:
    """320 small images and 16 sparse 384 MiB files between them (hashed: about a second each)."""
    return make_slow_tree(root, images=320, sparse_every=20, sparse_mib=384)


def test_the_drivers_node_going_away_ends_the_scan_in_one_line_interrupted_and_resume_finishes(
    ray_cluster, tiny_onnx, tmp_path
):
    import psutil

    root, model, out = slow_tree(tmp_path / "tree"), str(tiny_onnx["onnx"]), tmp_path / "r.csv"
    args = ["scan", str(root), "-m", model, "--ray", "local", "--batch-size", "4", "--hash", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "synthsight", *args], cwd=REPO, env=ENV, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)  # fmt: skip
    folder = Path(f"{out}.parts")
    try:
        wait_for_parts(folder, 1, proc, timeout=180)  # the first part came from the cluster
        node = psutil.Process(proc.pid).children(recursive=True)  # the node's Ray: GCS, raylet, workers
        for p in node:
            p.send_signal(signal.SIGKILL)
        t0 = time.monotonic()
        _, err = proc.communicate(timeout=120)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 1, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: the Ray node this driver runs on went away") and last.endswith("--resume"), err
    assert took < 12, f"{took:.1f} s from the node's loss to the driver's exit"
    assert json.loads(Path(f"{out}.manifest.json").read_text())["status"] == "interrupted"
    partial = read_records(out)[0]
    assert partial and out.read_bytes().endswith(b"\n") and not folder.exists(), "the parts are in the report"
    again = scan([str(root)], model, [out], ray="local", batch_size=4, hash_files=True, resume=True, quiet=True)
    assert not again.interrupted and sum(again.counts.values()) == 336 - len(partial)
    reference = tmp_path / "whole.csv"
    scan([str(root)], model, [reference], workers=1, batch_size=4, hash_files=True, quiet=True)
    got, want = records_by_path(read_records(out)[0]), records_by_path(read_records(reference)[0])
    assert list(got) == list(want), "every file once, in walk order"
    assert all((got[p].verdict, got[p].sha256) == (want[p].verdict, want[p].sha256) for p in want)


def test_a_worker_node_removed_mid_scan_ends_the_scan_with_valid_reports_and_never_hangs(
    tiny_onnx, tmp_path, monkeypatch
):
    """A local two-node Ray (ray.cluster_utils.Cluster: a head and a worker node, 2 CPUs each); the worker node is
    removed (not gracefully) once the first part is written: the scan either finishes with the plain scan's
    records or stops in one line with valid reports within its --stall-timeout (40 s), never hangs."""
    from ray.cluster_utils import Cluster

    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # the scan process joins this cluster without its token
    root, model, out = slow_tree(tmp_path / "tree"), str(tiny_onnx["onnx"]), tmp_path / "r.csv"
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
    try:
        worker = cluster.add_node(num_cpus=2)
        cluster.wait_for_nodes()
        args = ["scan", str(root), "-m", model, "--ray", cluster.address, "--batch-size", "4", "--threads", "1",
                "--stall-timeout", "40", "--out", str(out), "--quiet"]  # fmt: skip
        env = {**ENV, "RAY_AUTH_MODE": "disabled"}
        proc = subprocess.Popen([sys.executable, "-m", "synthsight", *args], cwd=REPO, env=env,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        folder = Path(f"{out}.parts")
        wait_for_parts(folder, 1, proc, timeout=180)  # the first part came from the cluster
        cluster.remove_node(worker, allow_graceful=False)
        t0 = time.monotonic()
        try:
            _, err = proc.communicate(timeout=150)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError("the scan hung after its worker node was removed") from None
        took = time.monotonic() - t0
    finally:
        cluster.shutdown()
    status = json.loads(Path(f"{out}.manifest.json").read_text())["status"]
    got = records_by_path(read_records(out)[0])
    assert out.read_bytes().endswith(b"\n") and not folder.exists()
    if proc.returncode == 0:
        reference = tmp_path / "whole.csv"
        scan([str(root)], model, [reference], workers=1, batch_size=4, quiet=True)
        want = records_by_path(read_records(reference)[0])
        assert status == "complete" and list(got) == list(want), "every file once, in walk order"
        assert all((got[p].verdict, got[p].sha256) == (want[p].verdict, want[p].sha256) for p in want)
    else:
        assert proc.returncode == 1 and status in ("failed", "interrupted"), (proc.returncode, status, err[-2000:])
        assert err.strip().splitlines()[-1].strip().endswith("--resume") and took < 40 + 60, err[-2000:]
