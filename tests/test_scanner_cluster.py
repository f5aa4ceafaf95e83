"""scan --ray: the same records as the local scan (CSV, JSONL, JSON), Ctrl-C then --resume, a decode process
that dies is read once more (only a file that kills two gets the record), resource checks are one line, and
without Ray --ray says how to install it.

One local Ray for the module (2 CPUs and a declared GPU, so the GPU actor plan is the one scheduled; the
actor's backend still runs on the CPU), dashboard and usage statistics off.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from scanner_support import RAY_ENV as ENV
from scanner_support import REPO, calibrated_copy, image_bytes, make_tree, records_by_path, wait_for_parts
from scanner_support import slow_tree as make_slow_tree

from synthsight.errors import UsageError
from synthsight.reports.writers import read_records
from synthsight.scanner import scan

ray = pytest.importorskip("ray", reason="Ray is the optional extra synthsight[cluster] (make test installs it)")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mixed")
    make_tree(root, n_images=48)
    return root


def outputs(folder: Path, stem: str) -> list[Path]:
    return [folder / f"{stem}.csv", folder / f"{stem}.jsonl", folder / f"{stem}.json"]


def same_records(got: Path, want: Path, scores: float = 1e-6, ordered: bool = True) -> None:
    a, b = records_by_path(read_records(got)[0]), records_by_path(read_records(want)[0])
    assert (list(a) if ordered else set(a)) == (list(b) if ordered else set(b)), "the same files (in walk order)"
    for path, r in a.items():
        w = b[path]
        assert (r.verdict, r.error, r.sha256, r.bytes, r.mtime, r.width, r.height, r.notes) == (
            w.verdict,
            w.error,
            w.sha256,
            w.bytes,
            w.mtime,
            w.width,
            w.height,
            w.notes,
        ), path
        assert (r.score is None) == (w.score is None) and (r.score is None or abs(r.score - w.score) <= scores)


def test_ray_gives_the_records_of_the_local_scan_in_every_format(ray_cluster, mixed, tiny_onnx, tmp_path):
    model = str(tiny_onnx["onnx"])
    local = outputs(tmp_path, "local")
    scan([str(mixed)], model, local, workers=1, batch_size=8, all_files=True, quiet=True)
    on_ray = outputs(tmp_path, "ray")
    summary = scan([str(mixed)], model, on_ray, ray="local", batch_size=8, all_files=True, quiet=True)
    assert not summary.interrupted and summary.counts == json.loads(local[2].read_text())["manifest"]["counts"]
    for got, want in zip(on_ray, local, strict=True):
        same_records(got, want)
    manifest = json.loads(on_ray[2].read_text())["manifest"]
    plan = manifest["ray"]
    assert (plan["actors"], plan["actor_gpus"], plan["actor_cpus"]) == (1, 1.0, 1.0), "one actor per GPU"
    assert len(plan["actors_seen"]) == 1 and plan["actors_seen"][0]["sha256"] == manifest["model"]["sha256"]
    assert plan["list_blocks"] == 1, "the entries reach Ray as blocks of 8192"
    assert 0 < plan["driver_cpu_seconds_main_thread"] <= plan["driver_cpu_seconds"], "the driver's CPU, measured"
    assert manifest["backend"] == "onnxruntime" and manifest["status"] == "complete"
    line = {k: v for k, v in plan["actors_seen"][0].items() if k not in ("host", "pid", "model", "sha256")}
    assert {k: manifest[k] for k in line} == line and line["providers"], "the actor's Backend.describe() is the line"


def test_ray_without_out_lists_every_file_on_stdout_and_leaves_no_parts(
    ray_cluster, mixed, tiny_onnx, tmp_path, monkeypatch, capsys
):
    model = str(tiny_onnx["onnx"])
    monkeypatch.chdir(tmp_path)  # the parts of a scan without --out go to the current directory
    scan([str(mixed)], model, [], workers=1, batch_size=8, quiet=True)
    local = capsys.readouterr().out.splitlines()
    scan([str(mixed)], model, [], ray="local", batch_size=8, quiet=True)
    on_ray = capsys.readouterr().out.splitlines()
    assert len(on_ray) == len(local) > 40
    assert [line.split("\t")[2] for line in on_ray] == [line.split("\t")[2] for line in local], "walk order"
    assert not list(tmp_path.glob(".synthsight-parts-*")), "the parts are removed once listed"


def test_ray_gives_the_calibrated_verdicts_and_stability_of_the_local_scan(ray_cluster, mixed, tiny_onnx, tmp_path):
    """The actors return logits, the file's and its --stability views' (made in the decode task); the driver's
    Judge turns them into the same calibrated verdicts, raw scores and stability marks as the local scan."""
    scan([str(mixed)], str(tiny_onnx["onnx"]), [tmp_path / "raw.jsonl"], workers=0, quiet=True)
    scores = sorted({r.score for r in read_records(tmp_path / "raw.jsonl")[0] if r.score is not None})
    cuts = [(a + b) / 2 for a, b in zip(scores, scores[1:], strict=False)]  # no score sits on a threshold
    model = str(calibrated_copy(tiny_onnx["onnx"], tmp_path / "calibrated.onnx", cuts))
    common = dict(batch_size=8, stability=2, quiet=True)
    scan([str(mixed)], model, [tmp_path / "local.jsonl"], workers=1, **common)
    scan([str(mixed)], model, [tmp_path / "ray.jsonl"], ray="local", **common)
    same_records(tmp_path / "ray.jsonl", tmp_path / "local.jsonl")
    got, want = (records_by_path(read_records(tmp_path / f"{n}.jsonl")[0]) for n in ("ray", "local"))
    assert {r.verdict for r in got.values()} >= {"ai", "uncertain", "real"}
    for path, r in got.items():
        w = want[path]
        assert (r.stability, r.unstable, r.stratum) == (w.stability, w.unstable, w.stratum), path
        for a, b in ((r.raw_score, w.raw_score), (r.score_min, w.score_min), (r.score_max, w.score_max)):
            assert (a is None) == (b is None) and (a is None or abs(a - b) <= 1e-6), path
    assert any(r.unstable for r in got.values()) and all(r.stability is not None for r in got.values() if r.judged)
    manifest = json.loads((tmp_path / "ray.jsonl.manifest.json").read_text())
    assert [v["name"] for v in manifest["stability"]["views"]] == ["jpeg90", "jpeg75"]
    assert manifest["verdicts"]["calibrated"] and manifest["threshold_forced"] is False


def test_ray_composes_with_files_from_and_shards(ray_cluster, mixed, tiny_onnx, tmp_path):
    """Missing paths among the listed ones get their records from the driver, in list order among Ray's (item 8),
    and a list of nothing but missing paths starts no dataset at all."""
    listing = tmp_path / "list.txt"
    listed = [os.fsencode(p) for p in sorted((mixed / "d3").rglob("*"))]
    listed = [name for p in listed for name in (p, p + b".gone", p + b".gone2")]  # settled entries between
    listing.write_bytes(b"".join(p + b"\0" for p in listed))
    model, common = str(tiny_onnx["onnx"]), dict(files_from=str(listing), null=True, shard="1/2", quiet=True)
    scan([], model, [tmp_path / "local.jsonl"], workers=0, **common)
    scan([], model, [tmp_path / "ray.jsonl"], ray="local", **common)
    same_records(tmp_path / "ray.jsonl", tmp_path / "local.jsonl")
    assert json.loads((tmp_path / "ray.jsonl.manifest.json").read_text())["shard"] == {"index": 1, "count": 2}
    listing.write_bytes(b"".join(p + b"\0" for p in listed if p.endswith(b".gone")))
    scan([], model, [tmp_path / "gone.csv", tmp_path / "gone.json"], ray="local", **{**common, "shard": None})
    scan([], model, [tmp_path / "gone-local.csv"], workers=0, **{**common, "shard": None})
    same_records(tmp_path / "gone.csv", tmp_path / "gone-local.csv")
    same_records(tmp_path / "gone.json", tmp_path / "gone-local.csv")
    assert json.loads((tmp_path / "gone.json").read_text())["manifest"]["ray"]["list_blocks"] == 0


def test_resources_are_checked_before_anything_runs(ray_cluster, mixed, tiny_onnx, tmp_path, monkeypatch):
    model, out = str(tiny_onnx["onnx"]), tmp_path / "r.csv"
    with pytest.raises(UsageError, match=r"whole GPU: use --device cuda"):
        scan([str(mixed)], model, [out], ray="local", device="cuda:1", quiet=True)
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 8.0, "memory": 1e9})
    with pytest.raises(UsageError, match=r"--device cuda needs GPUs, but the Ray cluster at .* has 8 CPUs and 0 GPUs"):
        scan([str(mixed)], model, [out], ray="local", device="cuda", quiet=True)
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 1.0, "GPU": 1.0})
    with pytest.raises(UsageError, match=r"1 inference actors need 1 CPUs and decoding at least one more"):
        scan([str(mixed)], model, [out], ray="local", quiet=True)
    # Another scan holds the GPU (two drivers on one cluster): one line, not a scan waiting for its first actor.
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 2.0, "GPU": 1.0})
    monkeypatch.setattr(ray, "available_resources", lambda: {"CPU": 2.0, "GPU": 0.0})
    from synthsight.scanner.ray import plan

    monkeypatch.setattr(plan, "FREE_WAIT_S", 0.5)
    with pytest.raises(UsageError, match=r"but only 2 CPUs and 0 GPUs are free now \(another scan or job holds"):
        scan([str(mixed)], model, [out], ray="local", quiet=True)
    with pytest.raises(UsageError, match=r"--workers sets local decode processes"):
        scan([str(mixed)], model, [out], ray="local", workers=2, quiet=True)
    with pytest.raises(UsageError, match=r"--gradcam needs the pixels"):
        scan([str(mixed)], model, [out], ray="local", gradcam_dir=str(tmp_path / "cams"), quiet=True)
    assert not out.exists() and not Path(f"{out}.manifest.json").exists(), "refused before any report is touched"


@pytest.fixture()
def slow_tree(tmp_path: Path) -> Path:
    """160 small images and sparse 384 MiB files between them: each holds its decode task for about a second."""
    return make_slow_tree(tmp_path / "tree", images=160, sparse_every=40, sparse_mib=384)


def test_ray_local_ctrl_c_exits_130_with_valid_reports_and_resume_finishes(ray_cluster, slow_tree, tiny_onnx, tmp_path):
    model = str(tiny_onnx["onnx"])
    csv_out, json_out = tmp_path / "r.csv", tmp_path / "r.json"
    args = ["scan", str(slow_tree), "-m", model, "--ray", "local", "--batch-size", "4", "--out", str(csv_out)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "synthsight", *args, "--out", str(json_out)],
        cwd=REPO,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    folder = Path(f"{csv_out}.parts")  # the actors' part files: the reports are made of them when the scan ends
    wait_for_parts(folder, 64, proc)  # the first block of 64 files is in
    assert csv_out.read_bytes().count(b"\n") == 1, "the report is made at the end: only its header so far"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert not folder.exists(), "the parts are in the reports and removed"
    partial = read_records(csv_out)[0]
    assert 64 <= len(partial) < 164 and csv_out.read_bytes().endswith(b"\n"), len(partial)
    assert json.loads(json_out.read_text())["manifest"]["status"] == "interrupted"
    assert err.strip().splitlines()[-1].strip().endswith("--resume")
    again = scan([str(slow_tree)], model, [csv_out, json_out], ray="local", batch_size=4, resume=True, quiet=True)
    assert not again.interrupted and sum(again.counts.values()) == 164 - len(partial)
    reference = tmp_path / "whole.csv"
    scan([str(slow_tree)], model, [reference], workers=1, batch_size=4, quiet=True)
    same_records(csv_out, reference)
    same_records(json_out, reference, ordered=False)  # a resumed JSON report lists the earlier runs' records last


def test_a_driver_killed_mid_scan_leaves_parts_that_resume_takes(ray_cluster, slow_tree, tiny_onnx, tmp_path):
    """kill -9 of the driver (and its local Ray) mid-scan: the parts it left go into the report on --resume, their
    files are not scanned again, and the report ends as the plain scan's."""
    model, out = str(tiny_onnx["onnx"]), tmp_path / "r.csv"
    args = ["scan", str(slow_tree), "-m", model, "--ray", "local", "--batch-size", "4", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "synthsight", *args], cwd=REPO, env=ENV, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)  # fmt: skip
    folder = Path(f"{out}.parts")
    wait_for_parts(folder, 64, proc)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver's own process group: it and the Ray it started
    proc.wait(timeout=60)
    left = sum(p.stat().st_size for p in folder.glob("*.seq")) // 8
    assert left >= 64 and out.read_bytes().count(b"\n") == 1, "the records are in the parts, not yet in the report"
    again = scan([str(slow_tree)], model, [out], ray="local", batch_size=4, resume=True, quiet=True)
    assert not again.interrupted and sum(again.counts.values()) <= 164 - left, "the parts' files are not read again"
    reference = tmp_path / "whole.csv"
    scan([str(slow_tree)], model, [reference], workers=1, batch_size=4, quiet=True)
    same_records(out, reference, ordered=False)  # the parts in listing order, then the rest: each file once
    assert len(read_records(out)[0]) == 164 and not folder.exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_ray_starts_stops_the_scan_in_one_line_before_any_report(mixed, tiny_onnx, tmp_path, sig):
    import psutil

    out = tmp_path / "r.csv"
    args = ["scan", str(mixed), "-m", str(tiny_onnx["onnx"]), "--ray", "local", "--out", str(out)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "synthsight", *args], cwd=REPO, env=ENV, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:  # Ray's first process: ray.init is under way
        if any("gcs_server" in " ".join(k.cmdline()) for k in psutil.Process(proc.pid).children(recursive=True)):
            break
        time.sleep(0.02)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err
    name = signal.Signals(sig).name
    assert err.strip() == f"error: {name} while Ray was starting: no file was read and no report written"
    assert not out.exists()


