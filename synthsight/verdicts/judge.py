"""The verdicts of one run: logit rows to (score, raw score, verdict, stratum), and what the run manifest says.

One :class:`Judge` per scan (local pool, Ray driver), per ``explain`` and per ``eval --tiers``: with a
calibration the verdict is ``ai | uncertain | real`` by the file's stratum (:mod:`.rule`); without one, or with
``--threshold X`` forcing one cut, it is ``ai | real`` at that threshold. A logit row that is not finite (a
broken export) is no verdict at all: an ``error`` outcome. Stdlib only, like the rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from synthsight.errors import ModelFileError
from synthsight.verdicts import words
from synthsight.verdicts.rule import AI, POOLED, REAL, decide, positive_probability, stratum_of

NOT_FINITE = "model-output: the model returned a non-finite logit (NaN or infinity) for this image: no verdict"


@dataclass(frozen=True)
class Outcome:
    verdict: str
    score: float | None = None
    raw_score: float | None = None
    stratum: str = ""
    error: str = ""


@dataclass(frozen=True)
class Stability:
    """How the verdict of a file fares across its re-encoded views (``scan --stability K``)."""

    stability: float  # share of views whose verdict equals the file's
    score_min: float
    score_max: float
    unstable: bool


class Judge:
    """The verdict rule of one run, from the model's spec and an optional forced ``threshold``."""

    def __init__(self, spec: Any, threshold: float | None = None):
        self.positive = spec.positive_index
        self.calibration = spec.calibrated()
        self.forced = threshold is not None
        self.threshold = float(spec.threshold if threshold is None else threshold)
        self.source = "--threshold" if self.forced else spec.threshold_source

    def outcome(self, logits: Sequence[float], fmt: str = "", width: int = 0, height: int = 0) -> Outcome:
        """The outcome of one logit row for a file of this format and stored size."""
        try:
            raw = positive_probability(logits, self.positive, 1.0, clip=False)
            cal = self.calibration
            if cal is None:
                return Outcome(AI if raw >= self.threshold else REAL, raw, raw)
            stratum = stratum_of(cal.by, fmt, width or 0, height or 0)
            score = positive_probability(logits, self.positive, cal.temperature)
        except ValueError:
            return Outcome("error", error=NOT_FINITE)
        if self.forced:
            verdict = AI if score >= self.threshold else REAL
        else:
            rule = cal.rule_for(stratum)
            verdict = decide(score, rule.t_ai, rule.t_real)
        return Outcome(verdict, score, raw, stratum if cal.by else "")

    def stability(self, clean: Outcome, views: list[Outcome]) -> Stability | None:
        """How ``views`` (outcomes of the same file's re-encodings) agree with ``clean``; None without views."""
        judged = [v for v in views if v.score is not None]
        if not views or clean.score is None:
            return None
        same = sum(v.verdict == clean.verdict for v in judged) / len(views)  # a non-finite view counts as a flip
        scores = [clean.score, *(v.score for v in judged)]
        return Stability(same, min(scores), max(scores), same < 1.0)

    def manifest(self) -> dict[str, Any]:
        """The run manifest's threshold, calibration and verdict meanings."""
        cal = self.calibration
        return {
            "threshold": self.threshold,
            "threshold_source": self.source,
            "threshold_forced": self.forced,
            "calibration": cal.to_dict() if cal is not None else None,
            "verdicts": words.meaning(cal, self.threshold, self.source, self.forced),
        }


def check_weights(spec: Any, weights_sha256: str, where: str) -> None:
    """Refuse a calibration fitted for other weights than ``weights_sha256`` (those of the file being run).

    ``weights_sha256`` is a bundle's weights hash, or for an export the hash of the weights it was made from
    (``spec.weights_sha256``); an empty one means unknown, which a calibrated model must never be.
    """
    cal = spec.calibrated()
    if cal is None:
        return
    if not weights_sha256 or cal.weights_sha256 != weights_sha256:
        made = f"weights {weights_sha256[:12]}" if weights_sha256 else "weights it does not name"
        raise ModelFileError(
            f"{where}: its calibration was fitted for weights {cal.weights_sha256[:12] or '(unnamed)'}, not the "
            f"{made}: run synthsight calibrate again for this model (or re-export it from its calibrated bundle)"
        )


__all__ = ["NOT_FINITE", "POOLED", "Judge", "Outcome", "Stability", "check_weights"]
