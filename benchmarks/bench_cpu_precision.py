"""CPU precisions on a trained convnext_tiny at 224 px: every runtime x precision with its certificate, and scan speed.

    python benchmarks/bench_cpu_precision.py [--quick] [--images N] [--repeats R] [--json FILE]

The model (made once into benchmarks/.cache/cpu_precision/ and reused; delete the folder to remake it):
convnext_tiny from random init (no network here, so no ImageNet weights), trained by `synthsight train`'s
own loop on synthsight's synthetic set: 5 epochs at 96 px on 400 images (the fingerprint is a per-pixel
pattern, so a fully convolutional model learns it at any size), then 1 epoch at 224 px on 160 images
made at 224 px. That bundle is exported with `export --format int8`: INT8 calibrated on its 224-px
training images, certificates measured on its validation images plus a stress set (synthetic images
with the fingerprint at 1/5-1/3 of its trained strength, whose scores spread across the threshold) and,
when ../shared/corpora/realworld exists, a seeded sample of its photographs.

Measured, in one run: inference alone (uint8 batches, the threads a scan gives: all usable cores,
spinning and pinning off) for every option, round-robin over the options, medians; and the whole scan
of the mixed corpus (half 12-MP JPEG, half 512x512 PNG) with --precision fp32 against --precision auto,
each run in a fresh child process, interleaved. Auto's one-time measurement is made (and cached) before
the timed scans and reported on its own.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REALWORLD, emit, log, machine, machine_line, mixed_corpus, parser, table  # noqa: E402

from synthsight.artifacts import EXPORT_NAMES  # noqa: E402

RECIPE = {"arch": "convnext_tiny", "stage1": {"size": 96, "n": 400, "epochs": 5, "batch": 32, "lr": 5e-4},
          "stage2": {"size": 224, "n": 160, "epochs": 1, "batch": 16, "lr": 1e-4}, "stress": [0.015, 0.02, 0.025],
          "stress_n": 40, "realworld": 150, "version": 1}  # fmt: skip
QUICK = {"arch": "convnext_atto", "stage1": {"size": 64, "n": 160, "epochs": 3, "batch": 32, "lr": 5e-4},
         "stage2": {"size": 64, "n": 40, "epochs": 1, "batch": 16, "lr": 1e-4}, "stress": [0.02], "stress_n": 8,
         "realworld": 8, "version": 1}  # fmt: skip
INFERENCE_TARGET, SCAN_TARGET = 2.0, 1.5


# ---- the model, made once ---------------------------------------------------------------------------


def prepare(cache: Path, recipe: dict) -> dict:
    """The trained bundle (made once per training recipe) and its export (once per INT8 recipe too)."""
    from synthsight.export.int8 import RECIPE as INT8_RECIPE

    folder = cache / "cpu_precision" / recipe["arch"]
    trained = folder / "trained.json"
    if not (trained.exists() and json.loads(trained.read_text()).get("recipe") == recipe):
        if trained.exists() or (folder / "recipe.json").exists() and _read(folder / "recipe.json") != recipe:
            shutil.rmtree(folder, ignore_errors=True)  # made by another recipe
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "recipe.json").write_text(json.dumps(recipe))
        t0 = time.perf_counter()
        bundle, history = train(folder, recipe)
        stress_set(folder, recipe)
        info = {"recipe": recipe, "bundle": str(bundle), "history": history, "seconds": time.perf_counter() - t0}
        trained.write_text(json.dumps(info, indent=2) + "\n")
    info = json.loads(trained.read_text())
    exported = folder / "exported.json"
    if exported.exists() and json.loads(exported.read_text()).get("int8_recipe") == INT8_RECIPE:
        return {**info, **json.loads(exported.read_text())}
    log("exporting model.onnx + model.int8.onnx with certificates")
    from synthsight.export.pipeline import ExportConfig, export_model

    export, said, t0 = folder / "export", [], time.perf_counter()
    config = ExportConfig(model=Path(info["bundle"]), format="int8", out=export, check_images=folder / "certify",
                          calibration_count=300)  # fmt: skip
    export_model(config, echo=lambda line: (said.append(line), log(line)))
    done = {"int8_recipe": INT8_RECIPE, "onnx": str(export / EXPORT_NAMES["onnx"]),
            "int8": str(export / EXPORT_NAMES["int8"]), "export_log": said,
            "export_seconds": time.perf_counter() - t0}  # fmt: skip
    exported.write_text(json.dumps(done, indent=2) + "\n")
    return {**info, **done}


def _read(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def train(folder: Path, recipe: dict) -> tuple[Path, list[dict]]:
    from synthsight.model import read_spec
    from synthsight.train.loop import TrainConfig, fit
    from synthsight.train.synthetic import make_synthetic

    history, init = [], "random"
    for stage, seed in (("stage1", 0), ("stage2", 1)):
        s = recipe[stage]
        log(f"training {recipe['arch']} {stage}: {s['epochs']} epoch(s) at {s['size']} px on {s['n']} images")
        data = make_synthetic(folder / f"data{s['size']}", n=s["n"], size=s["size"], seed=seed)
        out = folder / stage
        if (out / "model.json").exists():  # finished by an earlier run that was cut short later
            log(f"  {stage} is there already: reused")
            history.append({"stage": stage, **s, "val_accuracy": read_spec(out).metrics.get("accuracy"),
                            "val_n": read_spec(out).metrics.get("n")})  # fmt: skip
            init = out
            continue
        fit(TrainConfig(data=str(data), out=str(out), arch=recipe["arch"], size=s["size"], init=str(init),
                        epochs=s["epochs"], batch_size=s["batch"], lr=s["lr"], patience=s["epochs"], seed=seed,
                        workers=0, progress=False))  # fmt: skip
        metrics = read_spec(out).metrics
        history.append({"stage": stage, **s, "val_accuracy": metrics.get("accuracy"), "val_n": metrics.get("n")})
        init = out
    return Path(init), history


def stress_set(folder: Path, recipe: dict) -> Path:
    """Links to the images certificates are also measured on: weak-fingerprint images and real photographs."""
    from synthsight.image.formats import image_files
    from synthsight.train.synthetic import make_synthetic

    out = folder / "certify"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    size = recipe["stage2"]["size"]
    for a in recipe["stress"]:
        data = make_synthetic(folder / f"stress-{a}", n=recipe["stress_n"], size=size, seed=7, amplitude=a)
        for i, path in enumerate(sorted(image_files(data))):
            (out / f"stress-{a}-{i:03d}{path.suffix}").symlink_to(path)
    if REALWORLD.is_dir():
        photos = sorted(image_files(REALWORLD))
        for i, path in enumerate(sorted(random.Random(0).sample(photos, min(recipe["realworld"], len(photos))))):
            (out / f"realworld-{i:03d}{path.suffix.lower()}").symlink_to(path)
    return out


# ---- inference alone ---------------------------------------------------------------------------------


def inference(onnx: Path, batches: list[int], rounds: int) -> tuple[list[dict], list[str]]:
    """images/s of every CPU option at each batch, round-robin, with the threads a scan uses on all cores."""
    import numpy as np

    from synthsight.errors import SynthsightError
    from synthsight.machine import usable_cores
    from synthsight.runtime.cpu.precision import family, options
    from synthsight.runtime.registry import open_option

    threads = usable_cores()
    opened, skipped = [], []
    for option in options(family(onnx)):
        if not option.runs:
            skipped.append(f"{option.label}: {option.why}")
            continue
        try:
            opened.append((option, open_option(option, threads=threads)))
        except SynthsightError as exc:
            skipped.append(f"{option.label}: {exc}")
    size = opened[0][1].preprocess.size
    pixels = np.random.default_rng(0).integers(0, 256, (max(batches), size, size, 3), dtype=np.uint8)
    rates: dict[tuple[str, int], list[float]] = {}
    try:
        for _, b in opened:  # warm-up, not counted
            for n in batches:
                b.infer(pixels[:n])
        for r in range(rounds):
            log(f"inference round {r + 1}/{rounds}")
            for option, b in opened:
                for n in batches:
                    t0 = time.perf_counter()
                    b.infer(pixels[:n])
                    rates.setdefault((option.label, n), []).append(n / (time.perf_counter() - t0))
    finally:
        for _, b in opened:
            b.close()
    rows = [{"option": o.label, "file": o.path.name, "batch": n, "images_per_s": statistics.median(rates[(o.label, n)]),
             "spread": (max(rates[(o.label, n)]) - min(rates[(o.label, n)])) / statistics.median(rates[(o.label, n)]),
             "threads": threads, "certificate": o.certificate} for o, _ in opened for n in batches]  # fmt: skip
    return rows, skipped


# ---- the scan, fp32 against auto (each in a fresh child) -----------------------------------------------


def _scan_child(conn, files: list[str], model: str, out: str, precision: str) -> None:
    try:
        from synthsight.scanner import scan

        t0 = time.perf_counter()
        summary = scan(files, model, [out], quiet=True, overwrite=True, precision=precision)
        seconds = time.perf_counter() - t0
        manifest = summary.manifest
        conn.send({"images": summary.images, "seconds": seconds, "errors": summary.counts.get("error", 0),
                   "chosen": manifest["precision_choice"]["chosen"],
                   "measurement": manifest["precision_choice"]["measurement"]})  # fmt: skip
    except Exception as exc:  # a failed run is a row that says so; the others go on
        conn.send({"error": f"{type(exc).__name__}: {exc}"})


def _decode_child(conn, files: list[str], model: str, out: str, precision: str) -> None:
    """The scanner's decode pool alone on the same files (the decode side of the scan's bound)."""
    try:
        from synthsight.image.preprocess import PreprocessSpec
        from synthsight.scanner.pool import DecodePool, plan_cores
        from synthsight.scanner.walk import Walker
        from synthsight.scanner.worker import ReadOptions

        t0 = time.perf_counter()
        with DecodePool(
            iter(Walker(files)), ReadOptions(PreprocessSpec(size=224)), 32, plan_cores().cpu_workers
        ) as pool:
            for batch in pool:
                pool.release(batch)
        conn.send({"images": len(files), "seconds": time.perf_counter() - t0})
    except Exception as exc:
        conn.send({"error": f"{type(exc).__name__}: {exc}"})


def scan_once(files: list[str], model: str, out: str, precision: str, target=None) -> dict:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=target or _scan_child, args=(child, files, model, out, precision))
    proc.start()
    child.close()
    try:
        result = parent.recv()
    except EOFError:
        result = {"error": "the child process died"}
    proc.join()
    if "error" not in result:
        result["images_per_s"] = result["images"] / result["seconds"]
    return result


def scans(files: list[str], model: str, repeats: int, tmp: Path) -> dict:
    log("auto's one-time measurement (a scan of 2 files, cached for the timed scans)")
    first = scan_once(files[:2], model, str(tmp / "warm.csv"), "auto")
    runs: dict[str, list[dict]] = {"fp32": [], "auto": [], "decode only": []}
    for r in range(repeats):
        for precision in runs:
            target = _decode_child if precision == "decode only" else None
            result = scan_once(files, model, str(tmp / f"{precision}.csv"), precision, target)
            log(f"  [{r + 1}/{repeats}] scan --precision {precision}: {result.get('images_per_s', 0):.2f} images/s "
                f"({result.get('chosen') or result.get('error') or 'no inference'})")  # fmt: skip
            runs[precision].append(result)
    return {"warm_up": first, "runs": runs}


# ---- report ----------------------------------------------------------------------------------------


def _cert_cells(cert: dict | None) -> list[str]:
    from synthsight.runtime.cpu.precision import passes_gate

    if cert is None:
        return ["reference", "", "", ""]
    if not cert.get("measured", True):
        return ["not measured", "", "", cert.get("why", "")]
    ok = passes_gate(cert)[0]
    return [f"{100 * cert['agreement']:.2f}% ({cert['n'] - cert['disagreements']}/{cert['n']})",
            f"{cert['max_abs']:.2e}", f"{cert['mean_abs']:.2e}", "passes" if ok else "**fails**"]  # fmt: skip


def render(data: dict) -> str:
    prep, rows, scan = data["prepared"], data["inference"], data["scan"]
    cpu = data["cpu"]
    base = {r["batch"]: r["images_per_s"] for r in rows if r["option"] == "fp32/onnxruntime"}
    stages = "; ".join(f"{h['stage']}: {h['epochs']} epoch(s) at {h['size']} px on {h['n']} images, val accuracy "
                       f"{h['val_accuracy']:.3f} (n={h['val_n']})" for h in prep["history"])  # fmt: skip
    images = next((c["images"] for r in rows if (c := r["certificate"]) and c.get("measured")), "-")
    parts = [
        f"Model: {prep['recipe']['arch']}, random init, trained by synthsight's own loop on its synthetic set "
        f"({stages}); run at {prep['recipe']['stage2']['size']} px. INT8: NNCF post-training quantisation "
        f"calibrated on the bundle's training images. Certificates (against ONNX Runtime fp32): {images}.",
        "",
        f"CPU: **{cpu['model']}**; flags: {', '.join(cpu['flags']) or '-'}; native reduced precisions: "
        f"{', '.join(cpu['native']) or 'none'} (read from {cpu['source']}). {machine_line(data['machine'])}; "
        f"openvino {data['versions'].get('openvino')}, nncf {data['versions'].get('nncf')}.",
        "",
        f"Inference alone, uint8 batches, {rows[0]['threads'] if rows else '?'} threads (a scan's setting: ONNX "
        f"Runtime spinning off, OpenVINO one single-thread stream per core, no pinning), medians of "
        f"{data['rounds']} round-robin rounds:",
        "",
    ]
    table_rows = [[r["option"], r["file"], r["batch"], r["images_per_s"],
                   f"{r['images_per_s'] / base[r['batch']]:.2f}x" if r["batch"] in base else "",
                   f"{r['spread']:.0%}", *_cert_cells(r["certificate"])] for r in rows]  # fmt: skip
    headers = ["option", "file", "batch", "images/s", "vs ORT fp32", "spread", "verdict agreement", "max abs dp(ai)",
               "mean abs dp(ai)", "gate"]  # fmt: skip
    parts += [table(headers, table_rows)]
    parts += [f"- not run here: {s}" for s in data["skipped"]]
    auto = scan["warm_up"]
    chosen = auto.get("chosen")
    parts += ["", f"**--precision auto picks {chosen}** here: {data['auto_why']}"]
    if auto.get("measurement"):
        m = auto["measurement"]
        parts[-1] += (f" (its one-time measurement: batch {m['batch']}, {m['threads']} threads, "
                      f"{'read from the cache' if m.get('cached') else 'measured in this run'}; the first "
                      f"auto scan, of 2 files, took {auto['seconds']:.1f} s with it)")  # fmt: skip
    med = {p: statistics.median([r["images_per_s"] for r in runs if "images_per_s" in r] or [0]) for p, runs in
           scan["runs"].items()}  # fmt: skip
    n = data["images"]
    parts += ["", f"Scan of {n} files (half 12-MP JPEG, half 512x512 PNG), decode pool + inference + CSV with "
              f"SHA-256, medians of {data['repeats']} interleaved runs, each in a fresh child process:", "",
              table(["scan", "runs as", "images/s", "vs fp32 scan"],
                    [["--precision fp32", "fp32/onnxruntime", med["fp32"], "1.00x"],
                     ["--precision auto", chosen, med["auto"], f"{med['auto'] / med['fp32']:.2f}x" if med["fp32"]
                      else ""],
                     ["decode only (no inference)", "-", med["decode only"], ""]]), ""]  # fmt: skip
    parts += _bound(rows, chosen, med)
    parts += _targets(rows, base, chosen, med, cpu)
    return "\n".join(parts)


def _bound(rows: list[dict], chosen: str | None, med: dict) -> list[str]:
    """Decode and inference share the cores: the scan's ceiling is 1 / (1/decode + 1/inference)."""
    decode = med.get("decode only")
    rate = {o: next((r["images_per_s"] for r in rows if r["option"] == o and r["batch"] == 32), None)
            for o in ("fp32/onnxruntime", chosen)}  # fmt: skip
    if not decode or not all(rate.values()):
        return []
    out = [f"- Decode alone (the scanner's pool on these files): {decode:.1f} images/s. Decode and inference share "
           "the cores, so a scan's ceiling is 1 / (1/decode + 1/inference):"]  # fmt: skip
    for scan, option in (("fp32", "fp32/onnxruntime"), ("auto", chosen)):
        ceiling = 1 / (1 / decode + 1 / rate[option])
        out.append(f"  --precision {scan}: ceiling {ceiling:.1f} images/s, reached {med[scan] / ceiling:.0%}.")
    return out