def test_without_ray_the_option_says_how_to_install_it(tiny_onnx, tmp_path):
    hide_ray = "import sys; sys.modules['ray'] = None; from synthsight.cli import main; main()"
    args = ["scan", str(tmp_path), "-m", str(tiny_onnx["onnx"]), "--ray", "local", "--out", str(tmp_path / "r.csv")]
    done = subprocess.run([sys.executable, "-c", hide_ray, *args], cwd=REPO, env=ENV, capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    hint = "error: --ray needs Ray Data: pip install 'synthsight[cluster]'"
    assert done.stderr.strip() == hint


def _decode_task_processes() -> list:
    import psutil

    kids = psutil.Process().children(recursive=True)
    return [k for k in kids if "decode_block" in " ".join(k.cmdline())]


def _three_blocks(root: Path, sparse_bytes: int) -> Path:
    """16 images, a sparse file of ``sparse_bytes`` (hashing it holds its decode task), 16 images."""
    root.mkdir()
    for i in range(16):
        (root / f"a{i:02d}.png").write_bytes(image_bytes("PNG", 20 + i, 24, i))
        (root / f"c{i:02d}.png").write_bytes(image_bytes("PNG", 24, 20 + i, 50 + i))
    with open(root / "b-sparse.jpg", "wb") as fh:
        fh.truncate(sparse_bytes)
    return root


@pytest.fixture()
def three_blocks(tmp_path: Path) -> Path:
    """2 GiB sparse: hashing it holds its decode task for a second or more, and a retry still finishes it."""
    return _three_blocks(tmp_path / "tree", 2 << 30)


def _kill_the_reader_of(note: Path, seq: int, times: int, deadline_s: float = 180) -> list[int]:
    """SIGKILL the decode process that notes it is reading file ``seq`` (its open note file says so), ``times``
    times: each time Ray runs the block again, and the next attempt reads the file again."""
    import psutil

    killed: list[int] = []
    deadline = time.monotonic() + deadline_s
    while len(killed) < times and time.monotonic() < deadline:
        try:
            reading = note.read_bytes() == b"R%020d" % seq
        except OSError:
            reading = False
        for proc in psutil.Process().children(recursive=True) if reading else []:
            try:  # a process may end while it is looked at
                holds = any(f.path == str(note) for f in proc.open_files())
            except psutil.Error:
                continue
            if holds and proc.pid not in killed:
                proc.kill()
                killed.append(proc.pid)
        time.sleep(0.02)
    return killed


@pytest.mark.parametrize("kills", [1, 2])
def test_a_killed_decode_process_costs_a_retry_and_only_a_file_that_kills_twice_gets_the_record(
    ray_cluster, three_blocks, tiny_onnx, tmp_path, monkeypatch, kills
):
    import types
    import uuid

    from synthsight.scanner.ray import source
    from synthsight.scanner.ray.tasks import NOTES_DIR

    root, model, out = three_blocks, str(tiny_onnx["onnx"]), tmp_path / "r.jsonl"
    run_id = uuid.uuid4().hex  # this scan's notes folder on the node, whatever other scans run beside it
    monkeypatch.setattr(source, "uuid", types.SimpleNamespace(uuid4=lambda: types.SimpleNamespace(hex=run_id)))
    # batch_size 1: blocks of 8 files; b-sparse.jpg is file 16, the first of the third block
    note = Path(tempfile.gettempdir()) / NOTES_DIR / run_id / "16.reading"
    killed: list[int] = []
    killer = threading.Thread(target=lambda: killed.extend(_kill_the_reader_of(note, 16, kills)))
    killer.start()
    scan([str(root)], model, [out], ray="local", batch_size=1, quiet=True)
    killer.join()
    assert len(killed) == kills, "the decode process reading b-sparse.jpg was seen each time"
    reference = tmp_path / "whole.jsonl"
    scan([str(root)], model, [reference], workers=1, batch_size=1, quiet=True)
    if kills == 1:  # OOM or preemption would look the same: the file is innocent until it kills again
        same_records(out, reference)
        return
    recs = records_by_path(read_records(out)[0])
    assert len(recs) == 33
    assert recs[str(root / "b-sparse.jpg")].error == "worker-died: decode tasks died twice while reading this file"
    assert all(r.verdict in ("ai", "real") for p, r in recs.items() if not p.endswith("sparse.jpg"))
    scan([str(root)], model, [out], ray="local", batch_size=1, quiet=True, resume=True)
    same_records(out, reference)


def test_a_decode_that_outlives_the_timeout_gets_a_timed_out_record(ray_cluster, tiny_onnx, tmp_path):
    # The margins both ways are wide, so load cannot flip the outcome: a tiny PNG's read (a fresh worker's lazy
    # imports included) stays far below 4 s, and hashing 64 GiB (sparse: no disk used) takes 20 s or more at
    # any hash speed, so the file is recorded timed-out only if the watchdog stopped it.
    root = _three_blocks(tmp_path / "tree", 64 << 30)
    out = tmp_path / "r.csv"
    scan([str(root)], str(tiny_onnx["onnx"]), [out], ray="local", batch_size=1, decode_timeout=4, quiet=True)
    recs = records_by_path(read_records(out)[0])
    assert len(recs) == 33
    slow = recs[str(root / "b-sparse.jpg")]
    assert slow.error == "timed-out: decode took longer than 4 s; the decode task was stopped", slow
    assert all(r.verdict in ("ai", "real") for p, r in recs.items() if not p.endswith("sparse.jpg"))


def test_the_kuberay_example_runs_a_scan_synthsight_accepts_on_the_tested_ray():
    import shlex

    import yaml

    from synthsight.cli.scan import scan as scan_command

    job = yaml.safe_load((REPO / "deploy" / "kuberay-rayjob.yaml").read_text())
    argv = shlex.split(job["spec"]["entrypoint"])
    names = {name for p in scan_command.params for name in (*p.opts, *p.secondary_opts)}
    assert argv[:2] == ["synthsight", "scan"] and {a for a in argv if a.startswith("--")} <= names
    assert argv[argv.index("--ray") + 1] == "auto"
    cluster = job["spec"]["rayClusterSpec"]
    assert cluster["rayVersion"].startswith(".".join(ray.__version__.split(".")[:2]) + "."), "the tested Ray"
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    mounts = [m for g in groups for c in g["template"]["spec"]["containers"] for m in c["volumeMounts"]]
    assert sum(m["mountPath"] == "/dev/shm" for m in mounts) == 2, "every pod gets a large /dev/shm"


def test_ray_gives_the_tiles_records_of_the_local_scan(ray_cluster, tiles_model, tmp_path):
    import numpy as np
    from scanner_support import tiled_tree

    tree, model = tiled_tree(tmp_path / "tiled"), str(tiles_model["onnx"])
    local, on_ray = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    scan([str(tree)], model, [local], workers=1, batch_size=8, all_files=True, quiet=True)
    scan([str(tree)], model, [on_ray], ray="local", batch_size=8, all_files=True, quiet=True)
    same_records(on_ray, local, scores=1e-5)
    got, want = read_records(on_ray)[0], read_records(local)[0]
    assert [(r.tiles, r.aggregate, r.top_tile, r.tile_boxes) for r in got] == [
        (r.tiles, r.aggregate, r.top_tile, r.tile_boxes) for r in want
    ]
    assert sum(r.tiles or 0 for r in got) == 17  # 4 + 4 + 4 + 1 + 4 tiles of the five readable images
    for r, w in zip(got, want, strict=True):
        assert r.tile_scores is None or np.allclose(r.tile_scores, w.tile_scores, atol=1e-5)


def test_a_stalled_cluster_stops_the_scan_in_one_line_with_resumable_reports(ray_cluster, tiny_onnx, tmp_path):
    """No batch for --stall-timeout (here: a decode that runs far longer, as a lost node's tasks would) stops the
    driver's wait: one line, exit 1, the manifest says failed, the report keeps its complete records.

    In a process of its own: the stalled Ray Data executor thread outlives the scan until its wait ends, and in
    the test process it took the whole pytest run down (exit 1, no summary) minutes later, after ray.shutdown."""
    root = _three_blocks(tmp_path / "tree", 128 << 30)  # hashing 128 GiB of holes: a minute or more
    out = tmp_path / "r.csv"
    args = ["scan", str(root), "-m", str(tiny_onnx["onnx"]), "--ray", "local", "--batch-size", "1",
            "--decode-timeout", "3600", "--stall-timeout", "10", "--out", str(out), "--quiet"]  # fmt: skip
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "synthsight", *args], cwd=REPO, env=ENV, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    elapsed = time.monotonic() - t0
    assert done.returncode == 1, done.stderr[-2000:]
    assert re.search(r"no records came from the Ray cluster for 10 s .* --resume", done.stderr), done.stderr[-2000:]
    assert elapsed < 90, f"stopped by the watchdog, not by the file's end ({elapsed:.0f} s, Ray's start included)"
    assert len(read_records(out)[0]) < 33 and out.read_bytes().endswith(b"\n")
    assert json.loads(Path(f"{out}.manifest.json").read_text())["status"] == "failed"


