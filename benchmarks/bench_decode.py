"""Decoding fast paths, measured: JPEG DCT scaling on/off by image size, resize filters, faster decoders,
and what each does to the verdicts (agreement and max |delta p(ai)| against the exact decode).

    python benchmarks/bench_decode.py [--quick] [--model MODEL] [--realworld DIR] [--json FILE]

"exact" is Pillow's full decode then the spec's resize (``PreprocessSpec(dct_scaling=False)``);
"draft" is Pillow's JPEG DCT scaling (``Image.draft``) before the same resize, which is what
``synthsight.image.preprocess`` does by default. simplejpeg and PyTurboJPEG rows appear when those
packages are installed (they are not dependencies of synthsight). Timings are one process, one core.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, SIZE_CLASSES, emit, jpeg_set, log, machine, median_rate, parser, table  # noqa: E402

from synthsight.image.preprocess import DCT_OVERSAMPLE, INTERPOLATIONS, PreprocessSpec, decode, resize, to_rgb  # noqa: E402

EXACT = "exact (full decode)"
PARITY_BOUND = 0.02  # the FP16 parity bound: a fast path may not move p(ai) more than this
Decoder = Callable[[Path], np.ndarray]


def pil_path(spec: PreprocessSpec) -> Decoder:
    return lambda path: decode(path, spec).pixels


def custom_path(
    spec: PreprocessSpec, resample: Image.Resampling, reducing_gap: float | None = None, draft: float = 0
) -> Decoder:
    """Pillow decode as in preprocess (JPEG draft to ``draft`` x the model size when > 0, EXIF orientation,
    RGB), then a squash resize with ``resample`` and Pillow's ``reducing_gap`` (integer box reduction first)."""

    def run(path: Path) -> np.ndarray:
        with Image.open(path) as im:
            if draft:
                im.draft(None, (round(draft * spec.size), round(draft * spec.size)))
            rgb = to_rgb(ImageOps.exif_transpose(im) or im)
            out = rgb.resize((spec.size, spec.size), resample, reducing_gap=reducing_gap)
            return np.asarray(out, dtype=np.uint8)

    return run


def simplejpeg_path(spec: PreprocessSpec) -> Decoder | None:
    try:
        import simplejpeg
    except ImportError:
        return None

    lo = DCT_OVERSAMPLE * spec.size

    def run(path: Path) -> np.ndarray:
        data = path.read_bytes()
        arr = simplejpeg.decode_jpeg(data, colorspace="RGB", min_height=lo, min_width=lo)
        return resize(Image.fromarray(arr), spec)

    return run


def turbojpeg_path(spec: PreprocessSpec) -> Decoder | None:
    try:
        from turbojpeg import TJPF_RGB, TurboJPEG

        jpeg = TurboJPEG()
    except Exception:  # ImportError, or the shared library libturbojpeg is missing
        return None
    factors = sorted(jpeg.scaling_factors, key=lambda f: f[0] / f[1])

    def run(path: Path) -> np.ndarray:
        data = path.read_bytes()
        width, height, _, _ = jpeg.decode_header(data)
        factor = next(
            (f for f in factors if min(width, height) * f[0] / f[1] >= DCT_OVERSAMPLE * spec.size and f[0] <= f[1]),
            (1, 1),
        )
        arr = jpeg.decode(data, pixel_format=TJPF_RGB, scaling_factor=factor)
        return resize(Image.fromarray(arr), spec)

    return run


def decoders(spec: PreprocessSpec) -> dict[str, Decoder]:
    exact = replace(spec, dct_scaling=False)
    draft = replace(spec, dct_scaling=True)
    bilinear = INTERPOLATIONS[spec.interpolation]
    out: dict[str, Decoder] = {
        EXACT: pil_path(exact),
        "PIL draft to 1x size": custom_path(spec, bilinear, draft=1),
        f"PIL draft to {DCT_OVERSAMPLE}x size (preprocess)": pil_path(draft),
        "PIL draft to 4x size": custom_path(spec, bilinear, draft=4),
    }
    for name, make in (("simplejpeg", simplejpeg_path), ("PyTurboJPEG", turbojpeg_path)):
        name = f"{name} scaled to {DCT_OVERSAMPLE}x size"
        path = make(spec)
        if path is not None:
            out[name] = path
    return out


