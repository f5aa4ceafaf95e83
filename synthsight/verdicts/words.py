"""What each verdict of a scan means, in words, for its run manifest (stdlib only).

A verdict is a claim someone may act on: the manifest says what ``ai``, ``uncertain``, ``real``, ``error`` and
``skipped`` mean for this run, what the guarantee rests on, and when there is none (an uncalibrated model, or
``--threshold`` forcing one cut).
"""

from __future__ import annotations

from typing import Any

from synthsight.verdicts.rule import POOLED, Calibration

ERROR = "the file could not be read or decoded (the error column says why): no verdict"
SKIPPED = "not judged: not an image, or not a file the scan reads (the error column says why)"
ASSUMES = (
    "The bounds hold for images exchangeable with the calibration images: drawn the way they were (same kinds of "
    "sources, cameras, generators, formats and re-encodings), in no particular order. Where the archive's images "
    "differ, each statement is about images like the calibration set only. Each holds with the stated confidence "
    "over the draw of the calibration set, on its own (both together: at least 1 - 2 x (1 - confidence)); it is a "
    "rate over many images, not a probability for one file."
)


def pct(rate: float) -> str:
    return f"{100 * rate:.3g} %"


def meaning(
    calibration: Calibration | None, threshold: float, threshold_source: str, forced: bool
) -> dict[str, Any]:
    """The manifest's ``verdicts`` block: ``meaning`` per verdict, ``guarantee`` and ``assumes``."""
    if calibration is not None and not forced:
        return _calibrated(calibration)
    if calibration is not None:
        why = f"--threshold {threshold:g} replaces the calibrated thresholds, so their bounds no longer apply"
        score = "calibrated score"
    else:
        why = "the model is not calibrated (run synthsight calibrate): how often a verdict is wrong is not bounded"
        score = "score"
    return {
        "calibrated": calibration is not None, "guarantee": f"none: {why}", "assumes": None,
        "meaning": {
            "ai": f"{score} >= {threshold:g} ({threshold_source}); no bound on how often real photographs get it",
            "real": f"{score} < {threshold:g}; no bound on how often AI-generated images get it",
            "error": ERROR, "skipped": SKIPPED,
        },
    }  # fmt: skip


def _calibrated(c: Calibration) -> dict[str, Any]:
    data = c.data or {}
    where = f"{data.get('folder', '?')}, {c.created[:10] or 'undated'}"
    conf = pct(c.confidence)
    pooled = c.pooled
    ai = (f"at most {pct(c.target_fpr)} of real photographs like the calibration set are called ai ({conf} "
          f"confidence; {pooled.n_real:,} real images of {where})")  # fmt: skip
    real = (f"at most {pct(c.target_miss)} of AI-generated images like the calibration set are called real ({conf} "
            f"confidence; {pooled.n_ai:,} AI images of {where})")  # fmt: skip
    uncertain = (f"the calibrated score lies between t_real and t_ai ({pooled.t_real:.4g} and {pooled.t_ai:.4g} "
                 "pooled): neither claim can be made at these error rates; a person must look")  # fmt: skip
    if pooled.separated:
        uncertain = "none on the calibration set: its two bounds overlapped, so one cut separates ai from real"
    out: dict[str, Any] = {
        "calibrated": True,
        "guarantee": f"false accusations <= {pct(c.target_fpr)} and misses <= {pct(c.target_miss)}, each at {conf} "
        "confidence (binomial tolerance bound on the calibration set, docs/guarantees.md)",
        "assumes": ASSUMES,
        "meaning": {"ai": ai, "uncertain": uncertain, "real": real, "error": ERROR, "skipped": SKIPPED},
    }
    if c.by:
        out["strata"] = {name: _stratum(name, rule, c) for name, rule in c.rules.items() if name != POOLED}
        out["meaning"]["strata"] = (f"thresholds per {' and '.join(c.by)} (record field stratum); each stratum's "
                                    "statement is about images of that stratum")  # fmt: skip
    return out


def _stratum(name: str, rule, c: Calibration) -> str:
    if not rule.own:
        return f"{name}: the pooled thresholds ({rule.fallback}); their bound is over all strata together"
    return (f"{name}: ai at >= {rule.t_ai:.4g}, real at <= {rule.t_real:.4g}, from {rule.n_real:,} real and "
            f"{rule.n_ai:,} AI images")  # fmt: skip
