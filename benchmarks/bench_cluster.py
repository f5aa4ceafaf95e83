"""Past one machine: what `--ray local` costs against the plain scan, and what sharding, merging and inventories cost.

    python benchmarks/bench_cluster.py [--quick] [--json FILE] [--n 2000] [--paths 1000000]
                                       [--ray-seconds 60] [--inventory 200000 1000000] [--only inventory]

1. The same corpus (small mixed PNG/JPEG/WebP files, a few broken: bench_load's) scanned by the plain
   scan and by `--ray local`, one after the other in this run, both as `synthsight scan` subprocesses with
   the tiny random ONNX model: wall time, the scan's own time from its manifest (Ray: after Ray started), and
   the difference (Ray's fixed start-up: starting the local cluster, the inference actor, the model).
2. ``--paths`` synthetic paths: the time to assign them to 8 shards (SHA-1 of the relative path), then 8 shard
   reports (JSONL, walk order, made with the scanner's own writers) merged by `synthsight merge` into one CSV:
   records/s and the merge's peak memory (it streams the shards).
3. The driver's memory while ``--paths`` listed paths stream through `scan --files-from` (paths that do not
   exist: every one gets an error record, so this measures the inventory, the record path and the writers,
   not decoding), sampled every 0.5 s.
4. `scan --ray local` over lists of ``--inventory`` files to decode (each length in turn), each stopped after
   ``--ray-seconds``: when the first record was written, the driver's heap and the object store's use while
   the inventory streams to the cluster; they must not grow with the list's length (``--only inventory``).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, emit, log, machine_line, parser, table  # noqa: E402

sys.path.insert(0, str(REPO / "tests"))
import hostile  # noqa: E402  (process-tree RSS)
from bench_load import make_corpus, tiny_model  # noqa: E402

SHARDS = 8


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "synthsight", *args]


def scan_wall(model: Path, corpus: Path, out: Path, *extra: str) -> dict:
    cmd = cli("scan", str(corpus), "--model", str(model), "--out", str(out), "--quiet", "--overwrite", *extra)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"scan failed ({done.returncode}): {done.stderr[-2000:]}")
    manifest = json.loads(Path(f"{out}.manifest.json").read_text())
    return {"wall": wall, "scan": manifest["seconds"], "records": manifest["walked"]["records"]}


def ray_vs_plain(model: Path, n: int, tmp: Path) -> tuple[str, dict]:
    corpus = make_corpus(n)
    runs = {}
    for name, extra in (("plain scan (decode pool)", ()), ("--ray local", ("--ray", "local"))):
        log(f"scanning {n} files: {name}")
        if not extra:
            scan_wall(model, corpus, tmp / "warm.csv")  # the page cache (files, imports) warm for both
        runs[name] = scan_wall(model, corpus, tmp / "r.csv", *extra)
    base = runs["plain scan (decode pool)"]
    rows = [
        [name, r["records"], r["wall"], r["scan"], r["wall"] - r["scan"], r["records"] / r["wall"],
         r["records"] / r["scan"], base["wall"] / r["wall"]]
        for name, r in runs.items()
    ]  # fmt: skip
    headers = ["how", "records", "wall s", "scan s (manifest)", "start-up s", "files/s (wall)", "files/s (scan)",
               "vs plain (wall)"]  # fmt: skip
    text = (
        f"**`--ray local` against the plain scan**: {n} small files (48-80 px, PNG/JPEG/WebP, 1% broken), "
        "tiny random convnext_atto 64 px ONNX, batch 32, default workers; after one warm-up run of the plain scan.\n\n"
        + table(headers, rows)
    )
    return text, runs


def synthetic_paths(count: int, root: str) -> list[str]:
    return [f"{root}/d{i // 1000:05d}/img{i:07d}.jpg" for i in range(count)]


def shard_and_merge(count: int, tmp: Path) -> tuple[str, dict]:
    from synthsight import __version__
    from synthsight.reports.manifest import write_manifest
    from synthsight.reports.shard import relative_key, shard_of
    from synthsight.reports.writers import JsonlWriter, Record

    root = "/archive"
    paths = synthetic_paths(count, root)
    t0 = time.perf_counter()
    owners = [shard_of(relative_key(root, p), SHARDS) for p in paths]
    assign = time.perf_counter() - t0
    t0 = time.perf_counter()
    writers = [JsonlWriter(tmp / f"shard{k}.jsonl") for k in range(SHARDS)]
    chunk: list[list[Record]] = [[] for _ in range(SHARDS)]
    for i, (path, k) in enumerate(zip(paths, owners, strict=True)):
        score = (i * 7919 % 1000) / 1000
        chunk[k].append(Record(path, "ai" if score >= 0.5 else "real", sha256=f"{i:064x}", bytes=100_000 + i,
                               mtime="2026-01-01T00:00:00.000000Z", format="JPEG", width=4000, height=3000,
                               score=score))  # fmt: skip
        if len(chunk[k]) == 4096:
            writers[k].write(chunk[k])
            chunk[k] = []
    for k, w in enumerate(writers):
        w.write(chunk[k])
        w.close()
        manifest = {
            "tool": "synthsight", "version": __version__, "status": "complete", "command_line": "(synthetic)",
            "model": {"path": "/models/m.onnx", "sha256": "0" * 64, "arch": "convnext_tiny"}, "threshold": 0.5,
            "classes": ["ai", "real"], "preprocess": {"size": 224}, "hash": "sha256", "max_pixels": 1,
            "source": {"roots": [root]}, "shard": {"index": k, "count": SHARDS},
            "counts": {}, "walked": {"records": owners.count(k)}, "seconds": 0,
        }  # fmt: skip
        write_manifest(w.path, manifest, [])
    write_s = time.perf_counter() - t0
    del paths, owners
    out = tmp / "merged.csv"
    cmd = cli("merge", str(out), *(str(tmp / f"shard{k}.jsonl") for k in range(SHARDS)), "--quiet")
    samples, merge_s = sampled(cmd, lambda: 0, every=0.1)
    peak_mb = max(s[2] for s in samples) / 2**20
    lines = count_lines(out) - 1
    assert lines == count, f"merged {lines} of {count} records"
    figures = {"assign_s": assign, "write_s": write_s, "merge_s": merge_s, "merge_peak_rss_mb": peak_mb}
    rows = [
        [f"assign {count:,} paths to {SHARDS} shards (SHA-1 of the relative path)", assign, count / assign, ""],
        [f"write the {SHARDS} shard reports (JSONL + manifests, setup)", write_s, count / write_s, ""],
        [f"`synthsight merge` of the {SHARDS} shards into one CSV", merge_s, count / merge_s,
         f"{peak_mb:.0f}"],
    ]  # fmt: skip
    text = f"**Shard and merge {count:,} synthetic paths**\n\n" + table(
        ["step", "seconds", "paths/s", "peak RSS MB"], rows
    )
    return text, figures


def count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with open(path, "rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


def sampled(cmd: list[str], progress, every: float = 0.5) -> tuple[list[tuple[float, int, int, int]], float]:
    """Run ``cmd``; every ``every`` s note (seconds, progress(), its own RSS, its process tree's RSS).

    Sampled rather than read from ``ru_maxrss``: a child forked from this process (torch loaded) would report
    this process's memory as its own peak.
    """
    import psutil

    samples = []
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    me = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            rss = me.memory_info().rss
        except psutil.NoSuchProcess:
            break
        samples.append((time.perf_counter() - t0, progress(), rss, hostile.tree_rss(proc.pid)))
        time.sleep(every)
    err = proc.communicate()[1]
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd[2:4])} failed ({proc.returncode}): {err[-2000:]}")
    return samples, time.perf_counter() - t0


def files_from_memory(model: Path, count: int, tmp: Path) -> tuple[str, dict]:
    listing = tmp / "inventory.txt"
    with open(listing, "w", encoding="utf-8") as fh:
        for p in synthetic_paths(count, str(tmp / "nowhere")):
            fh.write(p + "\n")
    out = tmp / "inventory.csv"
    cmd = cli("scan", "--files-from", str(listing), "--model", str(model), "--out", str(out), "--quiet",
              "--workers", "1", "--batch-size", "256")  # fmt: skip
    samples, wall = sampled(cmd, lambda: count_lines(out))
    rows, at = [], {}
    for step in (1, 2, 5, 10):
        target = count * step // 10
        hit = [s for s in samples if s[1] <= target + 1]
        peak = max((s[2] for s in hit), default=0)
        tree = max((s[3] for s in hit), default=0)
        at[step] = peak
        rows.append([f"{step * 10}%", f"{peak / 2**20:.0f}", f"{tree / 2**20:.0f}"])
    figures = {"wall_s": wall, "records_per_s": count / wall, "driver_peak_mb": at[10] / 2**20}
    text = (
        f"**Driver memory while {count:,} listed paths stream through `scan --files-from`** (none exists: each "
        f"gets an error record; `--workers 1 --batch-size 256`): {wall:.1f} s, {count / wall:,.0f} records/s "
        "written by one driver.\n\n" + table(["records written", "driver peak RSS MB", "process tree peak RSS MB"],
                                             rows)
    )  # fmt: skip
    return text, figures


def linked_inventory(count: int, tmp: Path) -> Path:
    """A ``count``-line list of distinct paths to decode: hard links (1000 a folder) to 16 small PNGs."""
    from PIL import Image

    root = tmp / f"linked{count}"
    root.mkdir()
    sources = []
    for k in range(16):
        sources.append(root / f"source{k:02d}.png")
        Image.new("RGB", (48 + k, 40), (k * 15, 80, 160)).save(sources[-1])
    listing = tmp / f"linked{count}.txt"
    with open(listing, "w", encoding="utf-8") as fh:
        for i in range(count):
            if i % 1000 == 0:
                (root / f"d{i // 1000:05d}").mkdir()
            path = root / f"d{i // 1000:05d}" / f"f{i:07d}.png"
            os.link(sources[i % 16], path)
            fh.write(f"{path}\n")
    return listing


def plasma_mb(pid: int) -> float:
    """The object store's pages in use or used (its shared-memory file's allocated blocks: a high-water mark, as
    freed pages stay allocated), in the raylet that process ``pid`` started."""
    import psutil

    for kid in psutil.Process(pid).children(recursive=True):
        with contextlib.suppress(psutil.Error, OSError):
            if kid.name() != "raylet":
                continue
            for fd in os.listdir(f"/proc/{kid.pid}/fd"):
                with contextlib.suppress(OSError):
                    if "plasma" in os.readlink(f"/proc/{kid.pid}/fd/{fd}"):
                        return os.stat(f"/proc/{kid.pid}/fd/{fd}").st_blocks * 512 / 2**20
    return 0.0


def ray_inventory(model: Path, count: int, tmp: Path, seconds: float) -> tuple[str, dict]:
    """`synthsight scan --ray local` over a ``count``-line list of files to decode, for ``seconds`` (then a
    Ctrl-C): the driver's heap and the object store's use, sampled every second, and when the first part (an
    actor's records) was written."""
    import signal

    listing = linked_inventory(count, tmp)
    out = tmp / f"linked{count}.csv"
    parts = out.with_name(out.name + ".parts")
    args = cli("scan", "--files-from", str(listing), "--model", str(model), "--ray", "local", "--batch-size", "32",
               "--out", str(out), "--quiet")  # fmt: skip
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    samples: list[tuple[float, float, float, bool]] = []  # (s, driver heap MB, object store MB, a part written)
    t0 = time.perf_counter()
    while proc.poll() is None and time.perf_counter() - t0 < seconds:
        with contextlib.suppress(OSError, StopIteration):
            written = parts.is_dir() and next(parts.glob("*.seq"), None) is not None
            samples.append((time.perf_counter() - t0, anon_rss(proc.pid) / 2**20, plasma_mb(proc.pid), written))
        time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=600)
    manifest = json.loads(Path(f"{out}.manifest.json").read_text())
    first = next((t for t, _, _, w in samples if w), float("nan"))
    figures = {
        "entries": count, "seconds": seconds, "exit": proc.returncode, "first_part_s": first,
        "records": sum(manifest["counts"].values()), "listed_blocks": manifest["ray"].get("list_blocks"),
        "driver_heap_peak_mb": max(s[1] for s in samples), "object_store_peak_mb": max(s[2] for s in samples),
    }  # fmt: skip
    text = (
        f"**`--ray local` over a {count:,}-line `--files-from` list of files to decode** (hard links to 16 small "
        f"PNGs; tiny ONNX, batch 32; a Ctrl-C after {seconds:g} s, Ray's start included; sampled every second): "
        f"first part written after {first:.0f} s; by the stop {figures['records']:,} records and "
        f"{figures['listed_blocks']} blocks of 8192 listed; the driver's heap (RssAnon) peak "
        f"{figures['driver_heap_peak_mb']:.0f} MB; the object store's pages (high-water mark) "
        f"{figures['object_store_peak_mb']:.0f} MB."
    )
    return text, figures


