"""`synthsight bench`: how fast this machine scans with a given model.

For each backend / device / precision that can run here: images/s and latency p50 / p99 per
batch size (warm-up excluded; images/s from the median latency of repeated calls); decode-pool
images/s by image size class; end-to-end scan images/s; and the machine it ran on.
Only click is imported at module level (the CLI must start fast).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click

from synthsight.options import model_option

# name -> (width, height, format): camera-like 4:3 JPEGs plus the 512x512 PNGs of generator outputs
SYNTHETIC_CLASSES = {
    "JPEG 0.3MP": (640, 480, "JPEG"),
    "JPEG 2MP": (1632, 1224, "JPEG"),
    "JPEG 12MP": (4000, 3000, "JPEG"),
    "PNG 512px": (512, 512, "PNG"),
}
UNIQUE_PER_CLASS = 4  # generating a 12 MP picture takes ~1 s: make a few, copy the rest


@dataclass
class BenchConfig:
    model: Path
    backends: tuple[str, ...] = ()  # empty: every backend that can run this model here
    batch_sizes: tuple[int, ...] = (1, 8, 32)
    images: Path | None = None
    synthetic: int = 32
    seconds: float = 2.0
    workers: int | None = None
    decode: bool = True
    scan: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


@click.command("bench")
@model_option
@click.option(
    "--backends", default="", help="Comma list of torch, onnxruntime, openvino, tensorrt (default: all that run here)."
)
@click.option("--batch-sizes", default="1,8,32", show_default=True, help="Comma list of batch sizes.")
@click.option("--images", type=click.Path(exists=True, file_okay=False, path_type=Path), help="Benchmark on these.")
@click.option(
    "--synthetic",
    type=click.IntRange(4, 100_000),
    default=32,
    show_default=True,
    help="Without --images: this many generated photo-like images (JPEG 0.3/2/12 MP, PNG 512 px).",
)
@click.option(
    "--seconds",
    type=click.FloatRange(0.01),
    default=2.0,
    show_default=True,
    help="Time spent per backend and batch size (after warm-up).",
)
@click.option("--workers", type=click.IntRange(0), default=None, help="Decode processes (default: the scanner's).")
@click.option("--no-decode", is_flag=True, help="Skip the decode-pool measurement.")
@click.option("--no-scan", is_flag=True, help="Skip the end-to-end scan measurement.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Also write JSON here.")
def bench(model, backends, batch_sizes, images, synthetic, seconds, workers, no_decode, no_scan, json_path) -> None:
    """Images/s and latency of every backend that can run MODEL here, decode and end-to-end scan speed."""
    from synthsight.errors import UsageError

    try:
        sizes = tuple(int(b) for b in batch_sizes.split(",") if b.strip())
    except ValueError:
        raise UsageError(f"--batch-sizes must be integers separated by commas, got {batch_sizes!r}") from None
    if not sizes or min(sizes) < 1:
        raise UsageError("--batch-sizes needs at least one batch size >= 1")
    wanted = tuple(b.strip() for b in backends.split(",") if b.strip())
    from synthsight.runtime import BACKENDS

    if set(wanted) - set(BACKENDS):
        raise UsageError(f"--backends takes a comma list of {', '.join(BACKENDS)}, got {backends!r}")
    config = BenchConfig(Path(model), wanted, sizes, images, synthetic, seconds, workers, not no_decode, not no_scan)
    result = run_bench(config, progress=lambda msg: click.echo(msg, err=True))
    click.echo(format_result(result))
    if json_path:
        json_path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
        click.echo(f"JSON written to {json_path}")


def run_bench(config: BenchConfig, progress=lambda msg: None) -> dict[str, Any]:
    """Run every measurement of ``config``; returns a JSON-ready dict (see :func:`format_result`)."""
    import tempfile

    from synthsight.errors import UsageError

    result: dict[str, Any] = {"machine": machine_info(), "config": asdict(config), "model": str(config.model)}
    with tempfile.TemporaryDirectory(prefix="synthsight-bench-") as tmp:
        by_class = _classify(config.images) if config.images else synthetic_set(Path(tmp) / "images", config.synthetic)
        files = [p for group in by_class.values() for p in group]
        if not files:
            raise UsageError(f"no images found in {config.images}")
        targets = backend_targets(config.model, config.backends)
        if not targets:
            raise UsageError(
                f"no backend can run {config.model} here (asked for: {','.join(config.backends) or 'any'})"
            )
        spec = None
        result["backends"] = []
        for target in targets:
            progress(f"bench: {target['backend']} {target['device']} {target['precision']} ({target['path']})")
            row, spec = time_backend(target, files, config, spec)
            result["backends"].append(row)
        if config.decode and spec is not None:
            progress("bench: decode pool")
            result["decode"] = decode_rates(by_class, spec, config.workers)
        from synthsight.scanner.bench_cpu import auto_choice

        progress("bench: what --precision auto picks")
        result["auto"] = auto_choice(config.model, config.workers)
        if config.scan:
            progress("bench: end-to-end scan")
            result["scan"] = scan_rate(files, config.model, config.workers, Path(tmp))
    return result


# ---- backends ---------------------------------------------------------------------------------------


def backend_targets(model: Path, wanted: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """(path, backend, device, precision) for every way this machine may run ``model`` and its siblings.

    A bundle directory brings PyTorch rows and any ``*.onnx`` / ``*.engine`` inside it; an ``.onnx`` or
    ``.engine`` file brings its siblings and the bundle it sits in (``model.json`` beside it).
    """
    model = Path(model)
    folder = model if model.is_dir() else model.parent
    bundle = folder if (folder / "model.json").exists() and (folder / "model.safetensors").exists() else None
    if model.suffix == ".safetensors":
        bundle = model
    onnx = sorted({model} if model.suffix == ".onnx" else set()) + sorted(
        p for p in folder.glob("*.onnx") if p != model
    )
    engines = sorted(folder.glob("*.engine"))
    cuda = _cuda_available()
    out = []
    if bundle is not None:
        out += [(bundle, "torch", "cpu", "fp32"), (bundle, "torch", "cpu", "bf16")]
        out += [(bundle, "torch", "cuda", "fp16")] if cuda else []
    from synthsight.scanner.bench_cpu import cpu_rows

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


def time_backend(target: dict[str, str], files: list[Path], config: BenchConfig, spec) -> tuple[dict, Any]:
    """Latency per batch size of one backend; a backend that cannot open here is reported, not fatal."""
    import numpy as np

    from synthsight.errors import SynthsightError
    from synthsight.runtime import open_backend
    from synthsight.scanner.bench_cpu import certificate_cell

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
        spec = backend.spec
        pool = _decoded(files[: max(config.batch_sizes)], spec)
        row["batches"] = []
        for batch_size in config.batch_sizes:
            batch = np.ascontiguousarray(np.resize(pool, (batch_size, *pool.shape[1:])))
            row["batches"].append(measure_latency(backend.infer, batch, config.seconds))
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
    import numpy as np

    from synthsight.errors import DecodeError
    from synthsight.preprocess import load_image

    pixels = []
    for path in files:
        try:
            pixels.append(load_image(path, spec))
        except DecodeError:
            continue
    if not pixels:
        from synthsight.errors import UsageError

        raise UsageError("none of the benchmark images could be decoded")
    return np.stack(pixels)


# ---- decode and scan ----------------------------------------------------------------------------------


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


# ---- inputs ---------------------------------------------------------------------------------------


def synthetic_set(folder: Path, n: int) -> dict[str, list[Path]]:
    """``n`` generated photo-like images spread over SYNTHETIC_CLASSES (a few unique ones, copied)."""
    import shutil

    per_class = max(1, n // len(SYNTHETIC_CLASSES))
    out: dict[str, list[Path]] = {}
    for c, (name, (w, h, fmt)) in enumerate(SYNTHETIC_CLASSES.items()):
        sub = folder / name.replace(" ", "_")
        sub.mkdir(parents=True, exist_ok=True)
        suffix = ".jpg" if fmt == "JPEG" else ".png"
        paths = []
        for i in range(per_class):
            path = sub / f"{i:05d}{suffix}"
            if i < UNIQUE_PER_CLASS:
                save_photo_like(path, w, h, seed=1000 * c + i)
            else:
                shutil.copyfile(paths[i % UNIQUE_PER_CLASS], path)
            paths.append(path)
        out[name] = paths
    return out


def save_photo_like(path: Path, width: int, height: int, seed: int, quality: int = 90) -> Path:
    im = photo_like(width, height, seed)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        im.save(path, "JPEG", quality=quality)
    else:
        im.save(path, "PNG", compress_level=1)
    return path


def photo_like(width: int, height: int, seed: int):
    """Smooth gradients, blurred shapes with edges, mid-frequency texture and sensor grain.

    Not a photograph, but close enough in spectrum that JPEG size, decode cost and the effect of DCT
    scaling behave as on camera pictures (flat noise or flat colour would not).
    """
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(seed)
    im = Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)).resize((width, height), Image.BICUBIC)
    draw, scale = ImageDraw.Draw(im), max(width, height)
    for _ in range(24):
        x, y, r = rng.integers(0, width), rng.integers(0, height), int(rng.integers(scale // 40, scale // 6))
        box = (x - r, y - r // 2, x + r, y + r // 2)
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(
            box, fill=tuple(int(v) for v in rng.integers(0, 256, 3))
        )
    im = im.filter(ImageFilter.GaussianBlur(radius=max(1, scale // 800)))
    # Mid-frequency texture (foliage, fabric) made at a quarter of the size, then fine grain at full size.
    tex = np.clip(rng.normal(128, 18, (max(1, height // 4), max(1, width // 4))), 0, 255).astype(np.uint8)
    tex_full = np.asarray(Image.fromarray(tex).resize((width, height), Image.BILINEAR), dtype=np.int16)
    arr = np.asarray(im, dtype=np.int16) + tex_full[:, :, None] - 128
    arr += rng.integers(-6, 7, (height, width, 1), dtype=np.int16)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _classify(folder: Path) -> dict[str, list[Path]]:
    """Group a user's images by format and size class (read from headers only)."""
    from PIL import Image

    from synthsight.formats import IMAGE_EXTENSIONS

    out: dict[str, list[Path]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()):
        try:
            with Image.open(path) as im:
                mp = im.size[0] * im.size[1] / 1e6
                fmt = im.format or "other"
        except Exception:
            continue  # the scan itself reports bad files; a benchmark just leaves them out
        size = "<1MP" if mp < 1 else "1-5MP" if mp < 5 else ">=5MP"
        out.setdefault(f"{fmt} {size}", []).append(path)
    return out