def test_ctrl_c_while_the_cluster_is_stalled_exits_130_and_resume_finishes(ray_cluster, tiny_onnx, tmp_path):
    """Ctrl-C while no batch comes (one decode task runs for minutes, as a lost node's would): exit 130 at once
    with the records made so far, the manifest interrupted, and --resume finishes the rest."""
    root = _three_blocks(tmp_path / "tree", 128 << 30)  # hashing 128 GiB of holes: a minute or more
    model, out = str(tiny_onnx["onnx"]), tmp_path / "r.csv"
    args = ["scan", str(root), "-m", model, "--ray", "local", "--batch-size", "1", "--decode-timeout", "3600",
            "--stall-timeout", "3600", "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "synthsight", *args], cwd=REPO, env=ENV, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    wait_for_parts(Path(f"{out}.parts"), 16, proc)  # the files before the sparse one; its task holds for minutes
    time.sleep(2)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert time.monotonic() - t0 < 60, "the stalled wait held the Ctrl-C"
    assert err.strip().splitlines()[-1].strip().endswith("--resume"), err[-2000:]
    assert json.loads(Path(f"{out}.manifest.json").read_text())["status"] == "interrupted"
    partial = read_records(out)[0]
    assert 16 <= len(partial) < 32 and not any(r.path.endswith("b-sparse.jpg") for r in partial), len(partial)
    (root / "b-sparse.jpg").unlink()  # the rest, without hashing the 128 GiB again
    again = scan([str(root)], model, [out], ray="local", batch_size=1, resume=True, quiet=True)
    assert not again.interrupted and sum(again.counts.values()) == 32 - len(partial)
    reference = tmp_path / "whole.csv"
    scan([str(root)], model, [reference], workers=1, batch_size=1, quiet=True)
    same_records(out, reference)


def test_an_actor_whose_model_file_differs_refuses_to_start_before_it_writes_a_part(tiny_onnx, tmp_path):
    """A node with another model file at the path: its inference actor stops in its constructor with the one line
    the driver reports, and writes no part (a failed scan's parts still make its reports, and --resume takes them)."""
    import dataclasses

    from synthsight.errors import SynthsightError
    from synthsight.runtime.info import read_model_spec
    from synthsight.scanner.ray.tasks import Inferencer
    from synthsight.scanner.session import ModelFacts

    model = str(tiny_onnx["onnx"])
    facts = ModelFacts.of(model, read_model_spec(model), None)
    parts = tmp_path / "r.csv.parts"
    kwargs = dict(model=model, backend="onnxruntime", device="cpu", precision="fp32", batch_size=4, threads=1,
                  formats=(".csv",), parts=str(parts))  # fmt: skip
    assert json.loads(Inferencer(facts=facts, **kwargs).runner)["sha256"] == facts.sha256  # the scan's own file
    other = dataclasses.replace(facts, sha256="0" * 64)  # what the driver hashed: not this node's file
    with pytest.raises(SynthsightError, match=r"opened .*model\.onnx with sha256 \w{12}, not the model this scan "
                       r"started with \(000000000000\): every node needs the same file"):  # fmt: skip
        Inferencer(facts=other, **kwargs)
    assert not parts.exists()
