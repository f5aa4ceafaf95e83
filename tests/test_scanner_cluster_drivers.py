"""scan --ray on a local multi-node Ray (a head and a worker node, ray.cluster_utils.Cluster): two drivers on one
cluster both finish (issue 24 item 3), and a worker node lost mid-scan never hangs the scan (item 4).

The scans run as `synthsight scan --ray ADDRESS` processes of their own, joining the test's cluster; the
reference is the plain scan (no Ray) in this process. The cluster's processes are the test's and are ended
with it (Cluster.shutdown kills the nodes it started, no `ray stop`).
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
from scanner_support import REPO, child_env, image_bytes, wait_for_parts
from scanner_support import slow_tree as make_slow_tree
from test_scanner_cluster import same_records

from synthsight.reports.writers import read_records
from synthsight.scanner import scan

ray = pytest.importorskip("ray", reason="Ray is the optional extra synthsight[cluster] (make test installs it)")

NODE = dict(num_cpus=2, object_store_memory=96 << 20, include_dashboard=False)


@pytest.fixture
def two_nodes():
    """A head and a worker node of 2 CPUs each (one CPU inference actor per node plans 2 actors of 1 CPU)."""
    from ray.cluster_utils import Cluster

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    cluster = Cluster(initialize_head=True, head_node_args=NODE)
    worker = cluster.add_node(**NODE)
    cluster.wait_for_nodes()
    yield cluster, worker
    cluster.shutdown()


def tree(root: Path, n: int, seed: int = 0) -> Path:
    root.mkdir()
    for i in range(n):
        (root / f"i{i:03d}.png").write_bytes(image_bytes("PNG", 20 + i % 9, 24, seed + i))
    return root


def start(root: Path, model: str, out: Path, address: str, *extra: str) -> subprocess.Popen:
    args = ["scan", str(root), "-m", model, "--ray", address, "--batch-size", "4", "--out", str(out), *extra]
    return subprocess.Popen([sys.executable, "-m", "synthsight", *args], cwd=REPO, env=child_env(),
                            stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip


def finish(proc: subprocess.Popen, timeout: float) -> str:
    try:
        return proc.communicate(timeout=timeout)[1]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.communicate()[1] + f"\n(killed: still running after {timeout:g} s)"


def plain(root: Path, model: str, out: Path) -> Path:
    scan([str(root)], model, [out], workers=1, batch_size=4, hash_files=True, quiet=True)  # the CLI hashes
    return out


def test_two_drivers_started_together_on_one_cluster_both_finish_with_the_plain_scans_records(
    two_nodes, tiny_onnx, tmp_path
):
    """Each driver plans 2 actors of 1 CPU (one per node) on a 4-CPU cluster. Planned from the cluster's total
    (a fixed pool of 2 each), the two pools take all 4 CPUs and no decode task ever runs: both stall. Planned
    from what is free, in a pool that starts with what is free (and can shrink to one actor), both finish."""
    cluster, _ = two_nodes
    model = str(tiny_onnx["onnx"])
    roots = [tree(tmp_path / f"t{k}", 24, seed=100 * k) for k in range(2)]
    outs = [tmp_path / f"ray{k}.csv" for k in range(2)]
    t0 = time.monotonic()
    procs = [start(r, model, out, cluster.address, "--stall-timeout", "60") for r, out in zip(roots, outs, strict=True)]
    errs = [finish(p, 150) for p in procs]
    took = time.monotonic() - t0
    for p, err in zip(procs, errs, strict=True):
        assert p.returncode == 0, err[-3000:]
        assert err.strip().splitlines()[-1].startswith("scanned 24 files: "), err[-3000:]
    assert took < 120, f"{took:.0f} s for two scans of 24 files"
    for k, out in enumerate(outs):
        same_records(out, plain(roots[k], model, tmp_path / f"plain{k}.csv"))
        manifest = json.loads(Path(f"{out}.manifest.json").read_text())
        assert manifest["status"] == "complete" and manifest["ray"]["nodes"] == 2


def slow_tree(root: Path) -> Path:
    """48 small images and 12 sparse 128 MiB files between them (hashed: a fraction of a second each)."""
    return make_slow_tree(root, images=48, sparse_every=4, sparse_mib=128)


def lose_the_worker_mid_scan(cluster, worker, proc: subprocess.Popen, out: Path) -> None:
    """Once the first part is written (the scan is under way on both nodes), the worker node is killed."""
    wait_for_parts(Path(f"{out}.parts"), 1, proc, timeout=90)
    cluster.remove_node(worker, allow_graceful=False)


STALL_S = 15


def test_a_worker_node_lost_mid_scan_ends_in_the_plain_records_or_a_stall_line_and_resume_finishes(
    two_nodes, tiny_onnx, tmp_path
):
    """Ray reruns the lost node's tasks (the scan finishes with the plain scan's records), or the watchdog stops
    the scan within --stall-timeout of the loss: one line, exit 1, a valid report that --resume completes."""
    cluster, worker = two_nodes
    root, model, out = slow_tree(tmp_path / "tree"), str(tiny_onnx["onnx"]), tmp_path / "r.csv"
    proc = start(root, model, out, cluster.address, "--batch-size", "1", "--stall-timeout", str(STALL_S))
    try:
        lose_the_worker_mid_scan(cluster, worker, proc, out)
        t0 = time.monotonic()
        err = finish(proc, STALL_S + 60)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    reference = plain(root, model, tmp_path / "plain.csv")
    status = json.loads(Path(f"{out}.manifest.json").read_text())["status"]
    print(f"node lost: exit {proc.returncode} {took:.1f} s after the loss, manifest {status}")
    assert out.read_bytes().endswith(b"\n") and not Path(f"{out}.parts").exists(), "the parts are in the report"
    if proc.returncode == 0:
        assert status == "complete" and err.strip().splitlines()[-1].startswith("scanned 60 files: "), err[-3000:]
    else:
        assert proc.returncode == 1, err[-3000:]
        last = err.strip().splitlines()[-1]
        assert last.startswith(f"error: no records came from the Ray cluster for {STALL_S} s"), err[-3000:]
        assert "Traceback" not in err, err[-3000:]
        assert took < STALL_S + 20, f"{took:.1f} s from the node's loss to the driver's exit"
        assert status == "failed"
        scan([str(root)], model, [out], workers=1, batch_size=4, hash_files=True, resume=True, quiet=True)
    same_records(out, reference)


def test_sigterm_after_a_worker_node_is_lost_exits_143_with_a_report_resume_completes(two_nodes, tiny_onnx, tmp_path):
    cluster, worker = two_nodes
    root, model, out = slow_tree(tmp_path / "tree"), str(tiny_onnx["onnx"]), tmp_path / "r.csv"
    proc = start(root, model, out, cluster.address, "--batch-size", "1", "--stall-timeout", "600")
    try:
        lose_the_worker_mid_scan(cluster, worker, proc, out)
        time.sleep(1)
        assert proc.poll() is None, "the scan was still running"
        proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        err = finish(proc, 30)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 143, err[-3000:]
    assert took < 15, f"{took:.1f} s from SIGTERM to the driver's exit"
    assert "interrupted: the reports are valid" in err and err.strip().splitlines()[-1].endswith("--resume"), err
    assert "Traceback" not in err, err[-3000:]  # Ray Data's executor stopping after the scan: muted
    assert json.loads(Path(f"{out}.manifest.json").read_text())["status"] == "interrupted"
    partial = read_records(out)[0]
    assert len(partial) < 60 and out.read_bytes().endswith(b"\n") and not Path(f"{out}.parts").exists()
    scan([str(root)], model, [out], workers=1, batch_size=4, hash_files=True, resume=True, quiet=True)
    same_records(out, plain(root, model, tmp_path / "plain.csv"))