def anon_rss(pid: int | str = "self") -> int:
    """A process's anonymous resident memory (its heap), without the shared object-store pages it wrote."""
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        line = next(line for line in fh if line.startswith("RssAnon:"))
    return int(line.split()[1]) * 1024


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000, help="files in the ray-vs-plain corpus")
    p.add_argument("--paths", type=int, default=1_000_000, help="synthetic paths for shard/merge/files-from")
    p.add_argument("--ray-seconds", type=float, default=60, help="how long each --ray inventory scan runs")
    p.add_argument("--inventory", type=int, nargs="+", default=[200_000, 1_000_000], help="--ray list lengths")
    p.add_argument("--only", choices=("inventory",), help="only the --ray inventory part")
    args = p.parse_args()
    n, count = (300, 50_000) if args.quick else (args.n, args.paths)
    parts, data = [], {"machine": machine_line()}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        model = tiny_model(tmp)
        if args.only is None:
            text, data["ray_vs_plain"] = ray_vs_plain(model, n, tmp)
            parts.append(text)
            log("shard and merge")
            text, data["shard_merge"] = shard_and_merge(count, tmp)
            parts.append(text)
            log("files-from")
            text, data["files_from"] = files_from_memory(model, count, tmp)
            parts.append(text)
        data["ray_inventory"] = []
        for length in [20_000, 80_000] if args.quick else args.inventory:
            log(f"--ray over a {length:,}-line inventory")
            text, figures = ray_inventory(model, length, tmp, 20 if args.quick else args.ray_seconds)
            parts.append(text)
            data["ray_inventory"].append(figures)
    emit("\n\n".join(parts), data, args.json)


if __name__ == "__main__":
    main()
