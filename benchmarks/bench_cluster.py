"""Past one machine: what `--ray local` costs against the plain scan, and what sharding, merging and inventories cost.

    python benchmarks/bench_cluster.py [--quick] [--json FILE] [--n 2000] [--paths 1000000]

1. The same corpus (small mixed PNG/JPEG/WebP files, a few broken: bench_load's) scanned by the plain
   scan and by `--ray local`, one after the other in this run, both as `synthsight scan` subprocesses with
   the tiny random ONNX model: wall time, the scan's own time from its manifest (Ray: after Ray started), and
   the difference (Ray's fixed start-up: starting the local cluster, the inference actor, the model).
2. ``--paths`` synthetic paths: the time to assign them to 8 shards (SHA-1 of the relative path), then 8 shard
   reports (JSONL, walk order, made with the scanner's own writers) merged by `synthsight merge` into one CSV:
   records/s and the merge's peak memory (it streams the shards).
3. The driver's memory while ``--paths`` listed paths stream through `scan --files-from` (paths that do not
   exist: every one gets an error record, so this measures the inventory, the record path and the writers,
   not decoding), sampled every 0.5 s, and the same list put into Ray's object store as blocks
   (what `--ray` does before its dataset starts): time and the driver's memory.
"""

from __future__ import annotations

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


def ray_blocks(model: Path, count: int, tmp: Path) -> tuple[str, dict]:
    """The inventory put into Ray's object store as blocks, as `--ray` does before its dataset starts."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    from synthsight.runtime.info import read_model_spec
    from synthsight.scanner.inventory import Inventory
    from synthsight.scanner.options import ScanOptions
    from synthsight.scanner.ray.plan import ActorPlan
    from synthsight.scanner.ray.source import RaySource
    from synthsight.scanner.session import ModelFacts, StopFlag
    from synthsight.scanner.walk import Lookahead

    listing = tmp / "inventory.txt"
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        import pyarrow  # noqa: F401  (its import is not the inventory's memory)

        before = anon_rss()
        plan = ActorPlan("local", 1, 1.0, 0.0, "cpu", 1, 2.0, 0.0, 1)
        facts = ModelFacts.of(str(model), read_model_spec(model), None)
        source = RaySource(plan, ScanOptions(quiet=True), facts)
        t0 = time.perf_counter()
        walk = Lookahead(Inventory(str(listing)))
        refs = source._put_blocks(iter(walk), StopFlag())
        seconds = time.perf_counter() - t0
        after = anon_rss()
        walk.close()
        stored = sum(ray.get(r).nbytes for r in refs[:20]) / min(len(refs), 20) * len(refs)
    finally:
        ray.shutdown()
    figures = {"seconds": seconds, "blocks": len(refs), "driver_growth_mb": (after - before) / 2**20,
               "object_store_mb": stored / 2**20}  # fmt: skip
    text = (
        f"**The same {count:,}-path inventory put into Ray's object store as blocks** (`--ray`'s first phase, "
        f"local Ray): {seconds:.1f} s ({count / seconds:,.0f} entries/s), {len(refs)} blocks of 8192 entries, "
        f"about {stored / 2**20:.0f} MB in the object store; the driver's own heap (RssAnon) grew by "
        f"{(after - before) / 2**20:.0f} MB (the walk's look-ahead of up to 100,000 entries included; the "
        "object store's pages, which Ray spills to disk when it fills, are not counted)."
    )
    return text, figures


def anon_rss() -> int:
    """This process's anonymous resident memory (its heap), without the shared object-store pages it wrote."""
    with open("/proc/self/status", encoding="ascii") as fh:
        line = next(line for line in fh if line.startswith("RssAnon:"))
    return int(line.split()[1]) * 1024


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000, help="files in the ray-vs-plain corpus")
    p.add_argument("--paths", type=int, default=1_000_000, help="synthetic paths for shard/merge/files-from")
    args = p.parse_args()
    n, count = (300, 50_000) if args.quick else (args.n, args.paths)
    parts, data = [], {"machine": machine_line()}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        model = tiny_model(tmp)
        text, data["ray_vs_plain"] = ray_vs_plain(model, n, tmp)
        parts.append(text)
        log("shard and merge")
        text, data["shard_merge"] = shard_and_merge(count, tmp)
        parts.append(text)
        log("files-from")
        text, data["files_from"] = files_from_memory(model, count, tmp)
        parts.append(text)
        log("ray blocks")
        text, data["ray_blocks"] = ray_blocks(model, count, tmp)
        parts.append(text)
    emit("\n\n".join(parts), data, args.json)


if __name__ == "__main__":
    main()
