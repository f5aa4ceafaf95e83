"""Temperature scaling and the measures of calibration: NLL, ECE (15 bins) and the Brier score.

Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017) divides the logits
by one number T > 0 chosen to minimise the negative log-likelihood of the labels. It is monotone, so it
never reorders images: AUC and every order-statistic threshold are unchanged; it only makes the numbers
mean what they say. ECE and Brier are measured on p(ai), the probability the records report (not the
top-label confidence): ECE = sum over 15 equal-width bins of (bin share) * |AI fraction - mean p(ai)|.
"""

from __future__ import annotations

import math

import numpy as np

from synthsight.verdicts.rule import MAX_LOGODDS

ECE_BINS = 15
# The search interval of T: wide enough for any trained network (overconfident ones need T of 2-5),
# narrow enough that a degenerate set (all logits equal) cannot send it to 0 or infinity.
T_BOUNDS = (0.01, 100.0)


def log_softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the class indices ``labels`` under ``softmax(logits / T)``."""
    logp = log_softmax(logits, temperature)
    return float(-logp[np.arange(len(labels)), np.asarray(labels, dtype=np.int64)].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T in ``T_BOUNDS`` of minimum NLL (scipy's bounded scalar search on log T); 1.0 when that is no better."""
    from scipy.optimize import minimize_scalar

    low, high = (math.log(b) for b in T_BOUNDS)
    found = minimize_scalar(
        lambda log_t: nll(logits, labels, math.exp(log_t)), bounds=(low, high), method="bounded",
        options={"xatol": 1e-5},
    )  # fmt: skip
    temperature = float(math.exp(found.x))
    return temperature if nll(logits, labels, temperature) < nll(logits, labels, 1.0) else 1.0


def positive_scores(logits: np.ndarray, positive_index: int, temperature: float = 1.0, clip: bool = True) -> np.ndarray:
    """p(positive) under ``softmax(logits / T)`` for a batch: :func:`synthsight.verdicts.rule.positive_probability`
    in numpy (equal to it within a few units in the last place)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    others = np.delete(z, positive_index, axis=1)
    top = others.max(axis=1)
    lo = z[:, positive_index] - (top + np.log(np.exp(others - top[:, None]).sum(axis=1)))
    if clip:
        lo = np.clip(lo, -MAX_LOGODDS, MAX_LOGODDS)
    return 1.0 / (1.0 + np.exp(-lo))


def ece(probs: np.ndarray, is_positive: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error of ``probs`` = p(positive) against the 0/1 truth, equal-width bins."""
    p = np.asarray(probs, dtype=np.float64)
    if not len(p):
        return math.nan
    which = np.minimum((p * bins).astype(np.int64), bins - 1)
    gap = np.bincount(which, weights=np.asarray(is_positive, dtype=np.float64) - p, minlength=bins)
    return float(np.abs(gap).sum() / len(p))  # sum_b n_b/n * |mean(y - p) in b|


def brier(probs: np.ndarray, is_positive: np.ndarray) -> float:
    """Mean squared difference between p(positive) and the 0/1 truth."""
    p = np.asarray(probs, dtype=np.float64)
    return float(np.mean((p - np.asarray(is_positive, dtype=np.float64)) ** 2)) if len(p) else math.nan


def reliability(probs: np.ndarray, is_positive: np.ndarray, bins: int = ECE_BINS) -> list[dict]:
    """Per bin: its range, count, mean p(positive) and positive fraction (the diagram's points)."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(is_positive, dtype=np.float64)
    which = np.minimum((p * bins).astype(np.int64), bins - 1)
    out = []
    for b in range(bins):
        inside = which == b
        n = int(inside.sum())
        out.append({
            "low": b / bins, "high": (b + 1) / bins, "n": n,
            "mean_score": float(p[inside].mean()) if n else None,
            "positive_fraction": float(y[inside].mean()) if n else None,
        })  # fmt: skip
    return out


def quality(logits: np.ndarray, labels: np.ndarray, positive_index: int, temperature: float) -> dict[str, float]:
    """NLL, ECE and Brier before (T = 1) and after temperature scaling, on the given images."""
    is_pos = np.asarray(labels) == positive_index
    before = positive_scores(logits, positive_index, 1.0, clip=False)
    after = positive_scores(logits, positive_index, temperature)
    return {
        "nll_before": nll(logits, labels, 1.0), "nll_after": nll(logits, labels, temperature),
        "ece_before": ece(before, is_pos), "ece_after": ece(after, is_pos),
        "brier_before": brier(before, is_pos), "brier_after": brier(after, is_pos),
    }  # fmt: skip
