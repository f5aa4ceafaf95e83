"""Native-resolution tiles (issue 22): what a tiles scan costs against squash, and the defaults chosen by it.

    python benchmarks/bench_tiles.py [--quick] [--json FILE] [--part cost,policy] [--model BUNDLE] [--n N]

cost: decode time per image (Pillow, one core) of squash (JPEG DCT scaling) and tiles (the full decode, then
  the windows) on the mixed corpus (half 12 MP JPEG, half 512 x 512 PNG), and a whole ``synthsight scan``
  (1 decode worker, ONNX Runtime, random-init convnext_atto at 224 px: squash vs 9 grid tiles), images/s.
policy: a convnext_atto at 64 px trained by ``train --resize tiles`` on ``synth --size 256`` (cached), then
  scored on held-out 512 x 512 synthetic images by every tile count N, placement (grid, texture) and
  aggregate (mean, max, top2, top3): AUROC and accuracy at p = 0.5 (ONNX Runtime fp32, one thread). Two
  held-out sets: "whole" (the fingerprint everywhere in an ai image) and "partial" (each image is a composite
  of two renders; in an ai image only a 128 x 128 patch carries the fingerprint, as after inpainting; the
  patch's seam is in both classes). Synthetic data says how the
  rules behave on a trace of known place and strength, not how they do on any real generator.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, log, machine, machine_line, mixed_corpus, parser, table  # noqa: E402

from synthsight.artifacts import EXPORT_NAMES  # noqa: E402
from synthsight.image.preprocess import decode  # noqa: E402
from synthsight.spec import PreprocessSpec  # noqa: E402

COUNTS = (1, 4, 9, 16)
RULES = ("mean", "max", "top2", "top3")
PATCH = 128


def decode_cost(paths: list[Path], repeats: int) -> list[list[object]]:
    """Median ms per image to decode each kind of file, squash (224, DCT-scaled) vs tiles (9 windows of 224)."""
    rows = []
    specs = {"squash": PreprocessSpec(size=224), "tiles grid": PreprocessSpec(size=224, resize="tiles"),
             "tiles texture": PreprocessSpec(size=224, resize="tiles", tile_placement="texture")}  # fmt: skip
    for kind, suffix in (("12 MP JPEG", ".jpg"), ("512² PNG", ".png")):
        files = [p for p in paths if p.suffix == suffix]
        ms = {}
        for name, spec in specs.items():
            decode(files[0], spec)  # warm
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                for f in files:
                    decode(f, spec)
                times.append((time.perf_counter() - t0) * 1000 / len(files))
            ms[name] = statistics.median(times)
        rows.append([kind, ms["squash"], ms["tiles grid"], ms["tiles texture"], ms["tiles grid"] / ms["squash"]])
    return rows


def scan_cost(paths: list[Path], work: Path, repeats: int) -> list[list[object]]:
    """images/s of a whole scan with a squash and a tiles model (same network, random init)."""
    import torch

    from synthsight.export.onnx import export_onnx
    from synthsight.model import build
    from synthsight.scanner import scan
    from synthsight.spec import ModelSpec

    folder = work / "mixed"
    folder.mkdir(parents=True, exist_ok=True)
    for p in paths:
        link = folder / f"{p.parent.name}-{p.name}"
        if not link.exists():
            link.symlink_to(p)
    rates = {}
    for name, pre in (("squash", PreprocessSpec(size=224)), ("tiles", PreprocessSpec(size=224, resize="tiles"))):
        spec = ModelSpec(arch="convnext_atto", preprocess=pre)
        torch.manual_seed(0)
        onnx = export_onnx(build(spec, "random").eval(), spec, work / f"{name}.onnx")
        runs = []
        for k in range(repeats + 1):
            t0 = time.perf_counter()
            scan([str(folder)], str(onnx), [work / f"{name}{k}.csv"], workers=1, batch_size=16, quiet=True,
                 overwrite=True, follow_symlinks=True, backend="onnxruntime", precision="fp32")  # fmt: skip
            runs.append(len(paths) / (time.perf_counter() - t0))
        rates[name] = statistics.median(runs[1:])  # the first run warms the caches
    return [[rates["squash"], rates["tiles"], rates["squash"] / rates["tiles"]]]


def trained_model(cache: Path, quick: bool) -> Path:
    """The tiles model of issue 22's acceptance (synth 256, input 64), trained once and cached."""
    from synthsight.train.loop import TrainConfig, fit
    from synthsight.train.synthetic import make_synthetic

    out = cache / ("tiles-model-quick" if quick else "tiles-model")
    if (out / "model.json").exists():
        return out
    data = make_synthetic(cache / "syn256", n=96 if quick else 320, size=256, seed=0)
    log(f"training {out.name} (train --resize tiles on synth --size 256)")
    config = TrainConfig(data=str(data), out=str(out), arch="convnext_atto", size=64, resize="tiles", init="random",
                         epochs=2 if quick else 6, batch_size=32, lr=5e-4, patience=2, seed=0, workers=0,
                         progress=False)  # fmt: skip
    return fit(config)