def _targets(rows: list[dict], base: dict, chosen: str | None, med: dict, cpu: dict) -> list[str]:
    picked = {r["batch"]: r["images_per_s"] / base[r["batch"]] for r in rows if r["option"] == chosen and r["batch"]
              in base}  # fmt: skip
    shown = ", ".join(f"batch {b}: {x:.2f}x" for b, x in picked.items())
    scan_ratio = med["auto"] / med["fp32"] if med["fp32"] else 0.0
    if not cpu["native"]:
        return [f"- This CPU has no native bf16 or INT8 dot products: auto chose {chosen} ({shown}); the targets "
                "apply to CPUs that have them."]  # fmt: skip
    met = lambda ok: "**met**" if ok else "**not met** in this run"  # noqa: E731
    return [
        f"- Target inference >= {INFERENCE_TARGET}x ONNX Runtime fp32 with the option auto picks ({chosen}): {shown} "
        f"-> {met(bool(picked) and min(picked.values()) >= INFERENCE_TARGET)}.",
        f"- Target scan >= {SCAN_TARGET}x the fp32 scan: {scan_ratio:.2f}x -> {met(scan_ratio >= SCAN_TARGET)}.",
        "- The gate (agreement >= 99.5 %, max |dp(ai)| <= 0.02) is judged on the certificates above, all measured on "
        "this trained model.",
    ]


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=None, help="scan corpus size (default 48; 4 with --quick)")
    p.add_argument("--repeats", type=int, default=None, help="timed scans per precision (default 2; 1 with --quick)")
    p.add_argument("--rounds", type=int, default=None, help="inference rounds (default 3; 2 with --quick)")
    args = p.parse_args()
    recipe = QUICK if args.quick else RECIPE
    n, repeats = args.images or (4 if args.quick else 48), args.repeats or (1 if args.quick else 2)
    rounds = args.rounds or (2 if args.quick else 3)
    prep = prepare(args.cache, recipe)
    from synthsight.runtime.cpu.features import here
    from synthsight.runtime.cpu.precision import select

    rows, skipped = inference(Path(prep["onnx"]), [8, 32] if not args.quick else [4], rounds)
    files = [str(f) for f in mixed_corpus(args.cache, n)]
    with tempfile.TemporaryDirectory(prefix="bench-cpu-precision-") as tmp:
        # auto measures afresh in every run of this benchmark (the user's own cache is left alone)
        os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / "xdg")
        scan = scans(files, prep["onnx"], repeats, Path(tmp))
        from synthsight.scanner.pool import plan_cores

        threads = plan_cores().threads
        selection, opened = select(prep["onnx"], "auto", threads=threads, batch=8)  # the scans' cached measurement
        if opened is not None:
            opened.close()
    data = {"prepared": prep, "inference": rows, "skipped": skipped, "scan": scan, "cpu": here().to_dict(),
            "auto_why": selection.why, "machine": machine(), "images": len(files), "repeats": repeats,
            "rounds": rounds, "versions": _versions()}  # fmt: skip
    emit(render(data), data, args.json)


def _versions() -> dict:
    from synthsight.machine import installed

    return {name: installed(name) for name in ("openvino", "nncf", "onnxruntime")}


if __name__ == "__main__":
    main()
