"""Helpers shared by the benchmark scripts: arguments, timing, photo-like test images, tables, output.

Every script prints its markdown section on stdout (progress goes to stderr) so that
``run_all.py`` can paste it into RESULTS.md, and writes its raw figures as JSON on request.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
CACHE = BENCH_DIR / ".cache"  # gitignored; generated corpora are reused between runs
REALWORLD = REPO.parent / "shared" / "corpora" / "realworld"  # the shared real-world corpus, where it exists

if str(REPO) not in sys.path:  # the scripts run as `python benchmarks/x.py` from a checkout
    sys.path.insert(0, str(REPO))


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--quick", action="store_true", help="tiny sizes and few repeats: checks the script, not the machine"
    )
    p.add_argument("--json", type=Path, help="also write the raw figures to this JSON file")
    p.add_argument("--cache", type=Path, default=CACHE, help="where generated test images are kept")
    return p


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def median_rate(run: Callable[[], int], repeats: int, warmup: int = 1) -> float:
    """Median over ``repeats`` of items/s, where ``run()`` returns how many items it processed."""
    for _ in range(warmup):
        run()
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        n = run()
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table; floats are shown with 3 significant digits."""

    def cell(v: object) -> str:
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> dict:
    from synthsight.bench.machine import machine_info

    return machine_info()


def machine_line(info: dict | None = None) -> str:
    info = info or machine()
    gpu = info.get("gpu") or "no GPU"
    return f"{info['cpu']} ({info['cores']} cores), {info['memory_gib']} GiB, {gpu}; {info['versions_line']}"


def emit(markdown: str, data: dict, json_path: Path | None) -> None:
    print(markdown.rstrip() + "\n", flush=True)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")


# ---- photo-like content -------------------------------------------------------------------------


def ensure_image(path: Path, width: int, height: int, seed: int, quality: int = 90) -> Path:
    """Generate a photo-like ``path`` (JPEG or PNG by suffix) once; later runs reuse it."""
    from synthsight.bench.images import save_photo_like

    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    save_photo_like(tmp, width, height, seed, quality)
    tmp.replace(path)
    return path


# size class name -> (width, height); 4:3 like camera pictures
SIZE_CLASSES = {"0.3MP": (640, 480), "2MP": (1632, 1224), "12MP": (4000, 3000)}


def jpeg_set(cache: Path, size_class: str, n: int) -> list[Path]:
    w, h = SIZE_CLASSES[size_class]
    return [ensure_image(cache / "jpeg" / size_class / f"{i:04d}.jpg", w, h, seed=1000 * w + i) for i in range(n)]


def mixed_corpus(cache: Path, n: int) -> list[Path]:
    """Half 12-megapixel JPEG photos, half 512x512 PNG (the corpus of the scanner issue), interleaved."""
    jpgs = jpeg_set(cache, "12MP", (n + 1) // 2)
    pngs = [ensure_image(cache / "png512" / f"{i:04d}.png", 512, 512, seed=77 + i) for i in range(n // 2)]
    out: list[Path] = []
    for i in range(max(len(jpgs), len(pngs))):
        out += jpgs[i : i + 1] + pngs[i : i + 1]
    return out


def random_model(bundle: Path, arch: str, size: int, onnx: Path | None = None) -> tuple[Path, Path | None]:
    """A seeded random-init bundle of ``arch`` at ``size`` px in ``bundle`` and, when ``onnx`` is given, its FP32 ONNX
    export there (synthsight's own exporter, from the bundle as saved): the same files every run, for plumbing and
    speed, never for accuracy. The one "random model -> bundle -> ONNX" of the benchmarks."""
    import torch

    from synthsight.export.onnx import export_onnx
    from synthsight.model import build, load_bundle, save_bundle
    from synthsight.spec import ModelSpec, PreprocessSpec

    torch.manual_seed(0)
    spec = ModelSpec(arch=arch, preprocess=PreprocessSpec(size=size))
    bundle = save_bundle(build(spec, "random").eval(), spec, bundle)
    if onnx is None:
        return bundle, None
    model, spec = load_bundle(bundle)
    return bundle, export_onnx(model, spec, onnx)
