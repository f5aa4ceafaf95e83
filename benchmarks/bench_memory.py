"""Resident memory of each runtime backend over 1000 batches: a leak shows as a positive slope.

    python benchmarks/bench_memory.py [--quick] [--arch convnext_atto] [--size 64] [--batches 1000]
                                      [--batch-size 1] [--threads 1] [--bf16] [--json FILE]

Each backend runs in its own child process (so one backend's allocations cannot hide or fake
another's), opened through ``synthsight.runtime.open_backend``. RSS is read from /proc at start
(before opening), after opening, after a warm-up of 50 batches, then every 10 batches to the
end; the slope is a least-squares fit over the post-warm-up samples. Allocators grow a little
before they plateau, so a backend counts as leaking when the fitted growth over 1000 batches
exceeds LEAK_MIB, not at the first kilobyte.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CACHE, emit, log, machine_line, parser, table  # noqa: E402

WARMUP = 50
EVERY = 10
LEAK_MIB = 4.0  # fitted growth per 1000 batches above which we call it a leak
TARGETS = [  # (label, file key, backend, precision)
    ("torch", "bundle", "torch", "fp32"),
    ("onnxruntime", "onnx", "onnxruntime", "auto"),
    ("onnxruntime (fp16 file)", "fp16", "onnxruntime", "auto"),
]
# bf16 is the torch backend's code path under autocast; on CPUs without native bf16 it runs ~10x
# slower than fp32 and 1000 batches would not fit `make bench`, so it is measured on request.
BF16 = ("torch", "bundle", "torch", "bf16")


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(args) -> None:
    """Run one backend for ``args.batches`` batches and print its RSS samples as JSON."""
    import numpy as np

    from synthsight.runtime import open_backend

    start = rss_mib()
    backend = open_backend(
        args.path, backend=args.backend, device="cpu", precision=args.precision, threads=args.threads
    )
    opened = rss_mib()
    rng = np.random.default_rng(0)
    batches = [rng.integers(0, 256, (args.batch_size, args.size, args.size, 3), dtype=np.uint8) for _ in range(4)]
    samples = []
    for i in range(args.batches):
        backend.infer(batches[i % len(batches)])
        if i + 1 == WARMUP:
            warm = rss_mib()
        if i + 1 >= WARMUP and (i + 1) % EVERY == 0:
            samples.append((i + 1, rss_mib()))
    backend.close()
    out = dict(start=start, opened=opened, warm=warm, end=samples[-1][1], samples=samples, precision=backend.precision)
    print(json.dumps(out))


def slope_per_1000(samples: list[tuple[int, float]]) -> float:
    n = len(samples)
    mx = sum(x for x, _ in samples) / n
    my = sum(y for _, y in samples) / n
    var = sum((x - mx) ** 2 for x, _ in samples)
    return 1000 * sum((x - mx) * (y - my) for x, y in samples) / var if var else 0.0


def start_child(path: Path, backend: str, precision: str, args) -> subprocess.Popen:
    cmd = [sys.executable, __file__, "--child", "--path", str(path), "--backend", backend, "--precision", precision]
    cmd += ["--batches", str(args.batches), "--batch-size", str(args.batch_size), "--size", str(args.size)]
    cmd += ["--threads", str(args.threads)]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def collect(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=600)
    if proc.returncode != 0:
        return {"error": (err.strip().splitlines() or ["?"])[-1]}
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--arch", default="convnext_atto")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batches", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--threads", type=int, default=1, help="CPU threads per backend (RSS does not depend on it)")
    p.add_argument("--bf16", action="store_true", help="also PyTorch bf16 autocast (slow on CPUs without bf16)")
    p.add_argument("--child", action="store_true", help=argparse_hidden())
    p.add_argument("--path", type=Path, help=argparse_hidden())
    p.add_argument("--backend", help=argparse_hidden())
    p.add_argument("--precision", default="auto", help=argparse_hidden())
    args = p.parse_args()
    if args.child:
        return child(args)
    if args.quick:
        args.batches = 200
    from bench_backends import build_models

    files = build_models(args.arch, args.size, args.cache or CACHE)
    rows, data = [], {}
    # The children run at once: RSS does not depend on speed, and one process per backend keeps
    # their allocations apart; in turn they would not fit `make bench`'s time (bf16 is slow on CPUs).
    targets = [*TARGETS, BF16] if args.bf16 else TARGETS
    log(f"{len(targets)} backends at once: {args.batches} batches of {args.batch_size} each")
    procs = [start_child(files[key], backend, precision, args) for _, key, backend, precision in targets]
    for (label, _, _, precision), proc in zip(targets, procs, strict=True):
        r = collect(proc)
        data[f"{label} {precision}"] = r
        if "error" in r:
            rows.append((label, precision, "-", "-", "-", "-", "-", f"failed: {r['error']}"))
            continue
        slope = slope_per_1000(r["samples"])
        verdict = "no leak" if slope <= LEAK_MIB else "LEAK?"
        rows.append((label, r["precision"], r["start"], r["opened"], r["warm"], r["end"], f"{slope:+.2f}", verdict))
    headers = ["backend", "precision", "RSS start MiB", "opened", f"after {WARMUP} batches", "end", "slope MiB/1000 b"]
    md = (
        f"{args.batches} batches of {args.batch_size} x {args.size} px through {args.arch} (random init), one child "
        f"process per backend (all at once), {args.threads} thread(s); "
        f"leak = fitted growth > {LEAK_MIB} MiB per 1000 batches. "
        f"Machine: {machine_line()}.\n\n" + table([*headers, "verdict"], rows)
    )
    emit(md, data, args.json)


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
