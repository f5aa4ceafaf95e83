"""Training for the wild (issue 21): the shortcut audit's speed, and what --augment web / --align format buy.

    python benchmarks/bench_augment.py [--quick] [--json FILE] [--part audit,format,perturb]

audit: files/s of ``synthsight audit`` on the shared realworld corpus (300 files) and on 20,000 synthetic
  files (64 px, half JPEG, half PNG; cached), with 1 header-reading process and with the default
  (min(8, cores)); the median of 3 runs, page cache warm.
Both training sets carry the synthetic trace at a fainter amplitude than ``synth``'s default (AMPLITUDE: 0.04
against 0.08), one that JPEG 75 partly erases, as a real generator's high-frequency traces are.
format: convnext_atto at 64 px, random init, trained by ``synthsight train`` (the CLI, audit included) on
  ``synth --confound format`` (400 images: ai all PNG, real all JPEG at U(75, 95), 4:2:0) three ways:
  ``--augment none``, ``--augment web`` and ``--align format``. Each model's clean validation accuracy and its
  recall on the AI validation images re-encoded as JPEG 90 and 75 (``eval --perturb jpeg=90,75``): the none
  model is expected to call them real, since JPEG is what "real" looked like in training.
perturb: the same two ways none / web on the unconfounded synthetic set, each trained with SEEDS (the set stays
  the same): accuracy clean and under ``eval --perturb jpeg=90,75``, per seed and the mean.
container: can the network learn the container at all? The format confound with no trace (amplitude 0: the
  file format is the classes' only difference), trained with --augment none: its validation accuracy, beside
  the AUC of one number per validation image (the mean |Laplacian| of R - G, the chroma detail that JPEG's
  4:2:0 takes away), which says the cue is in the pixels the model is given.
timing: the time of one training epoch (history.json's seconds) with --augment web against none, on the
  unconfounded set, alternated 3 times (none, web, none, web, ...) so that a change of load on a shared
  machine falls on both; the median of the 3 ratios.

Bundles are cached under benchmarks/.cache/augment/ (delete it to retrain; a web bundle's name carries a digest
of web's recipe, so a change of the recipe retrains it). Synthetic data says how the
recipes act on a trace of known strength, not how they do on a real generator.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

# OpenMP threads that sleep at a barrier (as tests/conftest.py sets them): on 2 cores shared with other work,
# spinning threads made an epoch of this study 10x slower (6 s against 60-100 s at a load average of 10-17).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REALWORLD, emit, log, machine, machine_line, parser, table  # noqa: E402

from synthsight.audit.run import PARALLEL_FROM, audit  # noqa: E402
from synthsight.machine import usable_cores  # noqa: E402
from synthsight.train.synthetic import make_synthetic  # noqa: E402

TRAIN = ["--arch", "convnext_atto", "--size", "64", "--init", "random", "--batch-size", "32", "--lr", "5e-4",
         "--device", "cpu", "--workers", "0", "--quiet"]  # fmt: skip
AMPLITUDE = 0.04  # both sets' trace (measured: at 0.08 JPEG 75 leaves it, at 0.02 aligned training learns none)
PATIENCE = 15  # a faint trace under random init plateaus for several epochs: patience 5 stopped web at epoch 6
SEEDS = (0, 1, 2)  # perturb's training seeds: one seed's web model lost 3.7 points clean where two lost <= 1.2


def audit_speed(cache: Path, quick: bool) -> list[list[object]]:
    n = 2000 if quick else 20000
    big = cache / f"audit-{n}"
    if not (big / "synthetic.json").exists():
        log(f"writing {n} synthetic files to {big}")
        make_synthetic(big, n=n, size=64, seed=3)
    rows = []
    for name, root in (("realworld corpus", REALWORLD), (f"synthetic {n:,}", big)):
        if not root.is_dir():
            log(f"{root} absent: skipped")
            continue
        for workers in (1, None):
            audit(root, workers=workers)  # warm the page cache
            rates = []
            for _ in range(3):
                t0 = time.perf_counter()
                result = audit(root, workers=workers)
                rates.append(len(result.files) / (time.perf_counter() - t0))
            pool = workers is None and len(result.files) >= PARALLEL_FROM
            label = f"default: {min(8, usable_cores())}" if pool else "1" if workers == 1 else "default: 1 (small set)"
            rows.append([name, len(result.files), label, statistics.median(rates)])
    return rows


def trained(data: Path, out: Path, epochs: int, *extra: str, seed: int = 0) -> Path:
    """A bundle trained by the CLI (cached: retrained only when absent)."""
    from synthsight.cli import cli

    if (out / "model.json").exists():
        return out
    log(f"training {out.name}")
    cli.main(["train", str(data), "--out", str(out), "--epochs", str(epochs), "--patience", str(PATIENCE), *TRAIN,
              "--seed", str(seed), *extra],
             standalone_mode=False)  # fmt: skip
    return out


def bundle_name(data: Path, epochs: int, way: str, seed: int = 0) -> Path:
    """The cached bundle's folder: web's carries a digest of its recipe, seeds past 0 their number."""
    import hashlib

    from synthsight.train.augment import RECIPES

    name = f"{data.name}-{epochs}p{PATIENCE}-{way.replace(' ', '-')}"
    if way == "web":
        name += "-" + hashlib.sha1(json.dumps(RECIPES["web"].to_dict()).encode()).hexdigest()[:8]
    return data.with_name(name + (f"-seed{seed}" if seed else ""))


def scores(bundle: Path, data: Path, perturb: tuple[str, ...]) -> dict:
    from synthsight.train.evaluate import EvalConfig, evaluate_model

    result = evaluate_model(EvalConfig(model=str(bundle), data=str(data), perturb=perturb, device="cpu", workers=0))
    return {"clean": result.metrics, **result.rows}


def history(bundle: Path) -> list[dict]:
    return json.loads((bundle / "history.json").read_text(encoding="utf-8"))


def epoch_seconds(bundle: Path) -> float:
    """The median epoch's seconds, as measured when the bundle was trained (the load of that time)."""
    return statistics.median(row["seconds"] for row in history(bundle))