def filters(spec: PreprocessSpec) -> dict[str, Decoder]:
    """Resize filters after the default (draft) decode; the spec's own filter is the reference."""
    draft = replace(spec, dct_scaling=True)
    out = {f"draft + {name}": pil_path(replace(draft, interpolation=name)) for name in ("bilinear", "bicubic")}
    out["draft + box"] = custom_path(draft, Image.Resampling.BOX, draft=DCT_OVERSAMPLE)
    out["draft + bilinear, reducing_gap=2"] = custom_path(draft, Image.Resampling.BILINEAR, 2.0, DCT_OVERSAMPLE)
    out["exact + bilinear, reducing_gap=2"] = custom_path(
        replace(spec, dct_scaling=False), Image.Resampling.BILINEAR, 2.0
    )
    return out


def throughput(paths_by_class: dict[str, list[Path]], paths: dict[str, Decoder], repeats: int) -> dict:
    """images/s of each decoder on each size class (median of ``repeats`` passes over the set)."""
    rates: dict[str, dict[str, float]] = {}
    for cls, files in paths_by_class.items():
        for name, fn in paths.items():
            rate = median_rate(lambda fn=fn, files=files: sum(1 for p in files if fn(p) is not None), repeats)
            rates.setdefault(name, {})[cls] = rate
            log(f"  {cls:>6} {name:<36} {rate:8.1f} images/s")
    return rates


# ---- effect on verdicts -----------------------------------------------------------------------------


