"""End-to-end scan throughput against the seeds' loop and a DataLoader, measured in one run.

    python benchmarks/bench_scan.py [--quick] [--images N] [--repeats R] [--json FILE]

Corpus: half 12-megapixel JPEG photos, half 512x512 PNG (photo-like, generated once into the cache).
Model: convnext_tiny at 224 px, random init (throughput does not depend on the weights).
  (a) the seeds' way: PIL full decode, torchvision Resize+ToTensor+Normalize, PyTorch eager fp32, batch 1, 1 process
  (b) torch DataLoader with one worker per core feeding PyTorch eager fp32 batches of 32 (same transforms)
  (c) synthsight.scanner.scan with the exported ONNX model (ONNX Runtime, decode pool, CSV output)
plus decode-only and inference-only throughput of synthsight's own stages (its bound), and (c) on one core.
Every measurement runs in a fresh child process of this one (same process tree, same corpus, in turn).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, log, machine, mixed_corpus, parser, random_model, table  # noqa: E402

from synthsight.artifacts import EXPORT_NAMES  # noqa: E402

ARCH, SIZE, BATCH = "convnext_tiny", 224, 32


# ---- the contenders (each runs inside a child process) -------------------------------------------------


def _seeds_net():
    import timm
    import torch

    torch.manual_seed(0)
    return timm.create_model(ARCH, num_classes=2).eval()


def _seeds_transform():
    from torchvision import transforms

    from synthsight.spec import IMAGENET_MEAN, IMAGENET_STD

    return transforms.Compose(
        [transforms.Resize((SIZE, SIZE)), transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    )


def seeds_loop(files: list[str]) -> int:
    """(a) one image at a time: full decode, torchvision transforms, eager fp32."""
    import torch
    from PIL import Image

    net, tf = _seeds_net(), _seeds_transform()
    with torch.no_grad():
        net(torch.zeros(1, 3, SIZE, SIZE))
    _start()
    with torch.no_grad():
        for path in files:
            with Image.open(path) as im:
                x = tf(im.convert("RGB")).unsqueeze(0)
            torch.softmax(net(x), 1)[0, 0].item()
    return len(files)


class _Files:
    """Map-style dataset over paths with the seeds' transforms (what a torchvision user writes)."""

    def __init__(self, files: list[str]):
        self.files, self.tf = files, _seeds_transform()

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        from PIL import Image

        with Image.open(self.files[i]) as im:
            return self.tf(im.convert("RGB"))


def dataloader_loop(files: list[str], workers: int) -> int:
    """(b) DataLoader with worker processes, eager fp32 batches."""
    import torch
    from torch.utils.data import DataLoader

    net = _seeds_net()
    with torch.no_grad():
        net(torch.zeros(2, 3, SIZE, SIZE))
    _start()
    loader = DataLoader(_Files(files), batch_size=BATCH, num_workers=workers)
    with torch.no_grad():
        for x in loader:
            torch.softmax(net(x), 1)[:, 0].tolist()
    return len(files)


def synthsight_scan(files: list[str], onnx: str, out: str, workers: int | None) -> tuple[int, dict]:
    """(c) the whole synthsight scan as `synthsight scan` runs it: opening the ONNX Runtime session (its
    thread split), walk, decode pool, inference, verdicts, CSV with hashes and provenance. The clock includes
    the opening; ``session_seconds`` is the session's own (walk to the last record, the manifest's seconds)."""
    from synthsight.scanner import scan

    options = {"quiet": True} if workers is None else {"quiet": True, "workers": workers}
    _start()
    summary = scan(files, onnx, [out], batch_size=BATCH, overwrite=True, **options)
    if summary.counts.get("error"):
        raise RuntimeError(f"{summary.counts['error']} files failed to scan: {summary.line}")
    return len(files), {"session_seconds": summary.seconds}


def decode_only(files: list[str], workers: int | None) -> int:
    """synthsight's decode pool alone, reading as the scan reads (hash, provenance: the decode side of the
    bound), with the scan's decode processes."""
    from synthsight.image.preprocess import PreprocessSpec
    from synthsight.provenance import ProvenanceReader
    from synthsight.scanner.pool import DecodePool, plan_cores
    from synthsight.scanner.walk import Walker
    from synthsight.scanner.worker import ReadOptions

    n = plan_cores(workers).cpu_workers
    read = ReadOptions(PreprocessSpec(size=SIZE), provenance=ProvenanceReader())  # a scan's defaults
    _start()
    with DecodePool(iter(Walker(files)), read, BATCH, n) as pool:
        for batch in pool:
            pool.release(batch)
    return len(files)


