"""The one table that turns what a file declares into one provenance class, and the evidence line.

:data:`RULES` is read top to bottom; the first rule that holds gives the class. The README's
"Provenance evidence" table mirrors it row for row (a test keeps the two equal). Only the active
C2PA manifest decides a signed class; its ingredients' source types are listed, never decisive.
Source types outside the AI and capture sets (digitalArt, screenCapture, humanEdits...) are listed
in the evidence without deciding anything. JPEG quantisation tables never decide anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from synthsight.provenance import jpeg_quality, vocabulary
from synthsight.provenance.c2pa_manifest import C2paFacts
from synthsight.provenance.exif import ExifFacts
from synthsight.provenance.generators import Declared
from synthsight.provenance.result import EVIDENCE_LIMIT, LIST_LIMIT, NOTE_LIMIT, Provenance, clean, quoted
from synthsight.provenance.xmp import XmpFacts


@dataclass
class Facts:
    """Everything read from one file, before any decision."""

    c2pa: C2paFacts | None = None
    declared: list[Declared] = field(default_factory=list)  # unsigned: XMP, generator tools
    exif: ExifFacts = field(default_factory=ExifFacts)
    software: list[str] = field(default_factory=list)  # editors named by the file (information)
    jpeg: dict | None = None
    notes: list[str] = field(default_factory=list)

    def signed(self, state: str, kind: str) -> bool:
        return self.c2pa is not None and self.c2pa.state == state and kind in self.c2pa.kinds

    @property
    def unsigned_ai(self) -> bool:
        return any(d.kind == "ai" for d in self.declared)

    @property
    def unsigned_camera(self) -> bool:
        return self.exif.is_camera() or any(d.kind == "capture" for d in self.declared)


DST_SOURCE = "XMP Iptc4xmpExt:DigitalSourceType"
AI_SYSTEM_SOURCE = "XMP Iptc4xmpExt:AISystemUsed"

# (what the README says, the test, the class); first match wins
RULES: tuple[tuple[str, Callable[[Facts], bool], str], ...] = (
    (
        "C2PA manifest fails validation (Invalid), whatever it declares",
        lambda f: f.c2pa is not None and f.c2pa.state == "Invalid",
        "invalid",
    ),
    (
        "C2PA active manifest, signer on a trust list, declares an AI source type",
        lambda f: f.signed("Trusted", "ai"),
        "ai-trusted",
    ),
    (
        "C2PA active manifest, signer on a trust list, declares a capture source type",
        lambda f: f.signed("Trusted", "capture"),
        "camera-trusted",
    ),
    (
        "C2PA active manifest, valid signature by an untrusted signer, declares an AI source type",
        lambda f: f.signed("Valid", "ai"),
        "ai-signed",
    ),
    (
        "C2PA active manifest, valid signature by an untrusted signer, declares a capture source type",
        lambda f: f.signed("Valid", "capture"),
        "camera-signed",
    ),
    (
        "Unsigned AI declaration and unsigned camera evidence together",
        lambda f: f.unsigned_ai and f.unsigned_camera,
        "conflict",
    ),
    (
        "Unsigned AI declaration (XMP source type or AI system, generator tool metadata)",
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
        klass=klass, evidence=evidence(facts), detail=detail(facts), notes=tuple(_unique(facts.notes)[:NOTE_LIMIT])
    )


def evidence(facts: Facts) -> str:
    parts = [
        p
        for p in (
            _c2pa_part(facts.c2pa),
            *_declared_parts(facts.declared),
            _camera_part(facts),
            _software_part(facts),
            jpeg_quality.describe(facts.jpeg),
        )
        if p
    ]
    return clean("; ".join(parts), EVIDENCE_LIMIT)


def _c2pa_part(c2pa: C2paFacts | None) -> str:
    if c2pa is None:
        return ""
    if c2pa.state == "remote":
        return f"c2pa: manifest stored remotely at {quoted(c2pa.remote_url)}, not fetched"
    if c2pa.state == "unreadable":
        return f"c2pa: manifest store unreadable ({clean(c2pa.error, 60)})"
    signer = c2pa.signer.get("common_name") or c2pa.signer.get("issuer") or "?"
    who = {"Trusted": f"trusted signer {quoted(signer)}", "Valid": f"untrusted signer {quoted(signer)}"}
    head = who.get(c2pa.state, f"INVALID ({', '.join(c2pa.codes[:3]) or 'no code'}), signer {quoted(signer)}")
    parts = [f"c2pa: {'valid, ' if c2pa.state == 'Valid' else ''}{head}"]
    claims = [_action_text(a) for a in c2pa.actions if a.get("source_type")]
    parts.append(
        ("claimed " if c2pa.state == "Invalid" else "") + ", ".join(claims[:3]) if claims else "no source type"
    )
    if c2pa.ingredient_source_types:
        parts.append("ingredients " + ", ".join(c2pa.ingredient_source_types[:3]))
    if c2pa.claim_generator:
        parts.append(f"generator {quoted(c2pa.claim_generator)}")
    return ", ".join(parts)


def _action_text(action: dict) -> str:
    text = f"{action.get('action') or 'action'} {action['source_type']}"
    return text + (f" by {quoted(action['agent'])}" if action.get("agent") else "")


def _declared_parts(declared: list[Declared]) -> list[str]:
    parts = []
    for d in declared[:LIST_LIMIT]:
        if d.source_type:
            parts.append(f"xmp: DigitalSourceType {d.source_type}")
        elif d.source == AI_SYSTEM_SOURCE:
            parts.append(f"xmp: AISystemUsed {quoted(d.tool)}")
        else:
            bits = [f"{k} {clean(d.excerpt[k], 40)}" for k in ("model", "seed", "steps") if d.excerpt.get(k)]
            parts.append(f"{d.tool} ({d.source})" + (": " + ", ".join(bits) if bits else ""))
    return parts


def _camera_part(facts: Facts) -> str:
    cam = facts.exif.camera()
    make, model = cam.get("make", ""), cam.get("model", "")
    brand = make.split(" ")[0].lower()
    name = model if model and brand and model.lower().startswith(brand) else " ".join(v for v in (make, model) if v)
    bits = [quoted(name)] if name else []
    bits += [f"lens {quoted(cam['lens'])}"] if cam.get("lens") else []
    bits += ["MakerNote"] if "maker_note" in cam else []
    return ("exif: " + ", ".join(bits)) if bits else ""


def _software_part(facts: Facts) -> str:
    return ("software: " + ", ".join(quoted(s) for s in facts.software[:2])) if facts.software else ""


def detail(facts: Facts) -> dict:
    out: dict = {}
    if facts.c2pa is not None:
        out["c2pa"] = facts.c2pa.as_dict()
    if facts.declared:
        out["declared"] = [d.as_dict() for d in facts.declared[:LIST_LIMIT]]
    camera = facts.exif.camera()
    if camera:
        out["camera"] = camera
    if facts.software:
        out["software"] = facts.software[:4]
    if facts.jpeg:
        out["jpeg_quality"] = facts.jpeg
    return out


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
