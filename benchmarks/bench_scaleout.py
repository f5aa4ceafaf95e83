"""Issue 24's scale-out figures: what one `--ray` driver spends per record, and `merge` of shuffled shards.

    python benchmarks/bench_scaleout.py [--quick] [--json FILE] [--files 3000,12000] [--records 100000]
                                        [--shards 8,16] [--only driver|merge]

1. The driver: the same small-file corpus (bench_load's) scanned with `--ray local` at two sizes; the scan's
   manifest holds the driver's own CPU seconds (`ray.driver_cpu_seconds`: every thread of the driver process
   while records flow, Ray's included; the decode tasks and actors are other processes). The difference between
   the two sizes over the difference in records is the driver's CPU per record without the fixed start-up,
   and its inverse the records/s one driver sustains on one core of this CPU.
2. The merge: ``--shards`` `--files-from` shard reports of ``--records`` records each, every shard's lines in a
   random order (as an unsorted `find` inventory leaves them), merged into one CSV by `synthsight merge`:
   wall time, records/s and the merge's peak RSS (sampled every 0.1 s).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cluster import cli, count_lines, sampled  # noqa: E402
from bench_load import make_corpus, tiny_model  # noqa: E402
from common import emit, log, machine_line, parser, table  # noqa: E402


def driver_cpu(model: Path, sizes: list[int], tmp: Path) -> tuple[str, dict]:
    runs = []
    for n in sizes:
        corpus = make_corpus(n)
        out = tmp / f"driver{n}.jsonl"
        log(f"--ray local over {n} files")
        cmd = cli("scan", str(corpus), "--model", str(model), "--out", str(out), "--quiet", "--overwrite",
                  "--ray", "local")  # fmt: skip
        t0 = time.perf_counter()
        done = subprocess.run(cmd, env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"scan --ray failed ({done.returncode}): {done.stderr[-2000:]}")
        manifest = json.loads(Path(f"{out}.manifest.json").read_text())
        ray = manifest["ray"]
        runs.append((manifest["walked"]["records"], ray["driver_cpu_seconds"], ray["driver_cpu_seconds_main_thread"],
                     manifest["seconds"], time.perf_counter() - t0))  # fmt: skip
    (n1, c1, m1, _, _), (n2, c2, m2, s2, _) = runs[0], runs[-1]
    per, main = (c2 - c1) / (n2 - n1), (m2 - m1) / (n2 - n1)
    share = (c2 - m2) / s2  # Ray's threads in the driver, as a share of one core over the scan
    rows = [[n, c, m, f"{1000 * c / n:.3f}", f"{1000 * m / n:.3f}", f"{100 * (c - m) / s:.1f} %", s, w]
            for n, c, m, s, w in runs]  # fmt: skip
    figures = {"runs": runs, "ms_per_record": 1000 * per, "main_ms_per_record": 1000 * main, "ray_share": share}
    text = (
        "**One `--ray local` driver's CPU** (tiny random convnext_atto 64 px ONNX, small PNG/JPEG/WebP files, "
        "default batch): past the start-up, the whole driver process spent "
        f"({c2:.2f} - {c1:.2f}) s / ({n2} - {n1}) records = **{1000 * per:.3f} ms per record**, its main thread "
        f"(listing, taking the actors' tallies, merging their part files into the report) **{1000 * main:.3f} ms** "
        f"(~{1 / main:,.0f} "
        f"records/s on one core of this CPU); Ray's own threads in the driver took {100 * share:.1f} % of a "
        "core through the scan.\n\n"
        + table(["records", "driver CPU s", "main thread CPU s", "ms/record", "main thread ms/record",
                 "Ray's threads (of a core)", "scan s", "wall s"], rows)
    )  # fmt: skip
    return text, figures


def shuffled_shards(folder: Path, shards: int, per_shard: int, seed: int = 0) -> list[Path]:
    """``shards`` --files-from shard reports (JSONL + manifest), each shard's records in a random order."""
    from synthsight import __version__
    from synthsight.reports.manifest import write_manifest
    from synthsight.reports.shard import listed_key, shard_of
    from synthsight.reports.writers import JsonlWriter, Record

    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    paths: list[list[str]] = [[] for _ in range(shards)]
    i = 0
    while min(map(len, paths)) < per_shard:  # paths are dealt to their own shard (SHA-1) until each has enough
        path = f"/archive/d{i // 1000:05d}/img{i:08d}.jpg"
        k = shard_of(listed_key(path), shards)
        if len(paths[k]) < per_shard:
            paths[k].append(path)
        i += 1
    reports = []
    for k, mine in enumerate(paths):
        rng.shuffle(mine)
        writer = JsonlWriter(folder / f"shard{k}.jsonl")
        for at in range(0, len(mine), 4096):
            writer.write(
                Record(p, "ai" if (j * 7919 % 1000) >= 500 else "real", sha256=f"{j:064x}", bytes=100_000 + j,
                       mtime="2026-01-01T00:00:00.000000Z", format="JPEG", width=4000, height=3000,
                       score=(j * 7919 % 1000) / 1000)
                for j, p in enumerate(mine[at : at + 4096], start=at)
            )  # fmt: skip
        writer.close()
        manifest = {
            "tool": "synthsight", "version": __version__, "status": "complete", "command_line": "(synthetic)",
            "model": {"path": "/models/m.onnx", "sha256": "0" * 64, "arch": "convnext_tiny"}, "threshold": 0.5,
            "classes": ["ai", "real"], "preprocess": {"size": 224}, "hash": "sha256", "max_pixels": 1,
            "source": {"files_from": "/archive/list.txt"}, "shard": {"index": k, "count": shards},
            "shard_keys": {"listed": "absolute", "cwd": "/"}, "counts": {}, "report_records": len(mine),
            "walked": {"records": len(mine)}, "seconds": 0,
        }  # fmt: skip
        write_manifest(writer.path, manifest, [])
        reports.append(writer.path)
    return reports


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def merge_shuffled(shard_counts: list[int], per_shard: int, tmp: Path) -> tuple[str, dict]:
    rows, figures = [], {}
    for shards in shard_counts:
        log(f"merge of {shards} shuffled shards of {per_shard} records")
        reports = shuffled_shards(tmp / f"s{shards}", shards, per_shard)
        out = tmp / f"merged{shards}.csv"
        before = _children_cpu()
        samples, wall = sampled(cli("merge", str(out), *map(str, reports), "--quiet"), lambda: 0, every=0.1)
        cpu = _children_cpu() - before  # the merge's own CPU: what it costs on a machine others do not share
        peak = max(s[2] for s in samples) / 2**20
        total = shards * per_shard
        assert count_lines(out) - 1 == total, "every record merged"
        figures[shards] = {"records": total, "seconds": wall, "cpu_seconds": cpu, "peak_rss_mb": peak}
        rows.append([shards, f"{total:,}", wall, f"{total / wall:,.0f}", cpu, f"{total / cpu:,.0f}", f"{peak:.0f}"])
        for r in reports:
            r.unlink()
    text = (
        f"**`synthsight merge` of shuffled `--files-from` shards** ({per_shard:,} records each, JSONL into one "
        "CSV, every shard's lines in a random order)\n\n"
        + table(["shards", "records", "wall s", "records/s (wall)", "CPU s", "records per CPU s", "peak RSS MB"], rows)
    )
    return text, figures


