"""Digital source types: the IPTC vocabulary (and C2PA's additions), which of them mean AI or capture.

IPTC NewsCodes "digitalsourcetype" (http://cv.iptc.org/newscodes/digitalsourcetype/, release of
2024-10-23, retired terms included because old files still carry them). C2PA adds its own URIs
under http://c2pa.org/digitalsourcetype/ (``empty``, ``trainedAlgorithmicData``). Files spell a
type as the full URI, with ``https``, or as the bare name; all three normalise to the bare name.
"""

from __future__ import annotations

from synthsight.provenance.result import clean

IPTC_PREFIX = "http://cv.iptc.org/newscodes/digitalsourcetype/"
C2PA_PREFIX = "http://c2pa.org/digitalsourcetype/"

IPTC_TYPES = frozenset(
    (
        "digitalCapture", "computationalCapture", "negativeFilm", "positiveFilm", "print",
        "minorHumanEdits", "humanEdits", "algorithmicallyEnhanced", "softwareImage", "digitalArt",
        "digitalCreation", "dataDrivenMedia", "trainedAlgorithmicMedia", "algorithmicMedia",
        "screenCapture", "virtualRecording", "composite", "compositeCapture", "compositeSynthetic",
        "compositeWithTrainedAlgorithmicMedia",
    )
)  # fmt: skip
C2PA_TYPES = frozenset(("empty", "trainedAlgorithmicData"))

# These three say "made by AI" (a model trained on sampled data made it, or a composite of such media);
# these six say "captured from real life". algorithmicMedia is neither: IPTC defines it as "created
# purely by an algorithm not based on any sampled training data" (a procedurally drawn gradient, a
# fractal), so it is listed like digitalArt and decides nothing.
AI_TYPES = frozenset(("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia", "compositeSynthetic"))
CAPTURE_TYPES = frozenset(
    ("digitalCapture", "computationalCapture", "compositeCapture", "negativeFilm", "positiveFilm", "print")
)


def source_type(value: object) -> str:
    """The bare name of a digital source type ("" for nothing); unknown values are kept, cleaned."""
    text = clean(value, 200) if value is not None else ""
    for prefix in (
        IPTC_PREFIX,
        C2PA_PREFIX,
        IPTC_PREFIX.replace("http:", "https:"),
        C2PA_PREFIX.replace("http:", "https:"),
    ):
        if text.lower().startswith(prefix):
            text = text[len(prefix) :].strip("/")
            break
    known = {name.lower(): name for name in IPTC_TYPES | C2PA_TYPES}
    return known.get(text.lower(), clean(text, 80))


def kind(name: str) -> str:
    """``ai``, ``capture`` or ``other`` for a bare source-type name (``empty`` is nothing at all)."""
    if name in AI_TYPES:
        return "ai"
    if name in CAPTURE_TYPES:
        return "capture"
    return "other"
