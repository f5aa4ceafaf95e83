"""Evaluation: metrics (scikit-learn), a threshold for a target false-positive rate, plots, perturbations.

Scores are the softmax probability of the positive (AI-generated) class, computed exactly as
the scanner does (``runtime.base.scores_from_logits``); an image is called AI when
``score >= threshold``.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from synthsight.errors import UsageError
from synthsight.runtime.base import scores_from_logits
from synthsight.spec import ModelSpec


def compute_metrics(
    labels: np.ndarray,
    logits: np.ndarray,
    spec: ModelSpec,
    threshold: float | None = None,
    generators: Sequence[str] | None = None,
) -> dict:
    """Accuracy, per-class precision/recall/F1, ROC-AUC, AP, confusion matrix (+ per generator).

    ``labels`` are class indices in ``spec.classes`` order; ``threshold`` defaults to ``spec.threshold``.
    """
    labels = np.asarray(labels, dtype=np.int64)
    scores = scores_from_logits(logits, spec.positive_index) if len(labels) else np.zeros(0)
    thr = spec.threshold if threshold is None else threshold
    out = _binary_metrics(labels, scores, spec, thr)
    if generators is not None and len(generators) == len(labels) and any(generators):
        gens = np.asarray(generators)
        out["per_generator"] = {
            g: _binary_metrics(labels[gens == g], scores[gens == g], spec, thr, brief=True) for g in sorted(set(gens))
        }
    return out


def _binary_metrics(labels: np.ndarray, scores: np.ndarray, spec: ModelSpec, thr: float, brief: bool = False) -> dict:
    from sklearn.metrics import (
        average_precision_score,
        confusion_matrix,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    pos, classes = spec.positive_index, spec.classes
    other = next(i for i in range(len(classes)) if i != pos)
    # Binary decision by threshold on the AI score; with two classes the other class is the rest.
    pred = np.where(scores >= thr, pos, other)
    is_pos, is_neg = labels == pos, labels != pos
    out: dict = {"n": int(len(labels)), "threshold": float(thr)}
    out["accuracy"] = float((pred == labels).mean()) if len(labels) else math.nan
    both = bool(is_pos.any() and is_neg.any())
    out["roc_auc"] = float(roc_auc_score(is_pos, scores)) if both else None
    out["average_precision"] = float(average_precision_score(is_pos, scores)) if both else None
    out["false_positive_rate"] = float((pred[is_neg] == pos).mean()) if is_neg.any() else None
    out["true_positive_rate"] = float((pred[is_pos] == pos).mean()) if is_pos.any() else None
    if brief:
        return out
    idx = list(range(len(classes)))
    p, r, f, support = precision_recall_fscore_support(labels, pred, labels=idx, zero_division=0)
    out["precision"] = {c: float(p[i]) for i, c in enumerate(classes)}
    out["recall"] = {c: float(r[i]) for i, c in enumerate(classes)}
    out["f1"] = {c: float(f[i]) for i, c in enumerate(classes)}
    out["support"] = {c: int(support[i]) for i, c in enumerate(classes)}
    out["confusion_matrix"] = confusion_matrix(labels, pred, labels=idx).tolist()  # rows: true, cols: predicted
    out["classes"] = list(classes)
    return out


def threshold_for_fpr(scores_real: np.ndarray, target_fpr: float) -> float:
    """Smallest threshold whose false-positive rate on these real-image scores is <= ``target_fpr``.

    An image is called AI when ``score >= threshold``: at most ``floor(target * n)`` real scores
    may reach it, so the threshold sits just above the next-highest real score.
    """
    if not 0.0 <= target_fpr < 1.0:
        raise UsageError(f"--target-fpr must be in [0, 1), got {target_fpr}")
    real = np.sort(np.asarray(scores_real, dtype=np.float64))[::-1]
    if not len(real):
        raise UsageError("cannot choose a threshold for a false-positive rate: the data has no real images")
    allowed = math.floor(target_fpr * len(real) + 1e-9)
    if allowed >= len(real):
        return 0.0
    return float(min(1.0, np.nextafter(real[allowed], np.inf)))


# --- perturbations: applied to the decoded image, before the model's resize ---------------------


@dataclass
class Perturbation:
    name: str  # e.g. "jpeg=75", "resize=0.5"
    apply: Callable  # PIL.Image -> PIL.Image


def parse_perturbations(values: Sequence[str]) -> list[Perturbation]:
    """``["jpeg=90,75,50", "resize=0.5"]`` -> one Perturbation per value."""
    out: list[Perturbation] = []
    for text in values:
        kind, _, args = text.partition("=")
        kind = kind.strip().lower()
        if kind not in ("jpeg", "resize") or not args:
            raise UsageError(f"bad --perturb {text!r}: use jpeg=Q[,Q...] or resize=F[,F...]")
        for arg in args.split(","):
            try:
                value = float(arg)
            except ValueError:
                raise UsageError(f"bad --perturb value {arg!r} in {text!r}") from None
            if kind == "jpeg":
                if not 1 <= value <= 100 or value != int(value):
                    raise UsageError(f"--perturb jpeg quality must be an integer in 1..100, got {arg}")
                out.append(Perturbation(f"jpeg={int(value)}", _jpeg(int(value))))
            else:
                if not 0.0 < value <= 1.0:
                    raise UsageError(f"--perturb resize factor must be in (0, 1], got {arg}")
                out.append(Perturbation(f"resize={value:g}", _downscale(value)))
    return out


def _jpeg(quality: int) -> Callable:
    def apply(im):
        from PIL import Image

        buf = io.BytesIO()
        im.convert("RGB").save(buf, format="JPEG", quality=quality)
        buf.seek(0)
        with Image.open(buf) as out:
            return out.convert("RGB")

    return apply


def _downscale(factor: float) -> Callable:
    def apply(im):
        from PIL import Image

        w, h = im.size
        return im.resize((max(1, round(w * factor)), max(1, round(h * factor))), Image.Resampling.BILINEAR)

    return apply


@dataclass
class EvalResult:
    metrics: dict
    rows: dict[str, dict] = field(default_factory=dict)  # perturbation name -> metrics
    tiers: dict[str, dict] = field(default_factory=dict)  # eval --tiers: clean / web / hard (train/tiers.py)

    def to_json(self) -> str:
        extra = {"tiers": self.tiers} if self.tiers else {}
        return json.dumps({**self.metrics, "perturbations": self.rows, **extra}, indent=2)