WAYS = {"none": ("--augment", "none"), "web": ("--augment", "web"), "align format": ("--align", "format")}


def format_part(cache: Path, n: int, epochs: int) -> tuple[list[list[object]], dict]:
    data = cache / f"confound-format-{n}-a{AMPLITUDE}"
    if not (data / "synthetic.json").exists():
        make_synthetic(data, n=n, size=64, seed=0, amplitude=AMPLITUDE, confound="format")
    rows, raw = [], {}
    for name, flags in WAYS.items():
        bundle = trained(data, bundle_name(data, epochs, name), epochs, *flags)
        s = scores(bundle, data, ("jpeg=90", "jpeg=75"))
        raw[name] = s
        rows.append([name, s["clean"]["accuracy"], s["clean"]["roc_auc"], s["clean"]["recall"]["real"],
                     s["jpeg=90"]["recall"]["ai"], s["jpeg=75"]["recall"]["ai"], s["jpeg=75"]["roc_auc"],
                     len(history(bundle))])  # fmt: skip
    return rows, raw


def clean_set(cache: Path, n: int) -> Path:
    data = cache / f"clean-{n}-a{AMPLITUDE}"
    if not (data / "synthetic.json").exists():
        make_synthetic(data, n=n, size=64, seed=0, amplitude=AMPLITUDE)
    return data


def perturb_part(cache: Path, n: int, epochs: int, seeds: tuple[int, ...]) -> tuple[list[list[object]], dict]:
    data = clean_set(cache, n)
    rows, raw = [], {"seeds": list(seeds)}
    for name in ("none", "web"):
        runs = []
        for seed in seeds:
            bundle = trained(data, bundle_name(data, epochs, name, seed), epochs, *WAYS[name], seed=seed)
            s = scores(bundle, data, ("jpeg=90", "jpeg=75"))
            runs.append({**s, "epochs_run": len(history(bundle)), "epoch_seconds": epoch_seconds(bundle)})
            rows.append([name, seed, s["clean"]["accuracy"], s["jpeg=90"]["accuracy"], s["jpeg=75"]["accuracy"],
                         s["clean"]["roc_auc"], s["jpeg=75"]["roc_auc"], len(history(bundle)), epoch_seconds(bundle)])
        raw[name] = runs
        mean = [statistics.mean(r[k] for r in rows[-len(seeds):]) for k in range(2, 7)]
        rows.append([f"**{name}, mean**", "", *mean, "", ""])
    raw["time_ratio"] = statistics.median(w["epoch_seconds"] / o["epoch_seconds"]
                                          for w, o in zip(raw["web"], raw["none"], strict=True))  # fmt: skip
    return rows, raw


def chroma_detail(path: Path, signed: bool = False) -> float:
    """Mean |Laplacian| of R - G: the fine chroma detail JPEG 4:2:0 removes (a PNG keeps it). ``signed``: the
    mean of the Laplacian itself, a linear number (the synthetic trace is one: its checkerboard correlation is
    positive in every ai image), to tell whether the container shows in anything but the detail's energy."""
    import numpy as np
    from PIL import Image

    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
    c = rgb[..., 0] - rgb[..., 1]
    lap = 4 * c[1:-1, 1:-1] - c[:-2, 1:-1] - c[2:, 1:-1] - c[1:-1, :-2] - c[1:-1, 2:]
    return float(lap.mean() if signed else np.abs(lap).mean())