# ---- machine --------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    """CPU, cores, memory, GPU and driver, library versions and the load when measured."""
    import os
    import platform
    from datetime import datetime, timezone

    import psutil

    from synthsight.runtime.base import usable_cores

    versions = {name: _version(name) for name in _PACKAGES}
    gpu = _gpu()
    shown = [f"{name} {v}" for name, v in versions.items() if v and name != "synthsight"]
    shown += [
        f"{name} absent"
        for name in ("onnxruntime", "tensorrt")
        if not versions.get(name) and not versions.get(f"{name}-gpu")
    ]
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "gpu": gpu.get("name"),
        "gpu_driver": gpu.get("driver"),
        "gpu_memory": gpu.get("memory"),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "versions_line": ", ".join(shown),
        "load_average": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


_PACKAGES = ("synthsight", "torch", "onnxruntime", "onnxruntime-gpu", "tensorrt", "timm", "pillow", "numpy")


def _version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _cpu_model() -> str:
    import platform

    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpu() -> dict[str, str]:
    """First NVIDIA GPU from nvidia-smi (no CUDA import needed); empty when there is none."""
    import shutil
    import subprocess

    smi = shutil.which("nvidia-smi")
    if not smi:
        return {}
    try:
        line = (
            subprocess.run(
                [smi, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=20,
                check=True,
            )
            .stdout.strip()
            .splitlines()[0]
        )
    except (subprocess.SubprocessError, OSError, IndexError):
        return {}
    name, driver, memory = (part.strip() for part in (line.split(",") + ["", ""])[:3])
    return {"name": name, "driver": driver, "memory": memory}


def _cuda_available() -> bool:
    if not _gpu():
        return False
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


# ---- output ----------------------------------------------------------------------------------------


def format_result(result: dict[str, Any]) -> str:
    """Plain-text tables for the terminal."""
    m = result["machine"]
    lines = [
        f"machine: {m['cpu']} ({m['cores']} cores), {m['memory_gib']} GiB, {m['gpu'] or 'no GPU'}"
        + (f" (driver {m['gpu_driver']})" if m.get("gpu_driver") else ""),
        f"software: {m['versions_line']}; load average {m['load_average']}",
        f"model: {result['model']}",
        "",
    ]
    rows = [("backend", "device", "precision", "batch", "images/s", "p50 ms", "p99 ms", "certificate vs fp32")]
    for b in result.get("backends", []):
        if "skipped" in b:
            lines.append(f"skipped {b['backend']} {b['device']} {b['precision']}: {b['skipped']}")
            continue
        for r in b["batches"]:
            rows.append(
                (
                    b["backend"],
                    b["device"],
                    b["precision"],
                    str(r["batch"]),
                    f"{r['images_per_s']:.1f}",
                    f"{r['p50_ms']:.1f}",
                    f"{r['p99_ms']:.1f}",
                    b.get("certificate") or "",
                )
            )
    lines += _columns(rows)
    auto = result.get("auto")
    if auto:
        cpu = auto.get("cpu") or {}
        lines += ["", f"--precision auto picks {auto['chosen'] or 'nothing'}: {auto['why']}"]
        if cpu:
            lines.append(f"  CPU {cpu['model']}; flags {', '.join(cpu['flags']) or '-'}; native: "
                         f"{', '.join(cpu['native']) or 'fp32 only'}")  # fmt: skip
    if "decode" in result:
        d = result["decode"]
        lines += ["", f"decode + resize, {d['workers']} processes"]
        lines += _columns(
            [("images", "n", "images/s")]
            + [(name, str(c["images"]), f"{c['images_per_s']:.1f}") for name, c in d["classes"].items()]
        )
    if "scan" in result:
        s = result["scan"]
        lines += [
            "",
            f"end-to-end scan: {s['images']} images in {s['seconds']:.1f} s = {s['images_per_s']:.1f} images/s",
        ]
    return "\n".join(lines)


def _columns(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths, strict=True)))
        for r in rows
    ]
