"""Load benchmark: a scan of many small files must keep flat memory and steady throughput.

Generates N small images once (default 20,000, mixed PNG/JPEG/WebP, a few broken, 100 per folder) under
/tmp/synthsight-load-N, then runs `synthsight scan` on them as a subprocess and samples, every second, the
resident memory of its whole process tree (parent + decode workers) and the records written so far. Prints
one line per 10 % of progress (RSS, images/s in that interval) and a verdict on flatness and steadiness:

    python benchmarks/bench_load.py --model MODEL.onnx [--n 20000] [--workers 1] [--batch-size 32]
    python benchmarks/bench_load.py --quick            # 2,000 files, the tiny random model built on the fly

Flat memory: RSS at the end within 15 % (+32 MB) of RSS at 20 % progress. Steady throughput: no 10 %
interval below half the median interval rate. A benchmark, not a unit test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import hostile  # noqa: E402  (the test helpers: image makers, report reader, process-tree RSS)
from common import random_model  # noqa: E402

from synthsight.artifacts import EXPORT_NAMES  # noqa: E402


def make_corpus(n: int) -> Path:
    root = Path(tempfile.gettempdir()) / f"synthsight-load-{n}"
    done = root / ".complete"
    if done.exists():
        return root
    formats = [("PNG", ".png"), ("JPEG", ".jpg"), ("WEBP", ".webp")]
    for i in range(n):
        folder = root / f"d{i // 100:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        fmt, ext = formats[i % 3]
        data = hostile.encode(hostile.noise(48 + i % 32, 40 + i % 24, i), fmt)
        if i % 97 == 0:
            data = data[: len(data) // 2]  # broken: must become an error record, not a stall
        (folder / f"img{i:06d}{ext}").write_bytes(data)
    done.write_text("ok")
    return root


def tiny_model(workdir: Path) -> Path:
    """The tests' tiny model (random convnext_atto, 64 px) exported to ONNX: plumbing only, no accuracy."""
    return random_model(workdir / "tiny", "convnext_atto", 64, onnx=workdir / "tiny" / EXPORT_NAMES["onnx"])[1]


def count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as fh:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


def run(args: argparse.Namespace, model: Path, corpus: Path, out: Path) -> list[tuple[float, int, int]]:
    cmd = [sys.executable, "-m", "synthsight", "scan", str(corpus), "--model", str(model), "--out", str(out)]
    cmd += ["--batch-size", str(args.batch_size), "--quiet", "--overwrite"]
    if args.workers is not None:
        cmd += ["--workers", str(args.workers)]
    samples: list[tuple[float, int, int]] = []  # (seconds, records, tree RSS bytes)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    while proc.poll() is None:
        samples.append((time.perf_counter() - t0, count_lines(out), hostile.tree_rss(proc.pid)))
        time.sleep(args.interval)
    err = proc.communicate()[1]
    if proc.returncode != 0:
        sys.exit(f"scan failed ({proc.returncode}): {err}")
    samples.append((time.perf_counter() - t0, count_lines(out), 0))
    return samples


def report(samples: list[tuple[float, int, int]], n: int) -> bool:
    print(f"{'progress':>8} {'time s':>8} {'records':>8} {'tree RSS MB':>12} {'images/s':>9}")
    # Intervals are timed from the first record written: start-up (imports, model load) is not throughput.
    first = next((s for s in samples if s[1] > 0), samples[-1])
    marks, last_t, last_r, rates, rss_at = [], first[0], first[1], [], {}
    for step in range(1, 11):
        target = n * step // 10
        hit = next((s for s in samples if s[1] >= target), samples[-1])
        rss = max((s[2] for s in samples if s[0] <= hit[0]), default=0)  # peak so far
        rate = (hit[1] - last_r) / max(hit[0] - last_t, 1e-9)
        rates.append(rate)
        rss_at[step] = rss
        print(f"{step * 10:>7}% {hit[0]:>8.1f} {hit[1]:>8} {rss / 2**20:>12.0f} {rate:>9.1f}")
        marks.append(hit)
        last_t, last_r = hit[0], hit[1]
    flat = rss_at[10] <= rss_at[2] * 1.15 + (32 << 20)
    median = statistics.median(rates)
    steady = min(rates) >= 0.5 * median
    print(f"peak tree RSS: {rss_at[10] / 2**20:.0f} MB (at 20 %: {rss_at[2] / 2**20:.0f} MB) -> flat: {flat}")
    print(f"interval rates: median {median:.1f}, min {min(rates):.1f} images/s -> steady: {steady}")
    return flat and steady


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="model to scan with (default: the tiny random ONNX model)")
    parser.add_argument("--n", type=int, default=20_000, help="number of files (default 20,000)")
    parser.add_argument("--quick", action="store_true", help="2,000 files")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between samples")
    args = parser.parse_args()
    n = 2_000 if args.quick else args.n
    corpus = make_corpus(n)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or tiny_model(Path(tmp))
        out = Path(tmp) / "load.jsonl"
        print(f"scanning {n} files in {corpus} with {model}")
        samples = run(args, model, corpus, out)
        records = hostile.read_report(out)
        assert len(records) == n, f"{len(records)} records for {n} files"
        ok = report(samples, n)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
