"""`synthsight eval`: score a model on labelled folders, choose a threshold, test robustness, plot.

The clean pass feeds the model exactly what the scanner would (``preprocess.decode``; a tiles model: its
tiles, aggregated by the bundle's rule as the scan aggregates them, so eval figures are scan figures). Each
``--perturb`` pass re-opens the file, applies the perturbation to the full decoded image
(JPEG re-compression or downscaling, in memory, what social media does to evidence) and then
the model's own resize.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from synthsight.artifacts import is_bundle
from synthsight.datalayout import bundle_images
from synthsight.errors import DecodeError, ModelFileError, UsageError
from synthsight.image.preprocess import PreprocessSpec, resize, to_rgb
from synthsight.image.read_window import DEFAULT_MAX_PIXELS
from synthsight.runtime.base import scores_from_logits
from synthsight.runtime.tiles import aggregate_all
from synthsight.spec import ModelSpec
from synthsight.train.data import DataIndex, ImageDataset, Sample, collate, collate_tiles, discover
from synthsight.train.metrics import (
    EvalResult,
    Perturbation,
    compute_metrics,
    parse_perturbations,
    threshold_for_fpr,
)


@dataclass
class EvalConfig:
    model: str
    data: str
    json_path: str | None = None
    plots: str | None = None
    target_fpr: float | None = None
    write_threshold: bool = False
    perturb: tuple[str, ...] | list[str] = field(default_factory=tuple)
    batch_size: int = 64
    device: str = "auto"
    workers: int | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_per_class: int | None = None  # evaluate on a seeded sample of at most N per class and generator
    seed: int = 42
    tiers: bool = False  # also the web and hard copies of train/tiers.py
    include_training: bool = False  # also score the files the model was trained on (optimistic figures)


def evaluate_model(config: EvalConfig) -> EvalResult:
    """Metrics on the evaluation images of ``config.data`` (its val/test split, or all of it when unsplit)."""
    perturbations = parse_perturbations(config.perturb)
    if config.write_threshold and not is_bundle(config.model):
        raise UsageError(f"--write-threshold needs a model bundle directory, not {config.model}")
    infer, spec, close = _open_model(config)
    try:
        index = discover(
            config.data, spec.preprocess, config.seed, val_fraction=0.0, workers=config.workers,
            max_pixels=config.max_pixels, require_val=False, max_per_class=config.max_per_class,
        )  # fmt: skip
        samples, scored, left_out = held_out(index.val or index.train, spec, config)
        generators = [s.generator for s in samples]
        labels, logits = _predict(infer, ImageDataset(samples, spec.preprocess, index.cache), config, spec)
        threshold, source = spec.threshold, spec.threshold_source
        if config.target_fpr is not None:
            real = scores_from_logits(logits, spec.positive_index)[labels != spec.positive_index]
            threshold = threshold_for_fpr(real, config.target_fpr)
            held = " the model did not train on" if left_out else ""
            source = f"target FPR {config.target_fpr:g} on {len(real)} real images of {config.data}{held}"
        metrics = compute_metrics(labels, logits, spec, threshold, generators)
        metrics.update(threshold_source=source, model=str(config.model), data=str(config.data))
        metrics.update(scored=scored, training_files_left_out=left_out)
        metrics.update(excluded_files=len(index.bad), layout=index.layout)
        result = EvalResult(metrics)
        for pert in perturbations:
            dataset = PerturbedDataset(samples, spec.preprocess, pert, config.max_pixels)
            p_labels, p_logits = _predict(infer, dataset, config, spec)
            result.rows[pert.name] = compute_metrics(p_labels, p_logits, spec, threshold, generators=None)
        if config.tiers:
            result.tiers = _tiers(infer, samples, spec, config, labels, logits)
    finally:
        close()
    if config.write_threshold:
        _write_threshold(config.model, threshold, source, metrics)
    _write_outputs(config, result, index, labels, logits, spec)
    return result


def held_out(samples: list[Sample], spec: ModelSpec, config: EvalConfig) -> tuple[list[Sample], str, int]:
    """(the samples to score, what they are in words, how many training files were left out).

    A model is surest of what it was trained on: scoring those files (and choosing a threshold on them)
    would report figures no new image earns. The files the bundle trained on are found again from its
    ``spec.data`` (:func:`synthsight.datalayout.bundle_images`) and left out, unless ``include_training``.
    """
    recorded = bundle_images(spec)
    data = config.data
    if recorded.missing:
        unknown = f"which ones the model trained on is unknown: {recorded.missing}"
        return samples, f"{len(samples)} images of {data} ({unknown})", 0
    trained = {os.path.realpath(p) for p in recorded.train}
    kept = [s for s in samples if os.path.realpath(s.path) not in trained]
    n_train = len(samples) - len(kept)
    if config.include_training and n_train:
        if config.target_fpr is not None or config.write_threshold:
            flag = "--write-threshold" if config.target_fpr is None else "--target-fpr"
            raise UsageError(
                f"{flag}: {n_train} of the {len(samples)} images are the model's training images, and a threshold "
                "chosen on them would not hold for new images: drop --include-training"
            )
        return samples, f"{len(samples)} images of {data}, {n_train} of them training images (optimistic)", 0
    if not kept:
        raise UsageError(
            f"{data}: all {len(samples)} images are the model's training images, nothing held out to evaluate "
            "(name a folder of other images, or pass --include-training to score them anyway)"
        )
    if not n_train:
        return kept, f"{len(kept)} images of {data}, none of them training images", 0
    what = f"{len(kept)} images of {data} the model did not train on ({n_train} training images left out)"
    return kept, what, n_train


def _open_model(config: EvalConfig) -> tuple[Callable[[np.ndarray], np.ndarray], ModelSpec, Callable[[], None]]:
    """Every model runs through runtime.open_backend, as a scan runs it: a bundle on PyTorch at fp32 (as it was
    trained and validated), an exported file exactly as exported (no precision choice)."""
    from synthsight.runtime import open_backend

    if is_bundle(config.model):
        backend = open_backend(config.model, backend="torch", device=config.device, precision="fp32")
    else:
        backend = open_backend(config.model, device=config.device, precision=None)
    return backend.infer, backend.model_spec, backend.close


def _predict(infer, dataset, config: EvalConfig, spec: ModelSpec) -> tuple[np.ndarray, np.ndarray]:
    """(labels, one logit vector per image): a tiles model's tiles aggregated by its rule (runtime/tiles.py)."""
    import torch

    tiled = spec.preprocess.resize == "tiles"
    workers = 0 if getattr(dataset, "cache", None) is not None else (config.workers or 0)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=config.batch_size, shuffle=False, num_workers=workers,
        collate_fn=collate_tiles if tiled else collate,
    )  # fmt: skip
    labels, logits = [], []
    for batch in loader:
        pixels, y = batch[0], batch[1]
        if len(y):
            out = np.asarray(infer(pixels.numpy()), dtype=np.float32)
            if tiled:
                out = aggregate_all(out, batch[2], spec.preprocess, spec.positive_index)
            logits.append(out)
            labels.append(y.numpy())
    if not labels:
        raise ModelFileError(f"{config.data}: no readable images to evaluate")
    return np.concatenate(labels), np.concatenate(logits)


