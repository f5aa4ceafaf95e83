"""The review page at scale: build time, size on disk and browser timings for a 100,000-record report.

    python benchmarks/bench_review.py [--quick] [--n 100000] [--json FILE]

Generates a synthetic scan report (JSON, N records in 7 collections of 1,000-file boxes, 2% errors,
scores from a skewed distribution, threshold 0.62), then runs `synthsight report --thumbs 0` on it as a
subprocess (wall time, peak RSS, bytes written). In headless Chromium (when installed) it opens the page
from disk and reads the times the page itself measures with performance.now(): data index loaded, first
page of rows shown, a text search over every path, a sort by path. Thumbnails are timed apart, on
camera-sized JPEG photos, in one process and in one per core (the process pool started beforehand, as
it is once for a whole page): their cost is per file, not per record.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, emit, jpeg_set, log, machine, machine_line, parser, table  # noqa: E402

THRESHOLD = 0.62


def views(n: int) -> dict[str, str]:
    """What a user does first: look at the top, search for a box (1,000 files) by name, sort by path."""
    return {"first page": "", "text search (one box)": f"q=box{n // 2000:04d}/", "sort by path": "sort=path&dir=asc"}


def make_report(path: Path, n: int) -> Path:
    from synthsight.reports.writers import JsonWriter, Record

    rng = random.Random(0)
    writer = JsonWriter(path)
    batch = []
    for i in range(n):
        name = f"/archive/collection-{i % 7}/box{i // 1000:04d}/IMG_{i:07d}.jpg"
        if i % 50 == 7:
            batch.append(
                Record(path=name, verdict="error", bytes=1234, error="truncated: file is truncated or damaged")
            )
        else:
            s = rng.betavariate(0.4, 1.6)
            batch.append(
                Record(
                    path=name, verdict="ai" if s >= THRESHOLD else "real", score=s, format="JPEG", width=4000,
                    height=3000, sha256=hashlib.sha256(name.encode()).hexdigest(), bytes=2_000_000 + i,
                    mtime="2026-11-30T10:00:00.000000Z",
                )
            )  # fmt: skip
        if len(batch) == 10_000:
            writer.write(batch)
            batch = []
    writer.write(batch)
    writer.close({"threshold": THRESHOLD, "status": "complete", "model": {"path": "/m/model.onnx", "sha256": "0" * 64}})
    return path


def build(report: Path, html: Path) -> dict:
    """`synthsight report` as a user runs it; wall seconds, peak RSS of the process, sizes written."""
    cmd = [sys.executable, "-m", "synthsight", "report", str(report), "--html", str(html), "--thumbs", "0", "-q"]
    code = "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]).returncode; "
    code += "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r)"
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True, cwd=REPO)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"synthsight report failed: {done.stderr.strip()[-500:]}")
    folder = html.with_name(html.stem + "_files")
    files = [p for p in folder.rglob("*") if p.is_file()]
    return {
        "seconds": seconds,
        "peak_rss_mb": int(done.stdout.strip().splitlines()[-1]) / 1024,
        "html_kb": html.stat().st_size / 1024,
        "folder_mb": sum(p.stat().st_size for p in files) / 1e6,
        "index_mb": (folder / "data" / "index.js").stat().st_size / 1e6,
        "files": len(files),
    }


def browser_times(html: Path, n: int, repeats: int) -> dict | None:
    from synthsight.review.browser import dump_dom, find_chromium

    if find_chromium() is None:
        return None
    out = {}
    for label, view in views(n).items():
        runs = []
        for _ in range(repeats):
            dom, _ = dump_dom(html.as_uri() + ("#" + view if view else ""), budget_ms=60_000)
            attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', re.search(r'<div id="status"[^>]*>', dom).group(0)))
            if attrs.get("state") != "ready":
                raise SystemExit(f"the page did not get ready for view {view!r}: {attrs}")
            runs.append(attrs)
        out[label] = {
            key: statistics.median(float(r[key]) for r in runs)
            for key in ("index-ms", "filter-ms", "render-ms", "first-page-ms", "matching")
        }
    return out


def thumb_rates(cache: Path, size_class: str, count: int) -> list[tuple[str, int, float]]:
    from synthsight.machine import usable_cores
    from synthsight.review.thumbs import Job, make_all

    photos = jpeg_set(cache, size_class, count)
    jobs = [Job(str(p), "") for p in photos]
    rates = []
    for workers in sorted({0, usable_cores()}):
        folder = Path(tempfile.mkdtemp(prefix="synthsight-thumbs-"))
        try:
            make_all(jobs[:2], folder / "warm-up", workers)  # starts the forkserver once, as a long run does
            t0 = time.perf_counter()
            made = make_all(jobs, folder, workers)
            seconds = time.perf_counter() - t0
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        assert all(m.thumb for m in made), [m.thumb_note for m in made if not m.thumb]
        rates.append(("this process" if workers == 0 else f"{workers} processes", workers, len(jobs) / seconds))
    return rates


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=None, help="records in the synthetic report (default 100000)")
    args = p.parse_args()
    n = args.n or (10_000 if args.quick else 100_000)
    load = os.getloadavg()[1] if hasattr(os, "getloadavg") else None
    work = Path(tempfile.mkdtemp(prefix="synthsight-bench-review-"))
    try:
        log(f"report of {n} records")
        t0 = time.perf_counter()
        report = make_report(work / "verdicts.json", n)
        made_in = time.perf_counter() - t0
        report_mb = report.stat().st_size / 1e6
        log("building the page")
        sizes = build(report, work / "review.html")
        log("opening it in chromium")
        times = browser_times(work / "review.html", n, 1 if args.quick else 3)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log("thumbnails")
    size_class, count = ("0.3MP", 8) if args.quick else ("12MP", 16)
    rates = thumb_rates(args.cache, size_class, count)
    about = f"{report_mb:.0f} MB of JSON, written in {made_in:.1f} s"
    text = markdown(n, about, sizes, times, rates, size_class, count, load)
    emit(text, {"n": n, "build": sizes, "browser": times, "thumbnails": rates, "machine": machine()}, args.json)


def markdown(n, about, sizes, times, rates, size_class, count, load) -> str:
    from synthsight.review import DEFAULT_THUMBS

    lines = [
        (
            f"5-minute load average before the run: {load:.1f} on {os.cpu_count()} cores "
            "(other work competed for the cores when it is near or above their number). "
            if load is not None
            else ""
        )
        + f"Synthetic report of {n:,} records ({about}), "
        f"`synthsight report --thumbs 0` as a subprocess; machine: {machine_line()}.",
        "",
        table(
            ["records", "build (s)", "peak RSS (MB)", "HTML (KB)", "folder (MB)", "of which index (MB)", "files"],
            [
                [
                    f"{n:,}",
                    sizes["seconds"],
                    sizes["peak_rss_mb"],
                    sizes["html_kb"],
                    sizes["folder_mb"],
                    sizes["index_mb"],
                    sizes["files"],
                ]
            ],
        ),  # fmt: skip
        "",
    ]
    if times is None:
        lines.append("_Browser timings not measured: chromium is not installed here._")
    else:
        rows = [
            [label, int(t["matching"]), t["index-ms"], t["filter-ms"], t["render-ms"], t["first-page-ms"]]
            for label, t in times.items()
        ]
        lines += [
            "Headless Chromium, page opened from disk (file://), times measured by the page (median of runs):",
            "",
            table(
                ["view", "matching", "index loaded (ms)", "filter + sort (ms)", "rows shown (ms)", "total (ms)"], rows
            ),
        ]
    lines += [
        "",
        f"Thumbnails ({count} photo-like {size_class} JPEGs, decoded by `preprocess.thumbnail`, 160 px JPEG out):",
        "",
        table(
            ["processes", "thumbnails/s", f"the default --thumbs {DEFAULT_THUMBS:,} would take (s)"],
            [[label, rate, DEFAULT_THUMBS / rate] for label, _, rate in rates],
        ),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
