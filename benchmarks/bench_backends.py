"""Images/s of every runtime backend here, by precision and batch size, through synthsight.runtime.

    python benchmarks/bench_backends.py [--quick] [--arch convnext_tiny] [--size 224] [--batch-sizes 1,8,32]
                                        [--repeats 5] [--threads N] [--out FILE] [--json FILE]

The model is a random-init timm ConvNeXt (throughput does not depend on the weights), saved as a
bundle and exported to FP32 and mixed-FP16 ONNX with synthsight's own exporter, then opened with
``open_backend`` exactly as the scanner does. Inputs are uint8 ``[N, H, W, 3]`` pixels (decode is
measured elsewhere). Baseline: PyTorch eager fp32 at batch 1 (the seeds' per-image loop), measured
in the same run. PyTorch bf16 autocast runs at batch 1 only by default (``--bf16-batches``): on a
CPU without native bf16 it is ~10x slower than fp32, and batch 32 would take most of `make bench`'s
time for a figure nobody would choose. Cells are measured round-robin (one sample of every cell per
round), so a burst of load on a shared machine hits all cells alike instead of one; each figure is
the median of the rounds, after one warm-up call per cell that is not counted.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CACHE, emit, log, machine_line, parser, random_model, table  # noqa: E402

from synthsight.artifacts import EXPORT_NAMES  # noqa: E402

TARGET = 1.2  # ONNX Runtime batch inference vs PyTorch eager fp32 at the same batch (issue 4)
# Pause between cells: ONNX Runtime's idle threads spin for a moment after a run, and in one process
# they would steal the cores of the PyTorch cell measured right after (a bias in ORT's favour).
SETTLE = 0.05


def build_models(arch: str, size: int, cache: Path) -> dict[str, Path]:
    """Bundle + FP32 ONNX + FP16 ONNX for ``arch`` at ``size`` px, made once and reused from ``cache``."""
    from synthsight.export.fp16 import convert_fp16

    folder = cache / "backends" / f"{arch}_{size}"
    files = {"bundle": folder / "bundle", "onnx": folder / EXPORT_NAMES["onnx"], "fp16": folder / EXPORT_NAMES["fp16"]}
    if all(p.exists() for p in files.values()):
        return files
    log(f"making {arch} at {size} px (random init) in {folder}")
    random_model(files["bundle"], arch, size, onnx=files["onnx"])
    convert_fp16(files["onnx"], files["fp16"])
    return files


def targets(files: dict[str, Path]) -> list[tuple[str, Path, str, str, str]]:
    """(label, path, backend, device, precision) for everything that may run here."""
    import torch

    out = [
        ("torch", files["bundle"], "torch", "cpu", "fp32"),
        ("torch", files["bundle"], "torch", "cpu", "bf16"),
        ("onnxruntime", files["onnx"], "onnxruntime", "cpu", "auto"),
        ("onnxruntime (fp16 file)", files["fp16"], "onnxruntime", "cpu", "auto"),
    ]
    if torch.cuda.is_available():
        out += [
            ("torch", files["bundle"], "torch", "cuda", "fp16"),
            ("onnxruntime", files["onnx"], "onnxruntime", "cuda", "auto"),
            ("onnxruntime (fp16 file)", files["fp16"], "onnxruntime", "cuda", "auto"),
        ]
    return out


def open_all(files, threads: int | None, max_batch: int):
    from synthsight.errors import SynthsightError
    from synthsight.runtime import open_backend

    opened, skipped = [], []
    for label, path, backend, device, precision in targets(files):
        try:
            b = open_backend(path, backend=backend, device=device, precision=precision, threads=threads)
        except SynthsightError as exc:
            skipped.append(f"{label} {device} {precision}: {exc}")
            continue
        opened.append((label, b))
    return opened, skipped


def cells(opened, batch_sizes: list[int], bf16_batches: list[int]) -> list[tuple[int, int]]:
    """(backend index, batch) pairs to measure: every batch size, bf16 only at ``bf16_batches``."""
    return [
        (i, bs)
        for i, (_, backend) in enumerate(opened)
        for bs in batch_sizes
        if backend.precision != "bf16" or bs in bf16_batches
    ]


def measure(opened, todo: list[tuple[int, int]], rounds: int, min_images: int, size: int) -> dict:
    """{(index, batch): [images/s per round]}, round-robin over the cells after one warm-up call each."""
    import numpy as np

    pixels = np.random.default_rng(0).integers(0, 256, (max(bs for _, bs in todo), size, size, 3), dtype=np.uint8)
    log("warm-up: one call per cell")
    for i, bs in todo:
        opened[i][1].infer(pixels[:bs])
    rates: dict[tuple[int, int], list[float]] = {}
    for r in range(1, rounds + 1):
        log(f"round {r}/{rounds}")
        for i, bs in todo:
            backend = opened[i][1]
            time.sleep(SETTLE)
            batch = pixels[:bs]
            calls = max(1, -(-min_images // bs))
            t0 = time.perf_counter()
            for _ in range(calls):
                backend.infer(batch)
            rates.setdefault((i, bs), []).append(calls * bs / (time.perf_counter() - t0))
    return rates


def report(opened, rates: dict, batch_sizes: list[int], args, skipped: list[str]) -> tuple[str, dict]:
    medians = {k: statistics.median(v) for k, v in rates.items()}
    base_index = next(i for i, (label, b) in enumerate(opened) if b.name == "torch" and b.precision == "fp32")
    base = medians[(base_index, 1)] if 1 in batch_sizes else medians[(base_index, batch_sizes[0])]
    rows, data = [], []
    for i, (label, b) in enumerate(opened):
        for bs in batch_sizes:
            if (i, bs) not in medians:
                continue
            ips = medians[(i, bs)]
            same = ips / medians[(base_index, bs)]
            spread = (max(rates[(i, bs)]) - min(rates[(i, bs)])) / ips
            rows.append((label, b.precision, b.device, bs, ips, f"{ips / base:.2f}x", f"{same:.2f}x", f"{spread:.0%}"))
            data.append(dict(backend=label, precision=b.precision, device=b.device, batch=bs, images_per_s=ips))
    headers = ["backend", "precision", "device", "batch", "images/s", "vs torch fp32 b1", "vs torch fp32 same batch"]
    md = [
        f"Model: {args.arch} at {args.size} px (random init), uint8 input, {args.repeats} timed rounds after "
        f"1 warm-up call per cell, >= {args.min_images} images per sample; bf16 at batch "
        f"{args.bf16_batches} only; CPU inference threads: "
        f"{args.threads or 'all cores (ORT spinning on)'}. Machine: {machine_line()}.",
        "",
        table([*headers, "spread (max-min)/median"], rows),
    ]
    ort = next((i for i, (label, b) in enumerate(opened) if label == "onnxruntime" and b.device == "cpu"), None)
    if ort is not None:
        ratios = {bs: medians[(ort, bs)] / medians[(base_index, bs)] for bs in batch_sizes if bs > 1}
        met = all(r >= TARGET for r in ratios.values())
        shown = ", ".join(f"batch {bs}: {r:.2f}x" for bs, r in ratios.items())
        md += ["", f"Target ONNX Runtime fp32 >= {TARGET}x PyTorch eager fp32 at the same batch (CPU): {shown} -> "]
        md[-1] += "**met**." if met else "**not met** on this run."
    md += [f"- not run here: {s}" for s in skipped]
    return "\n".join(md), {"rows": data, "baseline_images_per_s": base, "skipped": skipped}


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--arch", default="convnext_tiny")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch-sizes", default="1,8,32")
    p.add_argument("--repeats", type=int, default=3, help="timed rounds (medians are over these)")
    p.add_argument("--min-images", type=int, default=4, help="images per timed sample (batch 1 repeats calls)")
    p.add_argument("--bf16-batches", default="1", help="batch sizes for PyTorch bf16 (slow on CPUs without bf16)")
    p.add_argument("--threads", type=int, default=None, help="CPU inference threads [default: all cores]")
    p.add_argument("--out", type=Path, help="also write the markdown table to this file")
    args = p.parse_args()
    if args.quick:
        args.arch, args.size, args.repeats = "convnext_atto", 96, 2
    batch_sizes = sorted({int(b) for b in args.batch_sizes.split(",")})
    files = build_models(args.arch, args.size, args.cache or CACHE)
    opened, skipped = open_all(files, args.threads, max(batch_sizes))
    try:
        bf16 = [int(b) for b in args.bf16_batches.split(",") if b.strip()]
        rates = measure(opened, cells(opened, batch_sizes, bf16), args.repeats, args.min_images, args.size)
        md, data = report(opened, rates, batch_sizes, args, skipped)
    finally:
        for _, b in opened:
            b.close()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(md + "\n", encoding="utf-8")
    emit(md, data, args.json)


if __name__ == "__main__":
    main()
