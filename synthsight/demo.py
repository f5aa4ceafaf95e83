"""`make demo`: the whole tool on a 2-core CPU in a few minutes, into ./demo-output/.

Builds a small synthetic set, trains a small ConvNeXt (convnext_atto, 64 px) on the CPU, exports
ONNX and mixed-FP16 ONNX, calibrates the ONNX model on a separate synthetic set whose classes overlap
(JPEG re-encoded at random qualities: ``synthsight calibrate``, so verdicts are ai | uncertain | real with
bounded error rates), then scans a folder of mixed images (synthetic validation images, re-encoded copies
of some and a few broken files), writes a CSV and a JSON report and Grad-CAM overlays, then the review
page of the scan (``review.html``) and, where Chromium is installed, a screenshot of it (``review.png``).

The demo model knows only the synthetic generator fingerprint of ``synthsight.train.synthetic``:
it is no detector of real-world AI images, and its verdicts on anything else mean nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

OUT = Path("demo-output")
MARKER = ".synthsight-demo"
# The demo's calibration targets: looser than calibrate's defaults (1 % / 5 % at 95 %, which need 299 real
# images) so that a few hundred toy images give a bound; the demo prints what they promise.
TARGETS = {"target_fpr": 0.05, "target_miss": 0.10, "confidence": 0.95}
CALIBRATION_QUALITIES = (20, 95)  # JPEG qualities of the calibration set: low ones erase the trace (overlap)
REENCODED_QUALITY = 30  # the scanned folder's re-encoded copies: where uncertain verdicts come from
DISCLAIMER = (
    "NOTE: this demo model has learned only the synthetic fingerprint of synthsight's own toy data set.\n"
    "      It is NOT a detector of real-world AI-generated images; train on real data (GenImage-style\n"
    "      folders) with `synthsight train` for that."
)


def say(message: str) -> None:
    print(message, flush=True)


def prepare(out: Path) -> None:
    if out.exists():
        if not (out / MARKER).exists():
            raise SystemExit(f"{out} exists and was not made by the demo: move it away first")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("made by python -m synthsight.demo; safe to delete\n")


def build_data(out: Path, n: int) -> Path:
    from synthsight.train.synthetic import make_synthetic

    return make_synthetic(out / "data", n=n, size=64, seed=0)


def train(out: Path, data: Path, epochs: int) -> Path:
    from synthsight.train.loop import TrainConfig, fit

    config = TrainConfig(
        data=str(data),
        out=str(out / "model"),
        arch="convnext_atto",
        size=64,
        init="random",
        epochs=epochs,
        batch_size=32,
        lr=5e-4,
        patience=2,
        device="cpu",
        workers=0,
    )
    return fit(config)


def export(bundle: Path) -> tuple[Path, Path]:
    from synthsight.artifacts import EXPORT_NAMES
    from synthsight.export.fp16 import convert_fp16
    from synthsight.export.onnx import export_onnx
    from synthsight.model import load_bundle

    model, spec = load_bundle(bundle)
    onnx = export_onnx(model, spec, bundle / EXPORT_NAMES["onnx"])  # beside the bundle: Grad-CAM finds it there
    return onnx, convert_fp16(onnx, bundle / EXPORT_NAMES["fp16"])


def calibrate_model(out: Path, onnx: Path, n: int, workers: int | None) -> Path:
    """``synthsight calibrate`` on a separate synthetic set (another seed) whose classes overlap."""
    from synthsight.calibrate.run import CalibrateConfig, calibrate
    from synthsight.train.synthetic import make_synthetic

    data = make_synthetic(out / "calibration-data", n=n, size=64, seed=1, jpeg_qualities=CALIBRATION_QUALITIES)
    config = CalibrateConfig(model=str(onnx), data=str(data), device="cpu", workers=workers, **TARGETS)
    calibrate(config, echo=lambda line: say(f"      {line}"))
    return data


def scan_folder(out: Path, data: Path) -> Path:
    """Validation images of both classes, JPEG copies of some, and broken files, as an archive would hold them."""
    from PIL import Image

    folder = out / "scan-me"
    for split_dir in sorted((data / "val").iterdir()):
        if split_dir.is_dir():
            shutil.copytree(split_dir, folder / split_dir.name)
            for image in sorted(split_dir.iterdir())[::2]:  # half of them again, re-encoded: a harder case
                with Image.open(image) as im:
                    im.convert("RGB").save(folder / split_dir.name / f"reencoded-{image.stem}.jpg",
                                           quality=REENCODED_QUALITY)  # fmt: skip
    broken = folder / "broken"
    broken.mkdir()
    first_jpeg = next(iter(sorted(folder.rglob("*.jpg"))))
    whole = first_jpeg.read_bytes()
    (broken / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    (broken / "empty.png").write_bytes(b"")
    (broken / "notes-named-as.jpg").write_text("this is a text file with an image extension\n")
    _declare_provenance(folder)
    return folder


def _declare_provenance(folder: Path) -> None:
    """Two copies that declare where they came from, pixels unchanged: what the provenance columns show.

    An AI image carrying the generation parameters a Stable Diffusion front end writes (PNG text), and a
    photo-class image carrying camera EXIF. The verdict stays the CNN's; the evidence stands beside it.
    """
    from PIL import Image, PngImagePlugin

    ai = next(iter(sorted((folder / "ai").glob("*.png"))), None)
    real = next(iter(sorted((folder / "nature").glob("*.png"))), None)
    if ai is not None:
        info = PngImagePlugin.PngInfo()
        info.add_text("parameters", "a lighthouse\nSteps: 20, Sampler: Euler a, Seed: 42, Model: demo-diffusion")
        with Image.open(ai) as im:
            im.save(folder / "ai" / "with-generator-parameters.png", pnginfo=info)
    if real is not None:
        with Image.open(real) as im:
            exif = im.getexif()
            exif[0x010F], exif[0x0110] = "Canon", "Canon EOS R5"  # Make, Model
            im.save(folder / "nature" / "with-camera-exif.png", exif=exif)


def run(
    out: Path = OUT, n: int = 600, epochs: int = 6, workers: int | None = None, calibration_n: int = 400
) -> dict:
    from synthsight.reports.writers import read_records
    from synthsight.scanner import scan

    t0 = time.perf_counter()
    prepare(out)
    say(f"[1/6] synthetic data set: {n} images, 64 px -> {out / 'data'}")
    data = build_data(out, n)
    say(f"[2/6] training convnext_atto on the CPU ({epochs} epochs at most) -> {out / 'model'}")
    bundle = train(out, data, epochs)
    say("[3/6] exporting ONNX and mixed-FP16 ONNX")
    onnx, fp16 = export(bundle)
    say(f"[4/6] calibrating on {calibration_n} other synthetic images (JPEG at random qualities) -> "
        f"{out / 'calibration-data'}")  # fmt: skip
    calibrate_model(out, onnx, calibration_n, workers)
    folder = scan_folder(out, data)
    say(f"[5/6] scanning {folder} (ONNX Runtime, FP32 then FP16)")
    reports = [out / "verdicts.csv", out / "verdicts.json"]
    summary = scan([str(folder)], str(onnx), reports, gradcam_dir=str(out / "gradcam"), workers=workers, quiet=True)
    fp16_report = out / "verdicts.fp16.csv"
    scan([str(folder)], str(fp16), [fp16_report], workers=workers, quiet=True, command_line="python -m synthsight.demo")
    say(f"[6/6] review page of the scan -> {out / 'review.html'}")
    page, shot = review_page(out, reports[1], workers)
    records = read_records(reports[0])[0]
    fp16_records = {r.path: r.verdict for r in read_records(fp16_report)[0]}
    labelled = [r for r in records if r.verdict in ("ai", "real")]  # decided: uncertain is counted apart
    correct = sum((r.verdict == "ai") == (os.sep + "ai" + os.sep in r.path) for r in labelled)
    agree = sum(fp16_records.get(r.path) == r.verdict for r in records)
    result = {
        "summary": summary.line,
        "correct": correct,
        "labelled": len(labelled),
        "fp16_agree": agree,
        "records": len(records),
        "counts": {v: sum(r.verdict == v for r in records) for v in ("ai", "uncertain", "real", "error")},
        "meaning": json.loads(reports[1].read_text(encoding="utf-8"))["manifest"]["verdicts"]["meaning"],
        "seconds": time.perf_counter() - t0,
        "review": page,
        "screenshot": shot,
    }
    report(out, bundle, onnx, fp16, result)
    return result


def review_page(out: Path, report_path: Path, workers: int | None) -> tuple[Path, Path | None]:
    """The scan's review page, and a screenshot of it when Chromium is there (the demo goes on without)."""
    from synthsight.errors import SynthsightError
    from synthsight.review.browser import find_chromium, screenshot
    from synthsight.review.page import ReviewConfig, write_review

    page = write_review(ReviewConfig([str(report_path)], str(out / "review.html"), workers=workers, quiet=True)).html
    if find_chromium() is None:
        say("      no screenshot of the page: chromium is not installed (Debian: apt-get install chromium)")
        return page, None
    try:
        return page, screenshot(page, out / "review.png")
    except SynthsightError as exc:
        say(f"      no screenshot of the page: {exc}")
        return page, None