def inference_only(onnx: str, images: int) -> int:
    """The runtime alone on ready uint8 batches, with the threads the scan gives it (the inference side): the
    batches a scan of ``images`` files makes (full ones of BATCH, then the rest), after one warm-up batch."""
    import numpy as np

    from synthsight.runtime import open_backend
    from synthsight.scanner.pool import plan_cores

    threads = plan_cores().threads
    batch = np.random.default_rng(0).integers(0, 256, (BATCH, SIZE, SIZE, 3), dtype=np.uint8)
    sizes = [BATCH] * (images // BATCH) + ([images % BATCH] if images % BATCH else [])
    with open_backend(onnx, max_batch=BATCH, threads=threads) as backend:
        backend.infer(batch)
        _start()
        for size in sizes:
            backend.infer(batch[:size])
    return images


_T0: list[float] = []


def _start() -> None:
    """Marks the start of the timed part (model building and warm-up excluded)."""
    _T0.append(time.perf_counter())


def _child(conn, cores: set[int] | None, name: str, kwargs: dict) -> None:
    if cores is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)
    try:
        n = globals()[name](**kwargs)
        seconds = time.perf_counter() - _T0[-1]
        n, extra = n if isinstance(n, tuple) else (n, {})
        conn.send({"images": n, "seconds": seconds, **extra})
    except Exception as exc:  # reported as a skipped row, the other measurements go on
        conn.send({"error": f"{type(exc).__name__}: {exc}"})


