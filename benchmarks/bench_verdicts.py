"""What calibrated verdicts and `scan --stability K` cost, against the plain scan in the same run.

    python benchmarks/bench_verdicts.py [--quick] [--json FILE]

1. Scan throughput of the same exported model with and without a calibration in its metadata (the
   calibrated scan applies the temperature and judges by two thresholds and a stratum), run alternately,
   medians (the issue asks >= 0.98).
2. Decode time per file, as a decode worker spends it (``read_file``: hash, decode, preprocess), with the
   stability views made from the one decode (``--stability 0`` vs ``2``, ``4`` and ``5``), medians, and
   the ratio (the issue asks at most 1.10 for the views' share of the decode).
3. Scan throughput with ``--stability 0, 2, 4`` and the model inputs run per image (counted at the
   backend): K + 1 by design.

Files: 2-megapixel photo-like JPEGs (decode-bound with the tiny model: convnext_atto at 64 px, random
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
from common import REPO, emit, jpeg_set, log, machine, machine_line, parser, table  # noqa: E402

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


# The bench model's input, and the default model's (convnext at 224 px): the views are made at twice the input,
# so their cost against the decode grows with it.
DECODE_SIZES = (64, 224)


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


def decode_cost(files: list[str], repeats: int, ks: tuple[int, ...], size: int) -> dict[int, float]:
    """Median ms per file of a decode worker's ``read_file`` with K views, for a model input of ``size`` px."""
    from synthsight.image.preprocess import PreprocessSpec
    from synthsight.scanner.worker import ReadOptions, read_file

    spec = PreprocessSpec(size=size)
    out = {}
    for k in ks:
        options = ReadOptions(spec, provenance=None, views=k)
        read_file(files[0], options)  # warm
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for f in files:
                meta, pixels = read_file(f, options)
                assert not meta.error and pixels is not None and (pixels.ndim == 3 if k == 0 else len(pixels) == 1 + k)
            times.append((time.perf_counter() - t0) / len(files))
        out[k] = 1000 * statistics.median(times)
    return out


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
        decode = {size: decode_cost(files, repeats, (0, 2, 4, 5), size) for size in DECODE_SIZES}
        log("scan throughput with --stability 0, 2, 4")
        stability = stability_cost(files, onnx, tmp, repeats, (0, 2, 4))
    body = "\n\n".join([
        f"{n} photo-like 2 MP JPEGs, convnext_atto at 64 px (random weights), ONNX Runtime, `--no-provenance`; "
        f"medians of {repeats} alternating runs.",
        table(["scan", "images/s", "vs uncalibrated"], [
            ("uncalibrated", calibrated["raw"], 1.0),
            ("calibrated (temperature, two thresholds)", calibrated["calibrated"], calibrated["ratio"]),
        ]),
        table(["views made per file", *(f"decode ms/file at {s} px" for s in DECODE_SIZES),
               *(f"vs no views at {s} px" for s in DECODE_SIZES)],
              [(k, *(decode[s][k] for s in DECODE_SIZES), *(decode[s][k] / decode[s][0] for s in DECODE_SIZES))
               for k in decode[DECODE_SIZES[0]]]),
        table(["--stability", "images/s", "vs off", "model inputs per image"],
              [(k, r["images_per_s"], r["vs_off"], r["inputs_per_image"]) for k, r in stability.items()]),
        f"Machine: {machine_line(info)}",
    ])  # fmt: skip
    emit(body, {"calibrated": calibrated, "decode_ms": decode, "stability": stability, "machine": info}, args.json)


if __name__ == "__main__":
    main()
