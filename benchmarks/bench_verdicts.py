"""What calibrated verdicts and `scan --stability K` cost, against the plain scan in the same run.

    python benchmarks/bench_verdicts.py [--quick] [--json FILE]

1. Scan throughput of the same exported model with and without a calibration in its metadata (the
   calibrated scan applies the temperature and judges by two thresholds and a stratum), run alternately,
   medians (the issue asks >= 0.98).
2. Decode time per file, as a decode worker spends it (``read_file``: hash, decode, preprocess), with the
   stability views made from the one decode (``--stability 0`` vs ``2``, ``4`` and ``5``, interleaved per file),
   medians, and the ratio (the issue asks at most 1.10), for the default 224 px input and the bench model's
   64 px, on photo-like JPEGs of 0.3, 2 and 12 megapixels and on the real photographs of the shared
   realworld corpus (where it exists): the views cost about the same whatever the file, the decode grows
   with it. And how hard each view re-encodes (median PSNR of its model input against the file's own).
3. Scan throughput with ``--stability 0, 2, 4`` and the model inputs run per image (counted at the
   backend): K + 1 by design.

Scans: 2-megapixel photo-like JPEGs (decode-bound with the tiny model: convnext_atto at 64 px, random
weights, which is what makes the cost of the verdict rule and of the views visible; figures of what the
views do to a trained model's verdicts are in the tests and docs/verdicts.md).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REALWORLD, REPO, emit, jpeg_set, log, machine, machine_line, parser, table  # noqa: E402

sys.path.insert(0, str(REPO / "tests"))  # the one hand-made calibration the scan tests use
from scanner_support import calibrated_copy  # noqa: E402

from synthsight.artifacts import EXPORT_NAMES  # noqa: E402


def tiny_model(folder: Path) -> Path:
    import torch

    from synthsight.export.onnx import export_onnx
    from synthsight.image.preprocess import PreprocessSpec
    from synthsight.model import build, save_bundle
    from synthsight.spec import ModelSpec

    spec = ModelSpec(arch="convnext_atto", preprocess=PreprocessSpec(size=64))
    torch.manual_seed(0)
    model = build(spec, "random").eval()
    return export_onnx(model, spec, save_bundle(model, spec, folder / "bundle") / EXPORT_NAMES["onnx"])


# The default model's input (convnext at 224 px) and the bench model's: the views are made of the model input,
# so their cost grows with it, and the decode with the file.
DECODE_SIZES = (224, 64)
DECODE_KS = (0, 2, 4, 5)


def alternate(one, sides: tuple, repeats: int) -> dict:
    """Median of ``one(side)`` per side, the sides run in alternating order so drift hits all alike."""
    got: dict = {s: [] for s in sides}
    for i in range(repeats):
        for side in sides if i % 2 == 0 else tuple(reversed(sides)):
            got[side].append(one(side))
    return {s: statistics.median(v) for s, v in got.items()}


def calibrated_cost(files: list[str], onnx: Path, tmp: Path, repeats: int) -> dict:
    from synthsight.runtime import open_backend
    from synthsight.scanner import scan

    scores = list(open_backend(str(onnx)).scores(_pixels(files[:8], onnx)))
    calibrated = calibrated_copy(onnx, tmp / "calibrated.onnx", scores)
    models = {"raw": str(onnx), "calibrated": str(calibrated)}

    def one(kind: str) -> float:
        summary = scan(files, models[kind], [tmp / f"{kind}.csv"], overwrite=True, quiet=True, provenance=False)
        return summary.images / summary.seconds

    one("raw"), one("calibrated")  # warm: fork server, page cache
    rates = alternate(one, ("raw", "calibrated"), repeats)
    return {**rates, "ratio": rates["calibrated"] / rates["raw"]}


def _pixels(files: list[str], onnx: Path):
    import numpy as np

    from synthsight.image.preprocess import load_image
    from synthsight.runtime import open_backend

    spec = open_backend(str(onnx)).preprocess
    return np.stack([load_image(f, spec) for f in files])


def decode_cost(files: list[str], repeats: int, size: int) -> dict[int, float]:
    """Median over ``repeats`` passes of ms per file of a decode worker's ``read_file`` with K views (DECODE_KS), for a
    model input of ``size`` px. Each file is read with every K in turn, the order alternating, so that the load of a
    shared machine falls alike on all K."""
    from synthsight.image.preprocess import PreprocessSpec
    from synthsight.scanner.worker import ReadOptions, read_file

    options = {k: ReadOptions(PreprocessSpec(size=size), provenance=None, views=k) for k in DECODE_KS}
    for k in DECODE_KS:
        read_file(files[0], options[k])  # warm: Pillow's plugins
    passes = {k: [0.0] * repeats for k in DECODE_KS}
    for rep in range(repeats):
        for i, f in enumerate(files):
            for k in DECODE_KS if (rep + i) % 2 == 0 else reversed(DECODE_KS):
                t0 = time.perf_counter()
                meta, pixels = read_file(f, options[k])
                passes[k][rep] += time.perf_counter() - t0
                assert not meta.error and pixels is not None and (pixels.ndim == 3 if k == 0 else len(pixels) == 1 + k)
    return {k: 1000 * statistics.median(t) / len(files) for k, t in passes.items()}


def decode_sets(cache: Path, quick: bool) -> dict[str, list[str]]:
    """The files the decode cost is measured on: photo-like JPEGs of three sizes, and the realworld photographs."""
    n = 4 if quick else 24
    sets = {f"{c} JPEG ({w}x{h})": [str(p) for p in jpeg_set(cache, c, n if c != "12MP" else max(2, n // 2))]
            for c, (w, h) in (("0.3MP", (640, 480)), ("2MP", (1632, 1224)), ("12MP", (4000, 3000)))}  # fmt: skip
    real = sorted(p for p in (REALWORLD / "real").rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    if real:
        sets[f"realworld real photos ({len(real[: n * 8])}, JPEG)"] = [str(p) for p in real[: n * 8]]
    else:
        log(f"{REALWORLD} absent: the realworld row is left out")
    return sets


def view_psnr(files: list[str], size: int) -> dict[str, float]:
    """Median PSNR (dB) of each view's model input against the file's own: how hard each view re-encodes."""
    import numpy as np

    from synthsight.image.preprocess import PreprocessSpec, decode
    from synthsight.image.views import VIEWS

    per_file = []
    for f in files:
        pixels = decode(f, PreprocessSpec(size=size), views=len(VIEWS)).pixels.astype(np.float64)
        mse = ((pixels[1:] - pixels[0]) ** 2).mean(axis=(1, 2, 3))
        per_file.append(10 * np.log10(255**2 / np.maximum(mse, 1e-12)))
    medians = np.median(np.stack(per_file), axis=0)
    return {v.name: float(m) for v, m in zip(VIEWS, medians, strict=True)}


def decode_table(decode: dict) -> str:
    rows = []
    for name, by_size in decode.items():
        for size, ms in by_size.items():
            rows.append((name, size, ms[0], ms[4], *(ms[k] / ms[0] for k in DECODE_KS[1:])))
    return table(["files", "model input px", "decode ms/file, no views", "with 4 views",
                  *(f"{k} views vs none" for k in DECODE_KS[1:])], rows)  # fmt: skip


def stability_cost(files: list[str], onnx: Path, tmp: Path, repeats: int, ks: tuple[int, ...]) -> dict:
    from synthsight.runtime import open_backend
    from synthsight.scanner import scan

    backend = open_backend(str(onnx))
    rows = {"n": 0}
    infer = backend.infer

    def counting(pixels):
        rows["n"] += len(pixels)
        return infer(pixels)

    backend.infer = counting
    result: dict = {}

    def one(k: int) -> float:
        rows["n"] = 0
        summary = scan(files, backend, [tmp / f"s{k}.csv"], overwrite=True, quiet=True, provenance=False, stability=k)
        result.setdefault(k, {})["inputs_per_image"] = rows["n"] / summary.images
        return summary.images / summary.seconds

    for k in ks:
        one(k)  # warm
    rates = alternate(one, ks, repeats)
    for k in ks:
        result[k]["images_per_s"] = rates[k]
        result[k]["vs_off"] = rates[k] / rates[ks[0]]
    return result


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    n, repeats = (6, 2) if args.quick else (48, 5)
    info = machine()
    files = [str(p) for p in jpeg_set(args.cache, "2MP", n)]
    with tempfile.TemporaryDirectory(prefix="bench-verdicts-") as tmp:
        tmp = Path(tmp)
        onnx = tiny_model(tmp)
        log("scan throughput, calibrated vs not")
        calibrated = calibrated_cost(files, onnx, tmp, repeats)
        log("decode time per file with the stability views")
        sets = decode_sets(args.cache, args.quick)
        passes = repeats if args.quick else 7  # the views' few milliseconds against the load of a shared machine
        decode = {name: {size: decode_cost(fs, passes, size) for size in DECODE_SIZES}
                  for name, fs in sets.items()}  # fmt: skip
        psnr = {name: view_psnr(fs, DECODE_SIZES[0]) for name, fs in sets.items()}
        log("scan throughput with --stability 0, 2, 4")
        stability = stability_cost(files, onnx, tmp, repeats, (0, 2, 4))
    body = "\n\n".join([
        f"{n} photo-like 2 MP JPEGs, convnext_atto at 64 px (random weights), ONNX Runtime, `--no-provenance`; "
        f"medians of {repeats} alternating runs.",
        table(["scan", "images/s", "vs uncalibrated"], [
            ("uncalibrated", calibrated["raw"], 1.0),
            ("calibrated (temperature, two thresholds)", calibrated["calibrated"], calibrated["ratio"]),
        ]),
        f"Decode time per file (`read_file`: hash, decode, preprocess, the views), medians of {passes} passes, each "
        "file read with every number of views in turn, the order alternating:",
        decode_table(decode),
        f"How hard each view re-encodes: median PSNR (dB) of its {DECODE_SIZES[0]} px model input against the file's "
        "own (higher: closer to the clean input):",
        table(["files", *psnr[next(iter(psnr))]], [(name, *p.values()) for name, p in psnr.items()]),
        table(["--stability", "images/s", "vs off", "model inputs per image"],
              [(k, r["images_per_s"], r["vs_off"], r["inputs_per_image"]) for k, r in stability.items()]),
        f"Machine: {machine_line(info)}",
    ])  # fmt: skip
    data = {"calibrated": calibrated, "decode_ms": decode, "view_psnr_db": psnr, "stability": stability}
    emit(body, {**data, "machine": info}, args.json)


if __name__ == "__main__":
    main()