def measure(name: str, cores: set[int] | None = None, **kwargs) -> dict:
    """Run contender ``name`` in a fresh child process (pinned to ``cores``); images/s of its timed part."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, cores, name, kwargs))
    proc.start()
    child.close()  # so that a child that dies shows as EOF here instead of a hang
    try:
        result = parent.recv()
    except EOFError:
        result = {"error": "the child process died"}
    proc.join()
    if "error" in result and proc.exitcode:
        result["error"] += f" (exit code {proc.exitcode})"
    if "error" not in result:
        result["images_per_s"] = result["images"] / result["seconds"]
    return result


# ---- the run ---------------------------------------------------------------------------------------


def export_model(folder: Path) -> Path:
    """A random-init convnext_tiny bundle and its ONNX export (synthsight's own exporter)."""
    return random_model(folder / "bundle", ARCH, SIZE, onnx=folder / "bundle" / EXPORT_NAMES["onnx"])[1]


def run(files: list[str], repeats: int, tmp: Path) -> dict:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        onnx = str(export_model(tmp))
    except Exception as exc:
        log(f"ONNX export failed ({type(exc).__name__}: {exc}): synthsight rows are skipped")
        onnx = None
    plan = {
        "(a) seeds: PIL full decode, eager fp32, batch 1, 1 process": ("seeds_loop", None, {"files": files}),
        f"(b) DataLoader, {cores} workers, eager fp32, batch {BATCH}": (
            "dataloader_loop",
            None,
            {"files": files, "workers": cores},
        ),
        "decode only (synthsight decode pool, as the scan runs it)": (
            "decode_only",
            None,
            {"files": files, "workers": None},
        ),
    }
    if onnx:
        plan[f"inference only (ONNX Runtime, batch {BATCH})"] = (
            "inference_only",
            None,
            {"onnx": onnx, "images": len(files)},
        )
        plan["(c) synthsight scan, all cores"] = (
            "synthsight_scan",
            None,
            {"files": files, "onnx": onnx, "out": str(tmp / "scan.csv"), "workers": None},
        )
        if cores > 1:
            plan["(c) synthsight scan, 1 core"] = (
                "synthsight_scan",
                {0},
                {"files": files, "onnx": onnx, "out": str(tmp / "scan1.csv"), "workers": None},
            )
    runs: dict[str, list[dict]] = {label: [] for label in plan}
    for r in range(repeats):  # interleaved, so that a noisy neighbour hurts every contender alike
        for label, (name, pin, kwargs) in plan.items():
            if pin is not None:
                pin = {sorted(os.sched_getaffinity(0))[0]}
            result = measure(name, pin, **kwargs)
            log(
                f"  [{r + 1}/{repeats}] {label}: {result.get('images_per_s', 0):.2f} images/s {result.get('error', '')}"
            )
            runs[label].append(result)
    return {"cores": cores, "runs": runs, "median": {k: _median(v) for k, v in runs.items()}}


def _median(results: list[dict]) -> float | None:
    rates = [r["images_per_s"] for r in results if "images_per_s" in r]
    return statistics.median(rates) if rates else None


def render(data: dict) -> str:
    med, n = data["median"], data["images"]
    labels = list(med)
    seeds, loader = med[labels[0]], med[labels[1]]
    rows = []
    for label in labels:
        rate = med[label]
        rows.append(
            [
                label,
                rate if rate else "skipped: " + _error(data["runs"][label]),
                f"{rate / seeds:.2f}x" if rate and seeds else "",
                f"{rate / loader:.2f}x" if rate and loader else "",
            ]
        )
    parts = [
        f"{n} images (half 12 MP JPEG photos, half 512x512 PNG), {ARCH} at {SIZE} px, random init; "
        f"medians of {data['repeats']} interleaved runs, each in a fresh child process of one parent.",
        "",
        table(["pipeline", "images/s", "vs (a)", "vs (b)"], rows),
        "",
    ]
    scan = med.get("(c) synthsight scan, all cores")
    decode = next((v for k, v in med.items() if k.startswith("decode only")), None)
    infer = next((v for k, v in med.items() if k.startswith("inference only")), None)
    if scan and decode and infer:
        bound, shared = min(decode, infer), 1 / (1 / decode + 1 / infer)
        parts += [
            f"- Targets: (c) >= 3x (a): **{scan / seeds:.2f}x** ({'met' if scan >= 3 * seeds else 'NOT met'}); "
            f"(c) >= 1.5x (b): **{scan / loader:.2f}x** ({'met' if scan >= 1.5 * loader else 'NOT met'}).",
            f"- Pipeline against its own bound: scan / min(decode-only, inference-only) = {scan:.2f} / {bound:.2f} = "
            f"**{scan / bound:.2f}**. Decode and inference share the same {data['cores']} cores here, so the bound "
            f"when both must run on them is 1 / (1/decode + 1/inference) = {shared:.2f} images/s: "
            f"scan reaches **{scan / shared:.2f}** of it.",
        ]
        if scan < 3 * seeds:
            parts.append(
                f"- Why (c) cannot reach 3x (a) here: inference alone runs at {infer / seeds:.2f}x (a), so even a "
                f"scan whose decoding cost nothing would stay below 3x; on a CPU this model is inference-bound, "
                "and only a cheaper model or a GPU moves that ceiling (no lower precision is used, since it would "
                "change verdicts)."
            )
        scans = [r for r in data["runs"]["(c) synthsight scan, all cores"] if "session_seconds" in r]
        if scans:
            opening = statistics.median(r["seconds"] - r["session_seconds"] for r in scans)
            seconds = statistics.median(r["seconds"] for r in scans)
            parts.append(
                f"- Of the scan's {seconds:.2f} s, opening the model (ONNX Runtime session, spec, hash) took "
                f"{opening:.2f} s before the first file was read; without it the scan reaches "
                f"**{n / (seconds - opening) / shared:.2f}** of the shared bound."
            )
        one = med.get("(c) synthsight scan, 1 core")
        if one:
            parts.append(
                f"- Core scaling: scan on 1 core {one:.2f} images/s, on {data['cores']} cores {scan:.2f} "
                f"images/s: **{scan / one:.2f}x** from 1 to {data['cores']} cores."
            )
    return "\n".join(parts)


def _error(results: list[dict]) -> str:
    return next((r["error"] for r in results if "error" in r), "no result")


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=None, help="corpus size (default 48; 4 with --quick)")
    p.add_argument("--repeats", type=int, default=None, help="runs of each pipeline (default 2; 1 with --quick)")
    args = p.parse_args()
    n = args.images or (4 if args.quick else 48)
    repeats = args.repeats or (1 if args.quick else 2)
    log(f"bench_scan: generating / reusing {n} images in {args.cache}")
    files = [str(f) for f in mixed_corpus(args.cache, n)]
    with tempfile.TemporaryDirectory(prefix="bench-scan-") as tmp:
        data = run(files, repeats, Path(tmp))
    data.update({"machine": machine(), "images": len(files), "repeats": repeats, "arch": ARCH, "size": SIZE})
    emit(render(data), data, args.json)


if __name__ == "__main__":
    main()
