"""The finite-sample threshold rule: with confidence 1 - δ, at most ε of real images are called AI.

The rule (a one-sided binomial tolerance bound on order statistics, Wilks 1941; the "PAC" or
training-conditional form of split conformal prediction, Vovk 2012): of n calibration reals, let m be the
largest count with ``P(Binomial(n, ε) <= m) <= δ``, and put ``t_ai`` just above the (n - m)-th smallest real
score, so m calibration reals at most lie above it. For a new real image exchangeable with them,

    P_calibration( P(score >= t_ai | real) > ε ) <= P(Binomial(n, ε) <= m) <= δ,

for any score distribution, ties included (``docs/guarantees.md`` gives the argument). Equivalently:
``t_ai`` is the lowest threshold whose one-sided Clopper-Pearson upper confidence bound on the
false-accusation rate, given the m calibration reals at or above it, is at most ε. The miss side is the
same rule on the AI images from below (``t_real``).

Why not the plain conformal quantile ``ceil((n + 1)(1 - ε))``: it bounds the *expected* rate over
calibration draws, so for the one calibration set an analyst has, the realised rate exceeds ε about half
the time. The tolerance rule is the one that can be stated about this calibration set.
"""

from __future__ import annotations

import math

import numpy as np

from synthsight.verdicts.rule import MARGIN


def min_images(eps: float, delta: float) -> int:
    """The fewest images for which any threshold satisfies rate <= ``eps`` with confidence 1 - ``delta``.

    With m = 0 allowed above the threshold the bound is ``(1 - eps) ** n <= delta``; fewer images cannot
    meet it whatever the threshold (at 1 % and 95 % confidence: 299).
    """
    _check(eps, delta)
    n = max(1, math.ceil(math.log(delta) / math.log1p(-eps)))
    while (1.0 - eps) ** n > delta:  # the logarithms' rounding, either way
        n += 1
    while n > 1 and (1.0 - eps) ** (n - 1) <= delta:
        n -= 1
    return n


def allowed_exceedances(n: int, eps: float, delta: float) -> int | None:
    """The largest m with ``P(Binomial(n, eps) <= m) <= delta``; None when even m = 0 fails (too few images)."""
    from scipy.stats import binom

    _check(eps, delta)
    if n < 1:
        return None
    cdf = binom.cdf(np.arange(n + 1), n, eps)
    ok = np.flatnonzero(cdf <= delta)
    return int(ok[-1]) if len(ok) else None


def clopper_pearson_upper(m: int, n: int, confidence: float) -> float:
    """One-sided Clopper-Pearson upper bound on a rate, after m events in n trials."""
    from scipy.stats import beta

    return 1.0 if m >= n else float(beta.ppf(confidence, m + 1, n - m))


def ai_threshold(real_scores: np.ndarray, eps: float, delta: float) -> tuple[float, float, int] | None:
    """(t_ai, its Clopper-Pearson bound on the false-accusation rate, m); None when the reals are too few.

    Verdict ``ai`` means ``score >= t_ai``; at most m calibration reals reach it.
    """
    real = np.sort(np.asarray(real_scores, dtype=np.float64))
    m = allowed_exceedances(len(real), eps, delta)
    if m is None:
        return None
    return float(real[len(real) - m - 1] + MARGIN), clopper_pearson_upper(m, len(real), 1.0 - delta), m


def real_threshold(ai_scores: np.ndarray, eps: float, delta: float) -> tuple[float, float, int] | None:
    """(t_real, its Clopper-Pearson bound on the miss rate, m); None when the AI images are too few.

    Verdict ``real`` means ``score <= t_real``; at most m calibration AI images lie at or below it.
    """
    ai = np.sort(np.asarray(ai_scores, dtype=np.float64))
    m = allowed_exceedances(len(ai), eps, delta)
    if m is None:
        return None
    return float(ai[m] - MARGIN), clopper_pearson_upper(m, len(ai), 1.0 - delta), m


def _check(eps: float, delta: float) -> None:
    if not 0.0 < eps < 1.0 or not 0.0 < delta < 1.0:
        raise ValueError(f"rate {eps} and 1 - confidence {delta} must both lie in (0, 1)")
