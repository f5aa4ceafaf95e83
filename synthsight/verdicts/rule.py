"""The calibration a model carries (``ModelSpec.calibration``) and the verdict rule (stdlib only).

A calibrated model turns one logit row into three numbers and a word:

- ``raw_score``: the model's softmax probability of the positive (AI) class, as an uncalibrated scan reports it;
- ``score``: the same probability after temperature scaling, ``softmax(logits / T)``, its log-odds clipped to
  ``±MAX_LOGODDS`` so a calibrated probability is never exactly 0 or 1;
- ``verdict``: ``ai`` when ``score >= t_ai``, ``real`` when ``score <= t_real``, ``uncertain`` in between,
  with ``t_ai`` / ``t_real`` of the file's stratum (``pooled`` unless the calibration was fitted ``--by``
  format and/or size, see :func:`stratum_of`).

``t_ai`` bounds the false-accusation rate and ``t_real`` the miss rate, each with the stated confidence, for
images exchangeable with the calibration images (docs/guarantees.md; fitted by :mod:`synthsight.calibrate.fit`).
Everything here is plain Python so a scan-only install, the spec and the review page can use it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from synthsight.errors import ModelFileError

CALIBRATION_VERSION = 1
METHOD = "temperature scaling (minimum NLL) + binomial tolerance thresholds (Clopper-Pearson, order statistics)"
AI, UNCERTAIN, REAL = "ai", "uncertain", "real"
VERDICTS = (AI, UNCERTAIN, REAL)
POOLED = "pooled"
MAX_LOGODDS = 25.0  # sigmoid(25) = 1 - 1.4e-11: room above any score for a threshold (MARGIN)
# Thresholds sit this far beyond the order statistic they rest on: far above rounding differences between
# numpy and this module, far below any score difference that means something.
MARGIN = 1e-12
STRATA_KINDS = ("format", "size")
FORMAT_STRATA = {"JPEG": "jpeg", "MPO": "jpeg", "PNG": "png"}  # Pillow format name -> stratum; the rest "other"
# Size bands by the stored image's longer side (generators write 512/768/1024 px; cameras far more).
SIZE_BANDS = ((512, "small"), (1024, "medium"))
LARGE = "large"


def format_stratum(fmt: str) -> str:
    return FORMAT_STRATA.get(str(fmt or "").upper(), "other")


def size_stratum(width: int, height: int) -> str:
    side = max(int(width or 0), int(height or 0))
    return next((name for limit, name in SIZE_BANDS if side <= limit), LARGE)


def stratum_of(by: Sequence[str], fmt: str, width: int, height: int) -> str:
    """The Mondrian stratum of a file: ``pooled``, or e.g. ``jpeg``, ``small``, ``jpeg/small``."""
    parts = []
    for kind in by:
        parts.append(format_stratum(fmt) if kind == "format" else size_stratum(width, height))
    return "/".join(parts) if parts else POOLED


@dataclass(frozen=True)
class Rule:
    """The thresholds of one stratum and what they rest on; ``fallback`` says why a stratum uses the pooled rule."""

    n_real: int
    n_ai: int
    t_ai: float | None = None
    t_real: float | None = None
    fpr_bound: float | None = None  # Clopper-Pearson upper bound on the false-accusation rate at t_ai
    miss_bound: float | None = None  # the same for AI images called real at t_real
    separated: bool = False  # the two bounds overlapped: one cut, no uncertain band
    fallback: str = ""

    @property
    def own(self) -> bool:
        return self.t_ai is not None


@dataclass(frozen=True)
class Judgement:
    score: float  # calibrated probability of the positive class
    raw_score: float
    verdict: str
    stratum: str  # the file's stratum (the manifest says which strata use the pooled rule)


@dataclass(frozen=True)
class Calibration:
    """What ``synthsight calibrate`` stores in ``model.json`` (``calibration``) and every export's metadata."""

    temperature: float
    target_fpr: float
    target_miss: float
    confidence: float
    rules: dict[str, Rule]
    by: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)  # folder, files, files_sha256, excluded
    weights_sha256: str = ""
    fitted_on: dict[str, Any] = field(default_factory=dict)  # file, runtime, precision the logits came from
    created: str = ""
    quality: dict[str, Any] = field(default_factory=dict)  # NLL, ECE, Brier before and after
    method: str = METHOD
    format_version: int = CALIBRATION_VERSION

    @property
    def pooled(self) -> Rule:
        return self.rules[POOLED]

    def rule_for(self, stratum: str) -> Rule:
        """The rule that judges files of ``stratum``: its own, else the pooled one."""
        rule = self.rules.get(stratum)
        return rule if rule is not None and rule.own else self.pooled

    def judge(self, logits: Sequence[float], positive_index: int, stratum: str = POOLED) -> Judgement:
        """Score and verdict of one logit row (a non-finite row is a ValueError: no verdict from it)."""
        raw = positive_probability(logits, positive_index, 1.0, clip=False)
        score = positive_probability(logits, positive_index, self.temperature)
        rule = self.rule_for(stratum)
        verdict = decide(score, rule.t_ai, rule.t_real)
        return Judgement(score, raw, verdict, stratum)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["by"] = list(self.by)
        return out

    @classmethod
    def from_dict(cls, data: Any) -> Calibration:
        """Parse and check a stored calibration; anything malformed is a ModelFileError (hostile metadata)."""
        try:
            return _parse(data)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise ModelFileError(f"model spec: malformed calibration ({exc}); run synthsight calibrate again") from None