class PerturbedDataset(ImageDataset):
    """Like ImageDataset, with a perturbation between decoding the full image and the model's resize."""

    def __init__(self, samples: list[Sample], spec: PreprocessSpec, perturbation: Perturbation, max_pixels: int):
        super().__init__(samples, spec, None, max_pixels)
        self.perturbation = perturbation

    def pixels(self, i: int) -> np.ndarray:
        from PIL import Image, ImageOps

        try:
            with Image.open(self.samples[i].path) as im:
                if im.width * im.height > self.max_pixels:
                    raise DecodeError("too-large", f"{im.width}x{im.height} exceeds the pixel cap")
                im.load()
                rgb = to_rgb(ImageOps.exif_transpose(im) or im)
        except DecodeError:
            raise
        except Exception as exc:
            raise DecodeError("corrupt", str(exc)) from None
        return resize(self.perturbation.apply(rgb), self.spec)


def _tiers(infer, samples: list[Sample], spec: ModelSpec, config: EvalConfig, labels, logits) -> dict[str, dict]:
    """eval --tiers: the clean pass's figures, then the web and hard copies of the same files."""
    from synthsight.train.tiers import TIERS, copy_of, tier_metrics

    sizes = [_stored_size(s.path) for s in samples]
    out = {}
    for tier in TIERS:
        if tier.name != "clean":
            copies = PerturbedDataset(samples, spec.preprocess, copy_of(tier), config.max_pixels)
            labels, logits = _predict(infer, copies, config, spec)
        if len(labels) != len(sizes):
            raise ModelFileError(f"{config.data}: files changed while they were evaluated; run eval again")
        out[tier.name] = tier_metrics(tier, labels, logits, spec, sizes)
    return out


