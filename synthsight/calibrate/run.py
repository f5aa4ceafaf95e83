"""`synthsight calibrate MODEL DATA`: fit the temperature and the two thresholds, store them, write the report.

MODEL is a bundle, or an exported file with its bundle beside it (the file's own logits are fitted: an INT8
file is calibrated as INT8). DATA holds labelled images in any layout `train` reads; images among the
bundle's recorded training files are refused (``--allow-training-data`` overrides). Every file is hashed and
decoded as a scan decodes it; the ones that fail are listed in the report and left out.

The report folder (default: ``calibration/`` beside the bundle's model.json) holds ``calibration.json``,
``calibration_scores.csv`` (every image: hash, class, stratum, raw and calibrated score, verdict),
``excluded_files.csv`` and ``reliability.png``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from synthsight.artifacts import bundle_paths, file_sha256, is_bundle, model_kind, onnx_spec
from synthsight.calibrate import stats
from synthsight.calibrate.data import CalibrationImages, find_images, score_images, training_overlap
from synthsight.calibrate.fit import Targets, check_counts, decided_accuracy, fit_calibration
from synthsight.calibrate.store import Stored, store_calibration
from synthsight.datalayout import CLASSES
from synthsight.errors import ModelFileError, UsageError
from synthsight.image.read_window import DEFAULT_MAX_PIXELS
from synthsight.runtime.made_from import mismatch, stale_export
from synthsight.spec import ModelSpec
from synthsight.verdicts.rule import POOLED, Calibration, stratum_of

SCORE_COLUMNS = ["path", "sha256", "class", "format", "width", "height", "stratum", "raw_score", "score", "verdict"]


@dataclass
class CalibrateConfig:
    model: str
    data: str
    target_fpr: float = 0.01
    target_miss: float = 0.05
    confidence: float = 0.95
    by: tuple[str, ...] = ()
    allow_training_data: bool = False
    report: str | None = None  # default: BUNDLE/calibration
    device: str = "auto"
    batch_size: int = 64
    workers: int | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS

    @property
    def targets(self) -> Targets:
        return Targets(self.target_fpr, self.target_miss, self.confidence, tuple(dict.fromkeys(self.by)))


@dataclass
class CalibrateResult:
    calibration: Calibration
    images: CalibrationImages
    report: Path
    stored: Stored
    notes: list[str] = field(default_factory=list)


def calibrate(config: CalibrateConfig, echo: Callable[[str], None] = print) -> CalibrateResult:
    """Fit, store and report a calibration (UsageError, exit 2, for one class or too few images)."""
    from synthsight.model import read_spec

    targets = config.targets
    targets.check()
    bundle, weights = locate(config.model)
    spec = read_spec(bundle)
    layout, found = find_images(config.data)
    _enough_files(found, targets)
    notes = _check_overlap(spec, [p for p, _ in found], config.allow_training_data)
    images, fitted_on = _score(config, spec, found, layout)
    calibration = _fit(spec, images, targets)
    calibration = replace(
        calibration, data=images.describe(), weights_sha256=weights, fitted_on=fitted_on,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )  # fmt: skip
    report = Path(config.report) if config.report else bundle_paths(bundle)[1].parent / "calibration"
    _write_report(report, calibration, images, spec, notes)
    stored = store_calibration(bundle, calibration.to_dict(), weights)
    for line in summary_lines(calibration, images, report, stored, notes):
        echo(line)
    return CalibrateResult(calibration, images, report, stored, notes)


def locate(model: str | Path) -> tuple[Path, str]:
    """(the bundle, its weights' SHA-256) for a bundle or an exported file with its bundle beside it."""
    from synthsight.model import read_spec

    path = Path(model)
    kind = model_kind(path)
    bundle = path if kind == "bundle" else path.parent
    if kind != "bundle" and not is_bundle(bundle):
        raise ModelFileError(
            f"{path}: no model bundle beside it (model.safetensors + model.json in {bundle}): the calibration is "
            "kept in the bundle's model.json, so calibrate needs it"
        )
    weights = file_sha256(bundle_paths(bundle)[0])
    why = mismatch(_exported_spec(path, kind), read_spec(bundle), weights) if kind != "bundle" else ""
    if why:
        raise stale_export(path, bundle, why, "calibrate")
    return bundle, weights


def _exported_spec(path: Path, kind: str) -> ModelSpec:
    if kind == "engine":
        from synthsight.runtime.engine_sidecar import read_sidecar

        return ModelSpec.from_dict(read_sidecar(path).get("spec"))
    return onnx_spec(path)


def _enough_files(found: list[tuple[str, int]], targets: Targets) -> None:
    """Before any decoding: one class, or fewer files than the bounds need, is one line and exit 2."""
    labels = [label for _, label in found]
    check_counts(labels.count(CLASSES.index("real")), labels.count(CLASSES.index("ai")), targets)


def _check_overlap(spec: ModelSpec, files: list[str], allowed: bool) -> list[str]:
    train, val, unchecked = training_overlap(spec, files)
    if unchecked:
        return [f"not checked against the training files: {unchecked}"]
    notes = []
    if train and not allowed:
        raise UsageError(
            f"{len(train)} of the calibration images are the bundle's training images (e.g. {train[0]}): a model "
            "is surest of what it was trained on, so the bounds would not hold; use other images, or pass "
            "--allow-training-data to calibrate on them anyway"
        )
    if train:
        notes.append(f"{len(train)} calibration images are training images (--allow-training-data): bounds optimistic")
    if val:
        notes.append(f"{len(val)} calibration images are the bundle's validation images (they chose the epoch)")
    return notes


def _score(config: CalibrateConfig, spec: ModelSpec, found, layout: str) -> tuple[CalibrationImages, dict]:
    """Decode and run every image through MODEL as given (a bundle in PyTorch fp32, an export as exported)."""
    from synthsight.runtime import open_backend

    bundle = model_kind(config.model) == "bundle"
    precision = "fp32" if bundle else None
    with open_backend(config.model, device=config.device, precision=precision) as backend:
        if backend.model_spec.classes != spec.classes:
            raise ModelFileError(f"{config.model}: its classes {backend.model_spec.classes} differ from the bundle's")
        images = score_images(
            config.data, found, layout, spec.preprocess, backend.infer, config.batch_size, config.workers,
            config.max_pixels,
        )  # fmt: skip
        fitted_on = {"file": Path(config.model).name, "runtime": backend.name, "precision": backend.precision,
                     "device": backend.device}  # fmt: skip
    return images, fitted_on


def _fit(spec: ModelSpec, images: CalibrationImages, targets: Targets) -> Calibration:
    if not set(CLASSES) <= set(spec.classes):
        raise ModelFileError(f"the model's classes {spec.classes} are not {CLASSES}: it cannot be calibrated")
    labels = np.array([spec.classes.index(CLASSES[label]) for label in images.labels], dtype=np.int64)
    strata = [stratum_of(targets.by, m.format, m.width or 0, m.height or 0) for m in images.metas]
    return fit_calibration(images.logits, labels, spec.positive_index, targets, strata)


def _write_report(folder: Path, calibration: Calibration, images: CalibrationImages, spec: ModelSpec, notes) -> None:
    from synthsight.calibrate.diagram import plot_reliability

    folder.mkdir(parents=True, exist_ok=True)
    is_ai = np.array([CLASSES[label] == spec.positive_class for label in images.labels])
    raw = stats.positive_scores(images.logits, spec.positive_index, 1.0, clip=False)
    score = stats.positive_scores(images.logits, spec.positive_index, calibration.temperature)
    rows = []
    for path, label, meta, logits in zip(images.paths, images.labels, images.metas, images.logits, strict=True):
        stratum = stratum_of(calibration.by, meta.format, meta.width or 0, meta.height or 0)
        judged = calibration.judge(logits.tolist(), spec.positive_index, stratum)
        rows.append([path, meta.sha256, CLASSES[label], meta.format, meta.width, meta.height, stratum,
                     f"{judged.raw_score:.6f}", f"{judged.score:.6f}", judged.verdict])  # fmt: skip
    with open(folder / "calibration_scores.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([SCORE_COLUMNS, *rows])
    with open(folder / "excluded_files.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["path", "error"], *images.excluded])
    pooled = calibration.pooled
    in_sample = decided_accuracy(score, is_ai, pooled, spec.threshold)
    plot_reliability(raw, score, is_ai, folder / "reliability.png", (pooled.t_real, pooled.t_ai))
    report = {
        "calibration": calibration.to_dict(), "in_sample": in_sample, "notes": notes,
        "excluded": [{"path": p, "error": e} for p, e in images.excluded],
    }  # fmt: skip
    (folder / "calibration.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def summary_lines(
    calibration: Calibration, images: CalibrationImages, report: Path, stored: Stored, notes: list[str]
) -> list[str]:
    """What the command prints: what it fitted on, the thresholds and their bounds, where it all went."""
    counts, q = images.counts(), calibration.quality
    excluded = f" ({len(images.excluded)} excluded, listed in {report / 'excluded_files.csv'})"
    lines = [
        f"calibrated on {counts['real']} real and {counts['ai']} AI images of {images.root}"
        + (excluded if images.excluded else ""),
        f"temperature {calibration.temperature:.4g}: NLL {q['nll_before']:.4f} -> {q['nll_after']:.4f}, "
        f"ECE {q['ece_before']:.4f} -> {q['ece_after']:.4f}, Brier {q['brier_before']:.4f} -> {q['brier_after']:.4f}",
    ]
    for name, rule in calibration.rules.items():
        label = POOLED if name == POOLED else f"stratum {name}"
        if not rule.own:
            lines.append(f"{label}: {rule.fallback}")
            continue
        band = "no uncertain band (the bounds overlap)" if rule.separated else "uncertain between"
        lines.append(
            f"{label}: ai at score >= {rule.t_ai:.6g} (false accusations <= {calibration.target_fpr:g}, bound "
            f"{rule.fpr_bound:.4g}), real at score <= {rule.t_real:.6g} (misses <= {calibration.target_miss:g}, "
            f"bound {rule.miss_bound:.4g}), {band}; {calibration.confidence:g} confidence on {rule.n_real} real "
            f"and {rule.n_ai} AI images"
        )
    lines += [f"note: {n}" for n in notes]
    lines.append(f"stored in {stored.spec_path}")
    lines += [f"updated {p.name} (same weights, not re-exported)" for p in stored.updated]
    lines += [f"left {p.name} alone: {why}" for p, why in stored.left_alone]
    lines += [f"could not update {p}: {why}; it keeps its earlier calibration (or none)" for p, why in stored.failed]
    lines.append(f"report: {report} (calibration.json, calibration_scores.csv, reliability.png)")
    return lines