def held_out(n: int, partial: bool, seed: int) -> tuple[list[Image.Image], np.ndarray]:
    """``n`` 512 x 512 images per class (JPEG q95 / PNG alternating, as in the training set) and labels (1: ai)."""
    import io

    from synthsight.train.synthetic import JPEG_QUALITY, render

    rng = np.random.default_rng(seed)
    images, labels = [], []
    for i in range(2 * n):
        fake = i % 2 == 0
        base = render(rng, 512, fake=fake and not partial)
        if partial:  # a composite in both classes; only the ai one's patch carries the trace
            x, y = (8 * int(v) for v in rng.integers(0, (512 - PATCH) // 8 + 1, 2))
            base[y : y + PATCH, x : x + PATCH] = render(rng, 512, fake=fake)[y : y + PATCH, x : x + PATCH]
        buf = io.BytesIO()
        Image.fromarray(base).save(buf, "JPEG" if i % 4 < 2 else "PNG", quality=JPEG_QUALITY, subsampling=0)
        buf.seek(0)
        images.append(Image.open(buf))
        labels.append(int(fake))
    return images, np.array(labels)


def policy_onnx(bundle: Path) -> Path:
    """The bundle's FP32 ONNX export beside it (made once): one ORT thread times the tiles steadily."""
    from synthsight.export.onnx import export_onnx
    from synthsight.model import load_bundle

    out = bundle / EXPORT_NAMES["onnx"]
    if not out.exists():
        model, spec = load_bundle(bundle)
        export_onnx(model.eval(), spec, out)
    return out


def policy(model: Path, n: int, counts: tuple[int, ...]) -> list[list[object]]:
    """AUROC / accuracy of every N x placement x aggregate on the two held-out sets."""
    from sklearn.metrics import roc_auc_score

    from synthsight.image.tiles import cut
    from synthsight.runtime import open_backend
    from synthsight.runtime.base import scores_from_logits
    from synthsight.runtime.tiles import aggregate

    rows = []
    onnx = policy_onnx(model)
    with open_backend(str(onnx), backend="onnxruntime", device="cpu", precision="fp32", threads=1) as backend:
        ai = backend.positive_index
        for name, partial in (("whole", False), ("partial", True)):
            images, labels = held_out(n, partial, seed=7)
            rgb = [im.convert("RGB") for im in images]
            for placement in ("grid", "texture"):
                for count in counts:
                    spec = PreprocessSpec(size=64, resize="tiles", tiles=count, tile_placement=placement)
                    t0 = time.perf_counter()
                    logits = [backend.infer(cut(im, spec).pixels) for im in rgb]
                    ms = (time.perf_counter() - t0) * 1000 / len(rgb)
                    for rule in RULES:
                        if rule.startswith("top") and int(rule[3:]) > count:
                            continue
                        rule_spec = PreprocessSpec(size=64, resize="tiles", tiles=count, tile_aggregate=rule)
                        image = np.stack([aggregate(lg, rule_spec, ai) for lg in logits])
                        p = scores_from_logits(image, ai)
                        auc = float(roc_auc_score(labels, p))
                        rows.append([name, placement, count, rule, auc, float(((p >= 0.5) == labels).mean()), ms])
                    log(f"{name} {placement} N={count}: {ms:.1f} ms/image")
    return rows


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--part", default="cost,policy", help="cost, policy or both (comma-separated)")
    p.add_argument("--n", type=int, help="held-out images per class (default 32; --quick 8)")
    p.add_argument("--model", type=Path, help="policy: this tiles bundle instead of training one (trained_model)")
    args = p.parse_args()
    parts = set(args.part.split(","))
    data: dict = {"machine": machine()}
    from synthsight.runtime.cpu.features import host

    flags = ", ".join(host().shown_flags) or "-"
    out = ["## Native-resolution tiles (issue 22)", "", f"Machine: {machine_line(data['machine'])}; CPU flags: {flags}",
           ""]  # fmt: skip
    if "cost" in parts:
        paths = mixed_corpus(args.cache, 4 if args.quick else 16)
        repeats = 1 if args.quick else 3
        data["decode"] = decode_cost(paths, repeats)
        out += ["Decode, ms per image (one core, median of runs):", "",
                table(["file", "squash (DCT-scaled)", "tiles grid", "tiles texture", "tiles / squash"],
                      data["decode"]), ""]  # fmt: skip
        data["scan"] = scan_cost(paths, args.cache / "tiles-scan", repeats)
        out += [f"Whole scan of the mixed corpus ({len(paths)} files, 1 decode worker, ONNX Runtime fp32, "
                "convnext_atto 224 px random init), images/s:", "",
                table(["squash", "tiles (9, grid)", "squash / tiles"], data["scan"]), ""]  # fmt: skip
    if "policy" in parts:
        model = args.model or trained_model(args.cache, args.quick)
        counts = (1, 4) if args.quick else COUNTS
        data["policy"] = policy(model, args.n or (8 if args.quick else 32), counts)
        out += ["Tile count, placement and aggregate on held-out synthetic 512² images (model: convnext_atto 64 px, "
                "train --resize tiles on synth --size 256; AUROC, accuracy at p = 0.5, ms per image of cut + "
                "inference):", "",
                table(["set", "placement", "N", "aggregate", "AUROC", "accuracy", "ms/image"], data["policy"]),
                ""]  # fmt: skip
    emit("\n".join(out), data, args.json)


if __name__ == "__main__":
    main()
