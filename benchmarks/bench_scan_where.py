"""Where a CPU scan's time goes on shared cores: its stages and the scan at depth 2 and 1, in one process.

    python benchmarks/bench_scan_where.py [--rounds R] [--images N] [--json FILE]

Each round, in this one process and in this order: decode-only, inference-only, the scan with two batches in
flight (scanner/overlap.DEPTH), the scan one batch at a time, inference-only, decode-only (bench_scan.py's
corpus and model; the scans' order alternates between rounds). Every row opens its own backend outside the
clock, so a scan's first batch pays the session's first run as a real scan does; inference-only times that
first batch apart. Per row: wall time, the CPU seconds of this process (ONNX Runtime's threads, the main
thread) and of the decode processes (psutil, sampled every 50 ms), and for the scans, per batch, how long the
main thread waited for the logits and how long it took to make and write the records: what a second batch in
flight can hide. The bound of a round is the mean of its two decode-only rows plus the mean of its two
inference-only rows (seconds, without the first batch's extra), as in bench_scan_ab.py.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_scan  # noqa: E402
from common import emit, log, machine, mixed_corpus, parser, table  # noqa: E402


class CpuSampler:
    """CPU seconds used while open by this process and by its descendants (the decode processes)."""

    def __init__(self):
        self.me, self.seen, self.stop = psutil.Process(), {}, threading.Event()
        self.start = sum(self.me.cpu_times()[:2])

    def _sample(self) -> None:
        for proc in [self.me, *self.me.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):  # a decode process that just ended
                self.seen[proc.pid] = max(self.seen.get(proc.pid, 0.0), sum(proc.cpu_times()[:2]))

    def _run(self) -> None:
        while not self.stop.wait(0.05):
            self._sample()

    def __enter__(self) -> CpuSampler:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._sample()
        self.stop.set()
        self.thread.join()

    def seconds(self) -> dict[str, float]:
        own = self.seen.get(self.me.pid, self.start) - self.start
        return {"cpu_this_s": own, "cpu_decode_s": sum(v for k, v in self.seen.items() if k != self.me.pid)}


def _open(onnx: str):
    from synthsight.runtime import open_backend
    from synthsight.scanner.pool import plan_cores

    return open_backend(onnx, max_batch=bench_scan.BATCH, threads=plan_cores().threads)


def decode_row(files: list[str]) -> dict:
    with CpuSampler() as cpu:
        t = time.perf_counter()
        bench_scan.decode_only(files, workers=None)
        wall = time.perf_counter() - t
    return {"wall_s": wall, **cpu.seconds()}


def inference_row(onnx: str, images: int) -> dict:
    """The scan's batches on ready pixels; the first one (the session's first run) timed apart."""
    import numpy as np

    size, batch = bench_scan.SIZE, bench_scan.BATCH
    pixels = np.random.default_rng(0).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
    sizes = [batch] * (images // batch) + ([images % batch] if images % batch else [])
    with _open(onnx) as backend, CpuSampler() as cpu:
        times = []
        for n in [sizes[0], *sizes]:  # one more: the first run, then the scan's batches
            t = time.perf_counter()
            backend.infer(pixels[:n])
            times.append(time.perf_counter() - t)
    return {"wall_s": sum(times[1:]), "first_extra_s": times[0] - times[1], "batches_s": times, **cpu.seconds()}


def scan_row(files: list[str], onnx: str, out: str, depth: int) -> dict:
    """The scan (its session: first file to last record) at ``depth``, with the main thread's waits timed."""
    from synthsight.scanner import overlap, pipeline, scan

    waits, records = [], []

    def timed(batches, submit, finish, depth=depth, ready=lambda: True):
        def finish_timed(batch, handle):
            t0 = time.perf_counter()
            if handle is not None:
                handle.result()
            t1 = time.perf_counter()
            got = finish(batch, handle)
            waits.append(t1 - t0)
            records.append(time.perf_counter() - t1)
            return got

        return overlap.in_flight(batches, submit, finish_timed, depth=depth, ready=ready)

    backend = _open(onnx)
    pipeline.in_flight = timed
    try:
        with backend, CpuSampler() as cpu:
            summary = scan(files, backend, [out], batch_size=bench_scan.BATCH, overwrite=True, quiet=True)
    finally:
        pipeline.in_flight = overlap.in_flight
    return {"wall_s": summary.seconds, "waits_s": waits, "records_ms": [1000 * r for r in records], **cpu.seconds()}


