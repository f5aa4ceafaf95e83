"""A calibration from arrays: temperature, then per stratum the two thresholds and what they rest on.

The temperature is fitted on all the calibration images, and the thresholds are order statistics of the
same images' calibrated scores. Temperature scaling is monotone, so it picks the same images as the
thresholds' order statistics whatever T is: fitting T on the same set does not weaken the bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from synthsight.calibrate import bounds, stats
from synthsight.errors import UsageError
from synthsight.verdicts.rule import MARGIN, POOLED, Calibration, Rule


@dataclass(frozen=True)
class Targets:
    """What ``synthsight calibrate`` is asked for: the two rates, the confidence, the strata."""

    fpr: float = 0.01
    miss: float = 0.05
    confidence: float = 0.95
    by: tuple[str, ...] = ()

    @property
    def delta(self) -> float:
        return 1.0 - self.confidence

    def check(self) -> None:
        asked = (("--target-fpr", self.fpr), ("--target-miss", self.miss), ("--confidence", self.confidence))
        for name, value in asked:
            if not 0.0 < value < 1.0:
                raise UsageError(f"{name} must lie strictly between 0 and 1, got {value}")

    def needed(self) -> tuple[int, int]:
        """(real images, AI images) the asked bounds need at least (:func:`bounds.min_images`)."""
        return bounds.min_images(self.fpr, self.delta), bounds.min_images(self.miss, self.delta)


def fit_calibration(
    logits: np.ndarray,
    labels: np.ndarray,
    positive_index: int,
    targets: Targets,
    strata: Sequence[str] | None = None,
) -> Calibration:
    """Temperature and rules (pooled, plus one per stratum when ``targets.by``) for these images.

    Raises:
        UsageError: one class only, or too few images of a class for the asked bounds (one line each,
            saying how many are needed).
    """
    targets.check()
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    is_ai = labels == positive_index
    check_counts(int((~is_ai).sum()), int(is_ai.sum()), targets)
    temperature = stats.fit_temperature(logits, labels)
    scores = stats.positive_scores(logits, positive_index, temperature)
    rules = {POOLED: rule_for(scores, is_ai, targets)}
    if targets.by and strata is not None:
        keys = np.asarray(list(strata), dtype=object)
        for key in sorted(set(keys.tolist())):
            inside = keys == key
            rules[key] = rule_for(scores[inside], is_ai[inside], targets, fallback_ok=True)
    return Calibration(
        temperature=temperature, target_fpr=targets.fpr, target_miss=targets.miss, confidence=targets.confidence,
        rules=rules, by=tuple(targets.by), quality=stats.quality(logits, labels, positive_index, temperature),
    )  # fmt: skip


def rule_for(scores: np.ndarray, is_ai: np.ndarray, targets: Targets, fallback_ok: bool = False) -> Rule:
    """The thresholds of one group of images; a stratum too small for them gets a fallback Rule instead."""
    real, ai = scores[~is_ai], scores[is_ai]
    up = bounds.ai_threshold(real, targets.fpr, targets.delta)
    down = bounds.real_threshold(ai, targets.miss, targets.delta)
    if up is None or down is None:
        if not fallback_ok:
            check_counts(len(real), len(ai), targets)
        need_real, need_ai = targets.needed()
        return Rule(len(real), len(ai), fallback=f"{len(real)} real and {len(ai)} AI images: its own bounds need "
                    f"{need_real} and {need_ai}; the pooled thresholds judge it")  # fmt: skip
    (t_ai, fpr_bound, _), (t_real, miss_bound, _) = up, down
    separated = t_real >= t_ai
    if separated:
        # The bounds overlap: any cut between them keeps both (ai stays >= the old t_ai, real <= the old t_real);
        # the one nearest calibrated 0.5 leaves no uncertain band.
        cut = min(max(0.5, t_ai), t_real)
        t_ai, t_real = cut, cut - MARGIN
    return Rule(len(real), len(ai), t_ai, t_real, fpr_bound, miss_bound, separated)


def check_counts(n_real: int, n_ai: int, targets: Targets) -> None:
    """One class, or fewer images of a class than the asked bounds need: a UsageError (one line, exit 2)."""
    if not n_real or not n_ai:
        have = "real" if n_real else "AI-generated"
        raise UsageError(
            f"the calibration data holds {have} images only ({n_real + n_ai}): a calibration needs both real and "
            "AI-generated images, in class folders like those `train` reads"
        )
    need_real, need_ai = targets.needed()
    if n_real < need_real or n_ai < need_ai:
        raise UsageError(
            f"too few images for the asked bounds: {n_real} real and {n_ai} AI images; at most "
            f"{targets.fpr:.3g} false accusations and {targets.miss:.3g} misses at {targets.confidence:.3g} "
            f"confidence need at least {need_real} real and {need_ai} AI images (add images, or relax "
            "--target-fpr / --target-miss / --confidence)"
        )


def decided_accuracy(scores: np.ndarray, is_ai: np.ndarray, rule: Rule, single: float) -> dict[str, float]:
    """Accuracy on the decided verdicts, the share left uncertain, and a single threshold's accuracy on all."""
    ai, real = scores >= rule.t_ai, scores <= rule.t_real
    decided = ai | real
    right = (ai & is_ai) | (real & ~is_ai)
    return {
        "uncertain_share": float(1.0 - decided.mean()),
        "decided_accuracy": float(right[decided].mean()) if decided.any() else float("nan"),
        "single_threshold_accuracy": float(((scores >= single) == is_ai).mean()),
        "single_threshold": float(single),
    }
