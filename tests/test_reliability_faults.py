"""Faults during a scan, each on the real CLI in a subprocess: worker killed, Ctrl-C / SIGTERM, disk full,
unwritable outputs, files deleted or locked while the scan runs. After each, the reports are valid and
`--resume` ends with exactly the records of an uninterrupted run.

Permissions: the suite runs as root, which ignores file modes. The permission tests drop the
CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH capabilities from the scan's process (prctl PR_CAPBSET_DROP
before exec), so root obeys modes like any user; they skip where that is not allowed.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import hostile
import psutil
import pytest

N_SMALL, BIG_EVERY, BIG_SIDE = 160, 4, 1500  # ~3 s of decoding with one worker: time to hit it mid-scan
PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2


@pytest.fixture(scope="session")
def images(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fault_images")
    big = hostile.png(BIG_SIDE, BIG_SIDE, hostile.zeros_zlib(BIG_SIDE * (1 + BIG_SIDE * 4)), 6, 8)
    for i in range(N_SMALL):
        hostile.noise(32, 32, i).save(root / f"img{i:03d}.png")
        if i % BIG_EVERY == 0:
            (root / f"img{i:03d}_big.png").write_bytes(big)
    (root / "zz_truncated.jpg").write_bytes(hostile.encode(hostile.noise(40, 40, 1), "JPEG")[:300])
    return root


def cli(model: Path, paths: list, outs: list, *extra: str) -> list[str]:
    cmd = [sys.executable, "-m", "synthsight", "scan", *map(str, paths), "--model", str(model)]
    for out in outs:
        cmd += ["--out", str(out)]
    return [*cmd, "--workers", "1", "--batch-size", "8", "--quiet", *extra]


ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=180, **kw)


def start(cmd: list[str], **kw) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, **kw)


def wait_for_lines(path: Path, n: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return
        if proc.poll() is not None:
            pytest.fail(f"scan ended before {n} records: {proc.communicate()[1]}")
        time.sleep(0.01)
    proc.kill()
    pytest.fail(f"no {n} records in {path} after {timeout} s")


def records(path: Path) -> dict[bytes, dict]:
    rows = hostile.read_report(path)
    by_path = {r["raw_path"]: r for r in rows}
    assert len(by_path) == len(rows), f"{path}: a file has two records"
    return by_path


def assert_same_records(got: dict[bytes, dict], want: dict[bytes, dict]) -> None:
    assert set(got) == set(want), f"missing {set(want) - set(got)}, extra {set(got) - set(want)}"
    for key, w in want.items():
        g = got[key]
        assert (g["verdict"], g["error"], g["sha256"]) == (w["verdict"], w["error"], w["sha256"]), key
        if w["score"] not in (None, ""):
            assert abs(float(g["score"]) - float(w["score"])) < 1e-5, key


@pytest.fixture(scope="session")
def reference(images, tiny_onnx, tmp_path_factory) -> dict[bytes, dict]:
    """The records of an uninterrupted scan of `images`."""
    out = tmp_path_factory.mktemp("reference") / "r.jsonl"
    done = run(cli(tiny_onnx["onnx"], [images], [out]))
    assert done.returncode == 0, done.stderr
    got = records(out)
    assert len(got) == N_SMALL + N_SMALL // BIG_EVERY + 1
    return got


def resume_and_compare(tiny_onnx, images, outs: list[Path], reference) -> None:
    done = run(cli(tiny_onnx["onnx"], [images], outs, "--resume"))
    assert done.returncode == 0, done.stderr
    for out in outs:
        assert_same_records(records(out), reference)


def test_decode_worker_killed_mid_scan(images, tiny_onnx, reference, tmp_path):
    outs = [tmp_path / "r.jsonl", tmp_path / "r.csv"]
    proc = start(cli(tiny_onnx["onnx"], [images], outs))
    wait_for_lines(outs[0], 16, proc)
    main = psutil.Process(proc.pid)
    children = {c.pid for c in main.children()}
    workers = [p for p in main.children(recursive=True) if p.pid not in children]  # forkserver's children
    assert workers, "no decode worker found"
    for w in workers:
        os.kill(w.pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    got = records(outs[0])
    assert set(got) == set(reference)  # the scan went on and accounted for every file
    died = [r for r in got.values() if r["error"].startswith("worker-died: ")]
    assert not died, "each file a killed worker held was read again by a fresh one"
    resume_and_compare(tiny_onnx, images, outs, reference)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_then_resume(images, tiny_onnx, reference, tmp_path, sig):
    outs = [tmp_path / "r.jsonl", tmp_path / "r.csv", tmp_path / "r.json"]
    proc = start(cli(tiny_onnx["onnx"], [images], outs))
    wait_for_lines(outs[0], 16, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    code = proc.returncode
    assert "--resume" in err and "Traceback" not in err
    partial = [records(out) for out in outs]  # every report parses after the interruption
    assert 16 <= len(partial[0]) < len(reference)
    assert set(partial[0]) == set(partial[1]) == set(partial[2])
    assert json.loads(outs[2].read_text())["manifest"]["status"] == "interrupted"
    resume_and_compare(tiny_onnx, images, outs, reference)
    # Checked last so that the rest is proven either way. Exit 0 here means synthsight/cli/__init__.py main() drops
    # the code that click returns in standalone_mode=False (click.exceptions.Exit is returned, not raised).
    assert code == 128 + sig, f"interrupted scan exited {code}, not {128 + sig} (128 + the signal)"


def test_disk_full_is_one_clear_line_and_resumable(images, tiny_onnx, reference, tmp_path):
    """RLIMIT_FSIZE makes every write past 40 kB fail with EFBIG, as a full disk fails with ENOSPC."""
    outs = [tmp_path / "r.csv", tmp_path / "r.jsonl"]

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))

    # --workers 0: the decode pool's shared memory is a file too, and would hit the limit first
    done = run([*cli(tiny_onnx["onnx"], [images], outs), "--workers", "0"], preexec_fn=small_disk)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot write the report" in lines[0] and "--resume" in lines[0], done.stderr
    for out in outs:  # complete lines are all valid; only an unfinished last line may be cut
        data = out.read_bytes()
        whole = out.with_suffix(".whole" + out.suffix)
        whole.write_bytes(data[: data.rfind(b"\n") + 1])
        kept = records(whole)
        assert kept and all(reference[k]["verdict"] == r["verdict"] for k, r in kept.items())
    resume_and_compare(tiny_onnx, images, outs, reference)


def _drop_dac() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.fixture(scope="session")
def as_plain_user():
    """preexec_fn that makes a root subprocess obey file modes; skip where that cannot be done."""
    if os.geteuid() != 0:
        return None
    probe = subprocess.run([sys.executable, "-c", "pass"], preexec_fn=_drop_dac, capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot drop CAP_DAC_OVERRIDE here (no CAP_SETPCAP): root would ignore file modes")
    return _drop_dac


@pytest.mark.parametrize("problem", ["folder", "missing-folder", "unwritable", "unknown-format"])
def test_bad_output_is_refused_before_scanning(images, tiny_onnx, tmp_path, problem, as_plain_user):
    good = tmp_path / "good.jsonl"
    bad = {
        "folder": tmp_path,
        "missing-folder": tmp_path / "nowhere" / "r.csv",
        "unwritable": tmp_path / "locked" / "r.csv",
        "unknown-format": tmp_path / "r.xlsx",
    }[problem]
    if problem == "unwritable":
        bad.parent.mkdir()
        bad.parent.chmod(0o555)
    done = run(cli(tiny_onnx["onnx"], [images], [good, bad]), preexec_fn=as_plain_user)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and str(bad) in done.stderr, done.stderr
    assert not good.exists(), "a report was started before the output check"


def test_files_deleted_or_locked_during_the_scan(images, tiny_onnx, tmp_path, as_plain_user):
    root = tmp_path / "scan"
    shutil.copytree(images, root)
    (root / "a_locked.png").write_bytes((root / "img000.png").read_bytes())
    (root / "a_locked.png").chmod(0)
    locked_dir = root / "a_locked_dir"
    locked_dir.mkdir()
    (locked_dir / "inside.png").write_bytes((root / "img001.png").read_bytes())
    locked_dir.chmod(0)
    late = {name: root / name for name in ("zz_deleted.png", "zz_locked.png")}
    for path in late.values():
        path.write_bytes((root / "img002.png").read_bytes())
    out = tmp_path / "r.jsonl"
    proc = start(cli(tiny_onnx["onnx"], [root], [out]), preexec_fn=as_plain_user)
    wait_for_lines(out, 16, proc)
    late["zz_deleted.png"].unlink()
    late["zz_locked.png"].chmod(0)
    _, err = proc.communicate(timeout=120)
    locked_dir.chmod(0o755)
    assert proc.returncode == 0, err
    got = {os.fsdecode(k): r for k, r in records(out).items()}
    error = {Path(p).name: r["error"] for p, r in got.items() if r["verdict"] == "error"}
    assert "not found" in error["zz_deleted.png"] or "no such file" in error["zz_deleted.png"]
    if as_plain_user is not None or os.geteuid() != 0:
        assert "permission denied" in error["a_locked.png"]
        assert "permission denied" in error["zz_locked.png"]
        assert "permission denied" in error["a_locked_dir"]
    assert sum(r["verdict"] in ("ai", "real") for r in got.values()) == N_SMALL + N_SMALL // BIG_EVERY