def one_round(files: list[str], onnx: str, out: str, depths: tuple[int, int]) -> dict:
    d1, i1 = decode_row(files), inference_row(onnx, len(files))
    scans = {f"depth {d}": scan_row(files, onnx, out, d) for d in depths}
    i2, d2 = inference_row(onnx, len(files)), decode_row(files)
    bound = (d1["wall_s"] + d2["wall_s"] + i1["wall_s"] + i2["wall_s"]) / 2
    return {"decode": [d1, d2], "inference": [i1, i2], **scans, "bound_s": bound, "load": os.getloadavg()[0]}


def render(rounds: list[dict], n: int) -> str:
    med = statistics.median
    rows = []

    def cpu(got: list[dict]) -> list[str]:
        return [f"{med(r['wall_s'] for r in got):.2f}", f"{med(r['cpu_this_s'] for r in got):.2f}",
                f"{med(r['cpu_decode_s'] for r in got):.2f}"]  # fmt: skip

    for name in ("decode", "inference"):
        got = [r for x in rounds for r in x[name]]
        rows.append([f"{name} only", *cpu(got), "", "", ""])
    for name in ("depth 2", "depth 1"):
        got = [x[name] for x in rounds]
        rows.append([f"scan, {name}", *cpu(got),
                     f"{med(x['bound_s'] / r['wall_s'] for r, x in zip(got, rounds, strict=True)):.2f}",
                     f"{med(w for r in got for w in r['waits_s']):.2f}",
                     f"{med(m for r in got for m in r['records_ms']):.2f}"])  # fmt: skip
    first = med(r["first_extra_s"] for x in rounds for r in x["inference"])
    ratio = med(x["depth 2"]["wall_s"] / x["depth 1"]["wall_s"] for x in rounds)
    loads = [x["load"] for x in rounds]
    return "\n".join([
        f"{n} images (bench_scan.py's corpus and model), {len(rounds)} rounds in one process; medians; load "
        f"{min(loads):.1f}-{max(loads):.1f}.",
        "",
        table(["row", "wall s", "CPU s, this process", "CPU s, decode processes", "fraction of the bound",
               "wait for logits s (per batch)", "records ms (per batch)"], rows),  # fmt: skip
        "",
        f"- Depth 2 / depth 1 scan time, per round: median **{ratio:.3f}**. The session's first run against a "
        f"later batch: {first:+.2f} s (inside every scan, outside the bound).",
    ])  # fmt: skip


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=None, help="rounds (default 4; 1 with --quick)")
    p.add_argument("--images", type=int, default=None, help="corpus size (default 96; 4 with --quick)")
    args = p.parse_args()
    rounds, n = args.rounds or (1 if args.quick else 4), args.images or (4 if args.quick else 96)
    files = [str(f) for f in mixed_corpus(args.cache, n)]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-scan-where-") as tmp:
        onnx = str(bench_scan.export_model(Path(tmp)))
        for r in range(rounds):
            result = one_round(files, onnx, f"{tmp}/scan.csv", (2, 1) if r % 2 == 0 else (1, 2))
            results.append(result)
            log(f"  [{r + 1}/{rounds}] depth 2 {result['depth 2']['wall_s']:.2f} s, depth 1 "
                f"{result['depth 1']['wall_s']:.2f} s, bound {result['bound_s']:.2f} s, "
                f"load {result['load']:.1f}")  # fmt: skip
    emit(render(results, n), {"machine": machine(), "images": n, "rounds": results}, args.json)


if __name__ == "__main__":
    main()
