"""Metrics, the FPR threshold and perturbation parsing (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from synthsight.errors import UsageError
from synthsight.spec import ModelSpec
from synthsight.train.metrics import compute_metrics, parse_perturbations, threshold_for_fpr


def _logits_for(scores: np.ndarray) -> np.ndarray:
    """Two-class logits whose softmax gives ``scores`` for class 0 (ai)."""
    scores = np.clip(scores, 1e-9, 1 - 1e-9)
    return np.stack([np.log(scores), np.log(1 - scores)], axis=1)


@pytest.mark.parametrize("target", [0.0, 0.01, 0.05, 0.2, 0.5])
@pytest.mark.parametrize("seed", [0, 1])
def test_threshold_meets_the_target_and_is_the_smallest_that_does(target, seed):
    rng = np.random.default_rng(seed)
    real = np.round(rng.beta(2, 5, size=337), 3)  # rounding makes ties
    thr = threshold_for_fpr(real, target)
    assert (real >= thr).mean() <= target
    lower = real[real < thr]
    if len(lower):  # moving down to the next real score would break the target
        assert (real >= lower.max()).mean() > target


def test_threshold_refusals():
    with pytest.raises(UsageError):
        threshold_for_fpr(np.array([]), 0.01)
    with pytest.raises(UsageError):
        threshold_for_fpr(np.array([0.5]), 1.5)


def test_compute_metrics_by_hand():
    spec = ModelSpec(arch="convnext_atto")
    labels = np.array([0, 0, 0, 1, 1, 1, 1])  # 3 ai, 4 real
    scores = np.array([0.9, 0.8, 0.3, 0.6, 0.2, 0.1, 0.05])
    m = compute_metrics(labels, _logits_for(scores), spec, threshold=0.5, generators=list("aaabbbb"))
    assert m["n"] == 7 and m["threshold"] == 0.5
    assert m["confusion_matrix"] == [[2, 1], [1, 3]]
    assert m["accuracy"] == pytest.approx(5 / 7)
    assert m["precision"]["ai"] == pytest.approx(2 / 3) and m["recall"]["real"] == pytest.approx(3 / 4)
    assert m["false_positive_rate"] == pytest.approx(1 / 4)
    assert m["roc_auc"] == pytest.approx(11 / 12)
    for key in ("f1", "average_precision", "per_generator"):
        assert key in m
    assert m["per_generator"]["a"]["roc_auc"] is None  # one class only: AUC undefined, not a crash


def test_perturbation_parsing_and_effect():
    perts = parse_perturbations(["jpeg=90,75", "resize=0.5"])
    assert [p.name for p in perts] == ["jpeg=90", "jpeg=75", "resize=0.5"]
    im = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8))
    assert perts[2].apply(im).size == (30, 20)
    recompressed = np.asarray(perts[1].apply(im), dtype=int)
    assert recompressed.shape == (40, 60, 3) and np.abs(recompressed - np.asarray(im, dtype=int)).mean() > 1
    for bad in ("jpeg=0", "jpeg=abc", "resize=2", "blur=3", "jpeg"):
        with pytest.raises(UsageError):
            parse_perturbations([bad])
