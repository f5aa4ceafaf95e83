"""Timing one backend per batch size, the decode pool per size class, and a whole scan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synthsight.bench.machine import cuda_available


def backend_targets(model: Path, wanted: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """(path, backend, device, precision) for every way this machine may run ``model`` and its siblings.

    A bundle directory brings PyTorch rows and any ``*.onnx`` / ``*.engine`` inside it; an ``.onnx`` or
    ``.engine`` file brings its siblings and the bundle it sits in (``model.json`` beside it).
    """
    from synthsight.artifacts import SUFFIXES, is_bundle

    model = Path(model)
    folder = model if model.is_dir() else model.parent
    bundle = model if SUFFIXES.get(model.suffix) == "bundle" else folder if is_bundle(folder) else None
    siblings = sorted(p for p in folder.iterdir() if p.is_file() and p != model)
    onnx = ([model] if SUFFIXES.get(model.suffix.lower()) == "onnx" else []) + [
        p for p in siblings if SUFFIXES.get(p.suffix.lower()) == "onnx"
    ]
    engines = sorted(p for p in [model, *siblings] if SUFFIXES.get(p.suffix.lower()) == "engine")
    cuda = cuda_available()
    out = []
    if bundle is not None:
        out += [(bundle, "torch", "cpu", "fp32"), (bundle, "torch", "cpu", "bf16")]
        out += [(bundle, "torch", "cuda", "fp16")] if cuda else []
    from synthsight.bench.cpu import cpu_rows

    covered: set[Path] = set()
    for path in onnx:
        out += [(path, "onnxruntime", "cuda", "auto")] if cuda else []
        if path in covered:
            continue
        rows = cpu_rows(path)  # every runtime x precision of an FP32/INT8 family, or None
        covered |= {row[0] for row in rows or []}
        out += rows or [(path, "onnxruntime", "cpu", "auto")]
    out += [(path, "tensorrt", "cuda", "auto") for path in engines if cuda]
    return [
        {"path": str(p), "backend": b, "device": d, "precision": q} for p, b, d, q in out if not wanted or b in wanted
    ]


def time_backend(
    target: dict[str, str], files: list[Path], batch_sizes: tuple[int, ...], seconds: float, spec
) -> tuple[dict, Any]:
    """Latency per batch size of one backend; a backend that cannot open here is reported, not fatal."""
    import numpy as np

    from synthsight.bench.cpu import certificate_cell
    from synthsight.errors import SynthsightError
    from synthsight.runtime import open_backend

    row: dict[str, Any] = dict(target)
    try:
        backend = open_backend(
            target["path"], backend=target["backend"], device=target["device"], precision=target["precision"]
        )
    except SynthsightError as exc:
        row["skipped"] = str(exc)
        return row, spec
    with backend:
        row.update(backend.describe())
        row["certificate"] = certificate_cell(backend)
        spec = backend.preprocess
        pool = _decoded(files[: max(batch_sizes)], spec)
        row["batches"] = []
        for batch_size in batch_sizes:
            batch = np.ascontiguousarray(np.resize(pool, (batch_size, *pool.shape[1:])))
            row["batches"].append(measure_latency(backend.infer, batch, seconds))
    return row, spec


def measure_latency(infer, batch, seconds: float) -> dict[str, float]:
    """Call ``infer(batch)`` for ``seconds`` (at least 3 times) after 2 warm-up calls; latency percentiles."""
    import time

    import numpy as np

    for _ in range(2):  # warm-up: allocations, graph optimisation, autotuning
        infer(batch)
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(times) < 3 or (time.perf_counter() < deadline and len(times) < 10_000):
        t0 = time.perf_counter()
        infer(batch)
        times.append(time.perf_counter() - t0)
    lat = np.asarray(times)
    return {
        "batch": int(batch.shape[0]),
        "images_per_s": float(batch.shape[0] / np.median(lat)),
        "p50_ms": float(np.percentile(lat, 50) * 1e3),
        "p99_ms": float(np.percentile(lat, 99) * 1e3),
        "calls": len(times),
    }


def _decoded(files: list[Path], spec) -> Any:

    from synthsight.errors import DecodeError
    from synthsight.image.preprocess import load_image, stack_inputs

    pixels = []
    for path in files:
        try:
            pixels.append(load_image(path, spec))
        except DecodeError:
            continue
    if not pixels:
        from synthsight.errors import UsageError

        raise UsageError("none of the benchmark images could be decoded")
    return stack_inputs(pixels)


def decode_rates(by_class: dict[str, list[Path]], spec, workers: int | None) -> dict[str, Any]:
    """Images/s of the scanner's decode pool (decode + resize + hash into shared memory) per size class."""
    import time

    from synthsight.scanner.pool import DecodePool, plan_cores
    from synthsight.scanner.walk import Walker
    from synthsight.scanner.worker import ReadOptions

    def run(files: list[Path]) -> float:
        t0 = time.perf_counter()  # worker start-up included (a scan pays it too); the forkserver is warm
        with DecodePool(iter(Walker([str(p) for p in files])), ReadOptions(spec), 32, n) as pool:
            for batch in pool:
                pool.release(batch)
        return time.perf_counter() - t0

    n = plan_cores(workers).cpu_workers
    run([next(iter(by_class.values()))[0]])  # starts the forkserver once
    rates = {name: {"images": len(g), "images_per_s": len(g) / run(g)} for name, g in by_class.items()}
    return {"workers": n, "classes": rates}


def scan_rate(files: list[Path], model: Path, workers: int | None, tmp: Path) -> dict[str, Any]:
    """Wall-clock images/s of a whole ``synthsight scan`` (walk, decode pool, inference, CSV)."""
    import time

    from synthsight.scanner import scan

    options = {"quiet": True} if workers is None else {"quiet": True, "workers": workers}
    out = tmp / "bench-scan.csv"
    t0 = time.perf_counter()
    scan([str(p) for p in files], str(model), [str(out)], **options)
    seconds = time.perf_counter() - t0
    return {"images": len(files), "seconds": seconds, "images_per_s": len(files) / seconds, "workers": workers}