def report(out: Path, bundle: Path, onnx: Path, fp16: Path, result: dict) -> None:
    say("")
    say(result["summary"])
    counts = result["counts"]
    say(
        f"{counts['ai']} ai, {counts['uncertain']} uncertain, {counts['real']} real: the decided verdicts match the "
        f"synthetic labels on {result['correct']}/{result['labelled']} images; FP16 ONNX agrees with FP32 on "
        f"{result['fp16_agree']}/{result['records']} files"
    )
    for verdict in ("ai", "uncertain", "real"):
        say(f"  {verdict}: {result['meaning'][verdict]}")
    say("the three broken files have 'error' records with the reason; nothing stopped the scan")
    say("")
    say("outputs:")
    for label, path in [
        ("model bundle (PyTorch)", bundle),
        ("calibration report", bundle / "calibration"),
        ("ONNX / FP16 ONNX", f"{onnx}, {fp16}"),
        ("CSV report", out / "verdicts.csv"),
        ("JSON report + run manifest", out / "verdicts.json"),
        ("FP16 scan CSV", out / "verdicts.fp16.csv"),
        ("Grad-CAM overlays (images called AI)", out / "gradcam"),
        ("review page (open it in a browser)", result["review"]),
        ("screenshot of the review page", result["screenshot"] or "(not made: no chromium)"),
        ("training history", bundle / "history.json"),
    ]:
        say(f"  {label:38s} {path}")
    say(f"done in {result['seconds']:.0f} s")
    say("")
    say(DISCLAIMER)


def main() -> None:
    try:
        run()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