def load_scorer(model: str | None, size: int) -> tuple[Callable[[np.ndarray], np.ndarray], str, float, PreprocessSpec]:
    """p(ai) for uint8 NHWC batches: the given model through the runtime, else a random-init convnext_atto."""
    if model:
        from synthsight.runtime import open_backend

        backend = open_backend(model)
        label = f"{model} ({backend.name} {backend.precision})"
        return backend.scores, label, backend.model_spec.threshold, backend.spec
    import torch

    from synthsight.model import build
    from synthsight.spec import ModelSpec

    torch.manual_seed(0)
    spec = ModelSpec(arch="convnext_atto", preprocess=PreprocessSpec(size=size))
    net = build(spec, "random").eval()

    def scores(pixels: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return torch.softmax(net(torch.from_numpy(pixels)).double(), 1)[:, spec.positive_index].numpy()

    return (
        scores,
        "a random-init convnext_atto (seed 0; untrained: a trained detector may be more sensitive)",
        0.5,
        spec.preprocess,
    )


def verdict_effect(files: list[Path], paths: dict[str, Decoder], reference: str, scorer, threshold: float) -> dict:
    def batch_scores(fn: Decoder) -> tuple[np.ndarray, np.ndarray]:
        pixels = np.stack([fn(p) for p in files])
        scores = np.concatenate([scorer(pixels[i : i + 16]) for i in range(0, len(pixels), 16)])
        return pixels, scores

    ref_pixels, ref = batch_scores(paths[reference])
    out = {}
    for name, fn in paths.items():
        if name == reference:
            continue
        pixels, p = batch_scores(fn)
        delta = np.abs(p - ref)
        out[name] = {
            "n": len(files),
            "reference_p_range": [float(ref.min()), float(ref.max())],
            "agreement": float(np.mean((p >= threshold) == (ref >= threshold))),
            "max_abs_dp": float(delta.max()),
            "mean_abs_dp": float(delta.mean()),
            "mean_abs_pixel": float(np.abs(pixels.astype(np.int16) - ref_pixels).mean()),
        }
    return out


def realworld_jpegs(root: Path | None, size: int, limit: int) -> list[Path]:
    """The corpus' JPEGs big enough for DCT scaling to apply (at least twice the model size)."""
    if root is None or not root.is_dir():
        return []
    out = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in (".jpg", ".jpeg"):
            continue
        try:
            with Image.open(path) as im:
                if im.format == "JPEG" and min(im.size) >= 2 * size:
                    out.append(path)
        except Exception:
            continue
    return out[:limit]


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--model", help="bundle / .onnx to judge verdicts with (default: random-init convnext_atto)")
    p.add_argument("--size", type=int, default=224, help="model input size when no --model is given")
    p.add_argument("--realworld", type=Path, default=REPO.parent / "shared" / "corpora" / "realworld")
    args = p.parse_args()
    n, repeats = (2, 1) if args.quick else (4, 2)
    scorer, model_label, threshold, spec = load_scorer(args.model, args.size)
    classes = list(SIZE_CLASSES) if not args.quick else ["0.3MP", "2MP"]
    by_class = {c: jpeg_set(args.cache, c, n) for c in classes}
    log(f"decode study: {spec.size} px, {spec.interpolation}, classes {classes}, {n} images each")
    rates = throughput(by_class, decoders(spec), repeats)
    filter_rates = throughput(by_class, filters(spec), repeats)

    real = realworld_jpegs(args.realworld, spec.size, 4 if args.quick else 200)
    sets = {"generated photo-like JPEGs": [p for files in by_class.values() for p in files]}
    if real:
        sets[f"realworld corpus JPEGs >= {2 * spec.size} px"] = real
    all_paths = {**decoders(spec), **{k: v for k, v in filters(spec).items() if k != "draft + bilinear"}}
    effects = {name: verdict_effect(files, all_paths, EXACT, scorer, threshold) for name, files in sets.items()}
    data = {
        "machine": machine(),
        "model": model_label,
        "spec": spec.to_dict(),
        "rates": rates,
        "filter_rates": filter_rates,
        "threshold": threshold,
        "verdicts": effects,
        "parity_bound": PARITY_BOUND,
    }
    emit(render(data, classes), data, args.json)


def render(data: dict, classes: list[str]) -> str:
    spec = data["spec"]
    parts = [
        f"Single process, one core; {spec['size']} px, resize `{spec['resize']}`.",
        "",
        "**Decoders (images/s, JPEG quality 90, photo-like content), then the spec's resize**",
        "",
        table(
            ["decoder"] + classes + [f"{classes[-1]} speed-up vs exact"],
            [
                [name] + [r[c] for c in classes] + [_ratio(r, data["rates"], classes)]
                for name, r in data["rates"].items()
            ],
        ),
        "",
        "**Resize filters after decoding (images/s)**",
        "",
        table(["path"] + classes, [[name] + [r[c] for c in classes] for name, r in data["filter_rates"].items()]),
        "",
        f"**Effect on verdicts** against the exact decode, through {data['model']}; "
        f"bound: max |delta p(ai)| <= {data['parity_bound']}",
        "",
    ]
    rows = []
    for set_name, effects in data["verdicts"].items():
        for name, e in effects.items():
            ok = "yes" if e["max_abs_dp"] <= data["parity_bound"] else "no"
            rows.append(
                [
                    set_name,
                    name,
                    e["n"],
                    f"{100 * e['agreement']:.1f}%",
                    f"{e['max_abs_dp']:.4f}",
                    f"{e['mean_abs_dp']:.4f}",
                    f"{e['mean_abs_pixel']:.2f}",
                    ok,
                ]
            )
    parts.append(
        table(
            [
                "images",
                "path",
                "n",
                "verdict agreement",
                "max abs dp",
                "mean abs dp",
                "mean abs pixel diff (0-255)",
                "within bound",
            ],
            rows,
        )
    )
    spans = ", ".join(
        f"{name}: [{e['reference_p_range'][0]:.3f}, {e['reference_p_range'][1]:.3f}]"
        for name, effects in data["verdicts"].items()
        for e in list(effects.values())[:1]
    )
    parts += [
        "",
        f"p(ai) of the exact decode spans {spans}; verdicts use threshold {data['threshold']}. "
        "When scores sit close to the threshold (an untrained model), agreement is a fragile measure; max |delta p| is "
        "what the bound applies to.",
    ]
    return "\n".join(parts)


def _ratio(rates: dict, all_rates: dict, classes: list[str]) -> str:
    return f"{rates[classes[-1]] / all_rates[EXACT][classes[-1]]:.1f}x"


if __name__ == "__main__":
    main()