def decide(score: float, t_ai: float, t_real: float) -> str:
    """``ai`` at or above ``t_ai``, ``real`` at or below ``t_real``, ``uncertain`` between."""
    if score >= t_ai:
        return AI
    return REAL if score <= t_real else UNCERTAIN


def logodds(logits: Sequence[float], positive_index: int, temperature: float = 1.0) -> float:
    """log p / (1 - p) of the positive class under ``softmax(logits / temperature)``, computed stably."""
    z = [float(v) / temperature for v in logits]
    if not all(math.isfinite(v) for v in z):
        raise ValueError("the model returned a non-finite logit")
    others = [v for i, v in enumerate(z) if i != positive_index]
    top = max(others)
    return z[positive_index] - (top + math.log(sum(math.exp(v - top) for v in others)))


def positive_probability(logits: Sequence[float], positive_index: int, temperature: float, clip: bool = True) -> float:
    """``softmax(logits / temperature)[positive_index]``; ``clip`` keeps it strictly inside (0, 1)."""
    lo = logodds(logits, positive_index, temperature)
    if clip:
        lo = min(MAX_LOGODDS, max(-MAX_LOGODDS, lo))
    return sigmoid(lo)


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _parse(data: Any) -> Calibration:
    if not isinstance(data, Mapping):
        raise TypeError("expected a JSON object")
    version = data.get("format_version", CALIBRATION_VERSION)
    if not isinstance(version, int) or version > CALIBRATION_VERSION:
        raise ValueError(f"calibration format {version!r} is newer than this synthsight understands")
    temperature = _number(data, "temperature", low=1e-6, high=1e6)
    target_fpr = _number(data, "target_fpr", low=0.0, high=1.0, open_=True)
    target_miss = _number(data, "target_miss", low=0.0, high=1.0, open_=True)
    confidence = _number(data, "confidence", low=0.0, high=1.0, open_=True)
    by = tuple(data.get("by") or ())
    if any(kind not in STRATA_KINDS for kind in by) or len(set(by)) != len(by):
        raise ValueError(f"'by' must name distinct strata kinds among {STRATA_KINDS}, got {list(by)}")
    rules_in = data.get("rules")
    if not isinstance(rules_in, Mapping) or POOLED not in rules_in:
        raise ValueError("'rules' must hold at least the pooled rule")
    rules = {str(name): _rule(name, value) for name, value in rules_in.items()}
    if not rules[POOLED].own:
        raise ValueError("the pooled rule has no thresholds")
    texts = {key: data.get(key, "") for key in ("weights_sha256", "created", "method")}
    if not all(isinstance(v, str) for v in texts.values()):
        raise TypeError("weights_sha256, created and method must be strings")
    dicts = {key: {} if data.get(key) is None else data[key] for key in ("data", "fitted_on", "quality")}
    if not all(isinstance(v, Mapping) for v in dicts.values()):
        raise TypeError("data, fitted_on and quality must be JSON objects")
    return Calibration(
        temperature, target_fpr, target_miss, confidence, rules, by,
        **{k: dict(v) for k, v in dicts.items()}, **texts, format_version=version,
    )  # fmt: skip


def _rule(name: Any, value: Any) -> Rule:
    if not isinstance(value, Mapping):
        raise TypeError(f"rule {name!r} is not a JSON object")
    counts = {k: value.get(k) for k in ("n_real", "n_ai")}
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in counts.values()):
        raise ValueError(f"rule {name!r}: n_real and n_ai must be counts")
    fallback = value.get("fallback") or ""
    if not isinstance(fallback, str):
        raise TypeError(f"rule {name!r}: fallback must be text")
    if value.get("t_ai") is None and value.get("t_real") is None:
        if not fallback:
            raise ValueError(f"rule {name!r} has neither thresholds nor a fallback reason")
        return Rule(**counts, fallback=fallback)
    t_ai, t_real = _number(value, "t_ai", 0.0, 1.0), _number(value, "t_real", 0.0, 1.0)
    if not t_real < t_ai:
        raise ValueError(f"rule {name!r}: t_real {t_real} must lie below t_ai {t_ai}")
    bounds = {k: _number(value, k, 0.0, 1.0) if value.get(k) is not None else None for k in ("fpr_bound", "miss_bound")}
    return Rule(**counts, t_ai=t_ai, t_real=t_real, **bounds, separated=bool(value.get("separated")))


def _number(data: Mapping, key: str, low: float, high: float, open_: bool = False) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{key!r} must be a finite number, got {value!r}")
    inside = low < value < high if open_ else low <= value <= high
    if not inside:
        raise ValueError(f"{key!r} = {value} is outside {'(' if open_ else '['}{low}, {high}{')' if open_ else ']'}")
    return float(value)
