"""Which header fact alone tells the classes apart: a metadata-only classifier per fact, cross-validated AUC.

A detector trained on a folder where the real images are JPEG and the generated ones PNG can learn the file
format instead of the generator (Grommelt et al., "Fake or JPEG?", 2024). Each fact is given alone to a
shallow decision tree (categorical facts one-hot, numeric ones as they are, a missing value as its own
code); its out-of-fold probabilities give the AUC. An AUC of 1 means the fact alone separates the classes;
0.5 means it says nothing. The tree is shallow and its leaves large so that a fact with many distinct
values (file size) cannot score by memorising files.

``file_size`` is information, never a warning and not in the all-facts classifier: how many bytes a picture
takes follows its pixels as much as its container (on the synthetic set the generator's checkerboard alone
costs ~30 % more bytes, AUC 1.0, with format, size and quality identical), and its container part is what
``format``, ``jpeg_quality`` and ``chroma_subsampling`` measure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from synthsight.audit.facts import FileFacts

SHORTCUT_AUC = 0.8  # the bar: a fact at or above it is a warning
FOLDS = 5
MIN_PER_CLASS = 5  # fewer files of a class: no classifier (the AUC would be noise)


@dataclass(frozen=True)
class Feature:
    name: str
    kind: str  # "categorical" | "numeric"
    get: Callable[[FileFacts], object]
    advice: str
    warns: bool = True  # False: information only (see the module's docstring)


_SIZE = "image size can be learned instead of the generator; train with --align size (native windows)"
_CODEC = "a detector can learn the file format instead of the generator; train with --augment web or --align format"
_META = "the model never sees metadata, but it goes with how the files were made; train with --augment web"
FEATURES = (
    Feature("format", "categorical", lambda f: f.format, _CODEC),
    Feature("width", "numeric", lambda f: f.width, _SIZE),
    Feature("height", "numeric", lambda f: f.height, _SIZE),
    Feature("aspect_ratio", "numeric", lambda f: round(f.aspect, 3), _SIZE),
    Feature("megapixels", "numeric", lambda f: f.megapixels, _SIZE),
    Feature("file_size", "numeric", lambda f: f.file_bytes, "", warns=False),
    Feature("jpeg_quality", "numeric", lambda f: -1 if f.jpeg_quality is None else f.jpeg_quality, _CODEC),
    Feature("chroma_subsampling", "categorical", lambda f: f.subsampling or "none", _CODEC),
    Feature("exif", "categorical", lambda f: f.exif, _META),
    Feature("camera_make", "categorical", lambda f: f.camera_make or "none", _META),
    Feature("icc_profile", "categorical", lambda f: f.icc, _META),
    Feature("bit_depth", "numeric", lambda f: f.bit_depth, _CODEC),
    Feature("mode", "categorical", lambda f: f.mode, _CODEC),
)
FEATURE_NAMES = tuple(f.name for f in FEATURES)


def matrix(files: list[FileFacts], feature: Feature) -> np.ndarray:
    """The feature's columns for ``files``: one-hot for a categorical fact, the value for a numeric one."""
    values = [feature.get(f) for f in files]
    if feature.kind == "numeric":
        return np.asarray(values, dtype=np.float64).reshape(-1, 1)
    levels = sorted({str(v) for v in values})
    index = {v: i for i, v in enumerate(levels)}
    out = np.zeros((len(values), len(levels)), dtype=np.float64)
    out[np.arange(len(values)), [index[str(v)] for v in values]] = 1.0
    return out


def cross_validated_auc(x: np.ndarray, y: np.ndarray, seed: int = 0, depth: int = 3) -> float:
    """Out-of-fold ROC-AUC of a shallow tree on ``x``; 0.5 when ``x`` is constant."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.tree import DecisionTreeClassifier

    if np.all(x == x[:1]):
        return 0.5
    folds = min(FOLDS, int(np.bincount(y).min()))
    leaf = max(5, len(y) // 50)
    tree = DecisionTreeClassifier(max_depth=depth, min_samples_leaf=leaf, random_state=seed)
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return float(np.mean(cross_val_score(tree, x, y, cv=cv, scoring="roc_auc")))


def classify(files: list[FileFacts], classes: tuple[str, str]) -> dict:
    """Per-fact and all-facts AUCs and the findings (facts at or above :data:`SHORTCUT_AUC`).

    ``classes`` is (positive, negative). Returns ``{"auc": {...}, "all": auc, "findings": [...]}``, or
    ``{"skipped": why}`` when a class has too few readable files for a cross-validation.
    """
    counts = Counter(f.label for f in files)
    short = [c for c in classes if counts[c] < MIN_PER_CLASS]
    if short:
        return {"skipped": f"class {', '.join(short)} has fewer than {MIN_PER_CLASS} readable files: no classifier"}
    files = [f for f in files if f.label in classes]
    y = np.asarray([f.label == classes[0] for f in files], dtype=np.int64)
    columns = {feat.name: matrix(files, feat) for feat in FEATURES}
    auc = {name: round(cross_validated_auc(x, y), 4) for name, x in columns.items()}
    warning = [feat for feat in FEATURES if feat.warns]
    together = round(cross_validated_auc(np.hstack([columns[feat.name] for feat in warning]), y, depth=5), 4)
    findings = [finding(feat, auc[feat.name], files, classes) for feat in warning if auc[feat.name] >= SHORTCUT_AUC]
    information = [feat.name for feat in FEATURES if not feat.warns]
    return {"auc": auc, "all": together, "information_only": information,
            "findings": sorted(findings, key=lambda d: -d["auc"])}


def finding(feature: Feature, auc: float, files: list[FileFacts], classes: tuple[str, str]) -> dict:
    """One warning: the fact, its AUC and what each class looks like by it, as one sentence."""
    parts = [_describe(feature, [f for f in files if f.label == c], c) for c in reversed(classes)]
    line = f"{feature.name} separates the classes (AUC {auc:.2f}): {', '.join(parts)} — {feature.advice}"
    return {"feature": feature.name, "auc": auc, "message": line}


def _describe(feature: Feature, files: list[FileFacts], label: str) -> str:
    values = [feature.get(f) for f in files]
    if feature.kind == "categorical":
        value, n = Counter(str(v) for v in values).most_common(1)[0]
        return f"{label} {100 * n / len(values):.0f} % {value}"
    numbers = np.asarray(values, dtype=np.float64)
    missing = float(np.mean(numbers < 0))  # jpeg_quality's code for "not a JPEG"
    if missing > 0.5:
        return f"{label} {100 * missing:.0f} % not JPEG"
    return f"{label} median {float(np.median(numbers[numbers >= 0])):.4g}"