def cpu_flags() -> str:
    """The vector flags of this CPU (the figures depend on them), from /proc/cpuinfo."""
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_tile", "sha_ni")
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            have = next((line.split(":", 1)[1].split() for line in fh if line.startswith("flags")), [])
    except OSError:
        return "flags unknown"
    return "flags " + " ".join(f for f in wanted if f in have)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--files", default="3000,12000", help="the two corpus sizes the driver is measured at")
    p.add_argument("--records", type=int, default=100_000, help="records per merged shard")
    p.add_argument("--shards", default="8,16", help="shard counts merged")
    p.add_argument("--only", choices=("driver", "merge"), help="run one of the two parts")
    args = p.parse_args()
    sizes = [300, 900] if args.quick else [int(n) for n in args.files.split(",")]
    per_shard = 2000 if args.quick else args.records
    parts, data = [], {"machine": machine_line(), "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.only != "merge":
            text, data["driver"] = driver_cpu(tiny_model(tmp), sizes, tmp)
            parts.append(text)
        if args.only != "driver":
            text, data["merge"] = merge_shuffled([int(n) for n in args.shards.split(",")], per_shard, tmp)
            parts.append(text)
    data["load_after"] = os.getloadavg()
    load = f"load average (1/5/15 min) {data['load_before']} before, {data['load_after']} after"
    head = f"CPU {cpu_flags()}; {load} (run_all's line above names the command and the machine)"
    emit(head + "\n\n" + "\n\n".join(parts), data, args.json)


if __name__ == "__main__":
    main()