def _stored_size(path: str) -> tuple[str, int, int]:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.format or "", im.width, im.height
    except Exception:  # checked by discover(): a file that broke since is dropped by collate, and said above
        return "", 0, 0


def _write_threshold(model_path: str, threshold: float, source: str, metrics: dict) -> None:
    from synthsight.model import read_spec, write_spec

    spec = read_spec(model_path)
    spec.threshold, spec.threshold_source = threshold, source
    spec.metrics = {**spec.metrics, "threshold_eval": {k: metrics.get(k) for k in ("false_positive_rate", "n")}}
    write_spec(spec, model_path)


def _write_outputs(config: EvalConfig, result: EvalResult, index: DataIndex, labels, logits, spec: ModelSpec) -> None:
    if config.json_path:
        path = Path(config.json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(result.to_json() + "\n", encoding="utf-8")
        if index.bad:
            _write_excluded(path.parent / "excluded_files.csv", index.bad)
    if config.plots:
        from synthsight.train.plots import plot_confusion, plot_roc

        out = Path(config.plots)
        out.mkdir(parents=True, exist_ok=True)
        plot_confusion(result.metrics["confusion_matrix"], spec.classes, out / "confusion_matrix.png")
        plot_roc(labels == spec.positive_index, scores_from_logits(logits, spec.positive_index), out / "roc.png")
        if result.tiers:
            from synthsight.train.tiers import plot_tiers

            plot_tiers(result.tiers, out / "tiers.png")


def _write_excluded(path: Path, bad: list[tuple[str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "error"])
        writer.writerows(bad)


def format_report(result: EvalResult) -> str:
    """Human-readable summary: per-class table, confusion matrix, and one row per perturbation."""
    m = result.metrics
    lines = [f"scored {m['scored']}"] if m.get("scored") else []
    lines.append(
        f"{m['n']} images ({m['excluded_files']} excluded), threshold {m['threshold']:.4f} ({m['threshold_source']})"
    )
    lines.append(f"{'class':<8}{'precision':>10}{'recall':>8}{'f1':>8}{'support':>9}")
    for c in m["classes"]:
        lines.append(f"{c:<8}{m['precision'][c]:>10.4f}{m['recall'][c]:>8.4f}{m['f1'][c]:>8.4f}{m['support'][c]:>9}")
    cm = m["confusion_matrix"]
    lines.append("confusion (rows true, cols predicted " + "/".join(m["classes"]) + "): " + json.dumps(cm))
    lines.append(f"{'condition':<16}{'accuracy':>9}{'roc_auc':>9}{'ap':>8}{'fpr':>8}{'tpr':>8}")
    rows = {"clean": m, **result.rows}
    if "per_generator" in m:
        rows.update({f"gen:{g}": v for g, v in m["per_generator"].items()})
    for name, row in rows.items():
        lines.append(
            f"{name:<16}{_f(row['accuracy']):>9}{_f(row['roc_auc']):>9}{_f(row['average_precision']):>8}"
            f"{_f(row['false_positive_rate']):>8}{_f(row['true_positive_rate']):>8}"
        )
    if result.tiers:
        lines.append(f"{'tier':<16}{'bal.acc':>9}{'roc_auc':>9}{'fpr':>9}{'miss':>9}{'uncertain':>10}")
        for name, t in result.tiers.items():
            lines.append(f"{name:<16}{_f(t['balanced_accuracy']):>9}{_f(t['roc_auc']):>9}"
                         f"{_f(t.get('false_accusation_rate')):>9}{_f(t.get('miss_rate')):>9}"
                         f"{_f(t.get('uncertain_share')):>10}")  # fmt: skip
    return "\n".join(lines)


def _f(value) -> str:
    return "-" if value is None else f"{value:.4f}"