def container_part(cache: Path, n: int, epochs: int) -> tuple[list[list[object]], dict]:
    from sklearn.metrics import roc_auc_score

    data = cache / f"confound-format-{n}-a0"
    if not (data / "synthetic.json").exists():
        make_synthetic(data, n=n, size=64, seed=0, amplitude=0.0, confound="format")
    bundle = trained(data, bundle_name(data, epochs, "none"), epochs, *WAYS["none"])
    s = scores(bundle, data, ())
    files = [(f, label == "ai") for label in ("ai", "nature") for f in sorted((data / "val" / label).iterdir())]
    labels = [y for _, y in files]
    detail_auc = roc_auc_score(labels, [chroma_detail(f) for f, _ in files])
    signed_auc = roc_auc_score(labels, [chroma_detail(f, signed=True) for f, _ in files])
    row = [s["clean"]["accuracy"], s["clean"]["roc_auc"], len(history(bundle)), detail_auc, signed_auc]
    raw = {"clean": s["clean"], "epochs_run": len(history(bundle)), "chroma_detail_auc": detail_auc}
    return [row], raw | {"signed_detail_auc": signed_auc}


def timing_part(cache: Path, n: int, repeats: int) -> dict:
    """Seconds of one epoch, none and web alternated; never cached (the machine's state is the figure)."""
    import shutil

    data = clean_set(cache, n)
    seconds: dict[str, list[float]] = {"none": [], "web": []}
    for i in range(repeats):
        for name in ("none", "web"):
            out = cache / f"timing-{name}"
            shutil.rmtree(out, ignore_errors=True)
            seconds[name].append(epoch_seconds(trained(data, out, 1, *WAYS[name])))
            log(f"timing {i}: {name} {seconds[name][-1]:.2f} s")
    ratios = [w / o for w, o in zip(seconds["web"], seconds["none"], strict=True)]
    return {"seconds": seconds, "ratios": ratios, "ratio": statistics.median(ratios)}


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--part", default="audit,format,container,perturb,timing")
    args = p.parse_args()
    parts = set(args.part.split(","))
    cache = args.cache / "augment"
    cache.mkdir(parents=True, exist_ok=True)
    n, epochs = (80, 1) if args.quick else (400, 40)
    info = machine()
    flags = " ".join(f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile")
                     if f in Path("/proc/cpuinfo").read_text().split())  # fmt: skip
    out = [f"Machine: {machine_line(info)}; CPU flags: {flags}; load average at start: "
           f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}\n"]  # fmt: skip
    data: dict = {"machine": info, "flags": flags, "quick": args.quick}
    if "audit" in parts:
        rows = audit_speed(args.cache, args.quick)
        data["audit"] = rows
        out.append("Audit speed (headers only, files/s, median of 3):\n\n"
                   + table(["folder", "files", "processes", "files/s"], rows) + "\n")  # fmt: skip
    if "format" in parts:
        rows, data["format"] = format_part(cache, n, epochs)
        out.append(
            f"The format confound (`synth --confound format`, {n} images, trace amplitude {AMPLITUDE}, "
            f"convnext_atto 64 px, at most {epochs} epochs):\n\n"
            + table(["training", "clean accuracy", "clean AUC", "clean real recall", "AI recall at JPEG 90",
                     "AI recall at JPEG 75", "AUC at JPEG 75", "epochs run"], rows) + "\n"
        )  # fmt: skip
    if "container" in parts:
        rows, data["container"] = container_part(cache, n, epochs)
        out.append(
            f"Can the network learn the container alone? `synth --confound format` with no trace (amplitude 0, {n} "
            "images), `--augment none`; the last column is one number per validation image, the mean |Laplacian| "
            "of R - G (the chroma detail 4:2:0 JPEG removes), and the same Laplacian's signed mean (a linear "
            "number):\n\n"
            + table(["clean accuracy", "clean AUC", "epochs run", "AUC of the chroma-detail number",
                     "AUC of its signed mean"], rows) + "\n"
        )  # fmt: skip
    if "perturb" in parts:
        seeds = SEEDS[:1] if args.quick else SEEDS
        rows, data["perturb"] = perturb_part(cache, n, epochs, seeds)
        out.append(
            f"The unconfounded synthetic set ({n} images, trace amplitude {AMPLITUDE}), trained with seeds "
            f"{', '.join(map(str, seeds))}, accuracy under `eval --perturb jpeg=90,75`:\n\n"
            + table(["training", "seed", "clean", "JPEG 90", "JPEG 75", "AUC clean", "AUC JPEG 75", "epochs run",
                     "s / epoch (median, when trained)"], rows)
            + "\n\nweb / none time per epoch, from those trainings (median over the seeds): "
            f"{data['perturb']['time_ratio']:.2f}x.\n"
        )  # fmt: skip
    if "timing" in parts:
        data["timing"] = t = timing_part(cache, n, 1 if args.quick else 3)
        out.append(
            f"Training time: one epoch of {n} images' training split, none and web alternated "
            f"{len(t['ratios'])} times: none {', '.join(f'{v:.1f}' for v in t['seconds']['none'])} s, web "
            f"{', '.join(f'{v:.1f}' for v in t['seconds']['web'])} s; web / none median {t['ratio']:.2f}x.\n"
        )
    out.append(f"Load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    emit("\n".join(out), data, args.json)


if __name__ == "__main__":
    main()
