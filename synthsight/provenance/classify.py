"""The one table that turns what a file declares into one provenance class (evidence.py writes the line).

:data:`RULES` is read top to bottom; the first rule that holds gives the class. The class table of
the docs mirrors it row for row (a test keeps the two equal). Only the active C2PA manifest decides
a signed class; its ingredients (their source types, their failures) and its CAWG identity
assertions are listed, never decisive. Source types outside the AI and capture sets (digitalArt,
screenCapture, humanEdits, algorithmicMedia...) are listed without deciding anything. JPEG
quantisation tables never decide anything.
"""

from __future__ import annotations

from collections.abc import Callable

from synthsight.provenance import vocabulary
from synthsight.provenance.evidence import detail, line
from synthsight.provenance.facts import Facts
from synthsight.provenance.generators import Declared
from synthsight.provenance.result import NOTE_LIMIT, Provenance, clean
from synthsight.provenance.xmp import AI_SYSTEM_SOURCE, DST_SOURCE, XmpFacts

# (what docs/provenance.md says, the test, the class); first match wins
RULES: tuple[tuple[str, Callable[[Facts], bool], str], ...] = (
    (
        "C2PA active manifest fails its claim signature or hashes, or a C2PA store is present but cannot be "
        "validated (unknown algorithm, damaged, over its bound), whatever it declares; identity assertions, "
        "ingredients and a pre-release store never make a file invalid",
        lambda f: f.broken,
        "invalid",
    ),
    (
        "C2PA active manifest, signer on a trust list, declares an AI source type (trained algorithmic media, "
        "not algorithmicMedia)",
        lambda f: f.signed("Trusted", "ai"),
        "ai-trusted",
    ),
    (
        "C2PA active manifest, signer on a trust list, declares a capture source type, or no source type "
        "and signed camera EXIF (C2PA 1.x cameras)",
        lambda f: f.signed("Trusted", "capture"),
        "camera-trusted",
    ),
    (
        "C2PA active manifest, valid signature by an untrusted signer, declares an AI source type (the same)",
        lambda f: f.signed("Valid", "ai"),
        "ai-signed",
    ),
    (
        "C2PA active manifest, valid signature by an untrusted signer, declares a capture source type, or no "
        "source type and signed camera EXIF",
        lambda f: f.signed("Valid", "capture"),
        "camera-signed",
    ),
    (
        "Unsigned AI declaration and unsigned camera evidence together",
        lambda f: f.unsigned_ai and f.unsigned_camera,
        "conflict",
    ),
    (
        "Unsigned AI declaration (XMP source type or AI system, generator tool metadata; metadata hidden in "
        "the pixels, NovelAI's or A1111's stealth pnginfo, is not read)",
        lambda f: f.unsigned_ai,
        "ai-declared",
    ),
    ("Unsigned camera evidence (camera EXIF, XMP capture source type)", lambda f: f.unsigned_camera, "camera-declared"),
    ("None of the above", lambda f: True, "none"),
)


def decide(facts: Facts) -> Provenance:
    """Class, evidence line and detail for ``facts``."""
    klass = next(k for _, holds, k in RULES if holds(facts))
    return Provenance(
        klass=klass, evidence=line(facts), detail=detail(facts), notes=tuple(_unique(facts.notes)[:NOTE_LIMIT])
    )


def xmp_declared(packets: XmpFacts) -> list[Declared]:
    """Unsigned declarations from XMP: IPTC digital source types and IPTC 2025.1 AI System Used."""
    out = []
    for value in packets.source_types:
        name = vocabulary.source_type(value)
        if name and name != "empty":
            out.append(Declared(vocabulary.kind(name), DST_SOURCE, source_type=name))
    excerpt = {}
    if packets.ai_system_version:
        excerpt["version"] = clean(packets.ai_system_version[0], 60)
    if packets.ai_prompt:
        excerpt["prompt_excerpt"] = clean(packets.ai_prompt[0], 80)
    for system in packets.ai_system:
        out.append(Declared("ai", AI_SYSTEM_SOURCE, tool=clean(system, 60), excerpt=dict(excerpt)))
    return out


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))
