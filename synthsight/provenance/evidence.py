"""The one-line evidence and the JSON detail of a file's provenance, from the facts the class was decided on.

The line is for a person scanning a report: what the C2PA manifest says and about whom (state,
signer, claims, identity assertions, failed ingredients, a sidecar), then unsigned declarations,
camera EXIF, editor software and the JPEG tables. The detail holds the same, structured.
"""

from __future__ import annotations

from synthsight.provenance import jpeg_quality
from synthsight.provenance.c2pa_store import C2paFacts
from synthsight.provenance.facts import Facts
from synthsight.provenance.generators import Declared
from synthsight.provenance.result import EVIDENCE_LIMIT, LIST_LIMIT, clean, quoted
from synthsight.provenance.xmp import AI_SYSTEM_SOURCE

CODES_SHOWN = 3


def line(facts: Facts) -> str:
    """The evidence line ("" when the file declares nothing)."""
    parts = [
        p
        for p in (
            c2pa_part(facts.c2pa),
            *_declared_parts(facts.declared),
            _camera_part(facts.exif.camera(), "exif"),
            _software_part(facts),
            jpeg_quality.describe(facts.jpeg),
        )
        if p
    ]
    return clean("; ".join(parts), EVIDENCE_LIMIT)


def c2pa_part(c2pa: C2paFacts | None) -> str:
    """``c2pa: ...`` (``c2pa (sidecar "x.c2pa"): ...`` for a store kept beside the file)."""
    if c2pa is None:
        return ""
    head = f"c2pa (sidecar {quoted(c2pa.sidecar)})" if c2pa.source == "sidecar" else "c2pa"
    if c2pa.state == "remote":
        return f"{head}: manifest stored remotely at {quoted(c2pa.remote_url)}, not fetched"
    if c2pa.state == "unverifiable":
        return f"{head}: INVALID, manifest store present but not verifiable ({clean(c2pa.error, 80)})"
    if c2pa.state == "prerelease":
        return f"{head}: pre-release manifest store (before C2PA 1.0), not validated"
    signer = quoted(c2pa.signer.get("common_name") or c2pa.signer.get("issuer") or "?")
    listed = f" ({clean(c2pa.trust_list, 60)})" if c2pa.trust_list else ""
    who = {"Trusted": f"trusted signer {signer}{listed}", "Valid": f"valid, untrusted signer {signer}"}
    codes = ", ".join(c2pa.codes[:CODES_SHOWN]) or "no code"
    parts = [f"{head}: " + who.get(c2pa.state, f"INVALID ({codes}), signer {signer}")]
    claims = [_action_text(a) for a in c2pa.actions if a.get("source_type")]
    claimed = "claimed " if c2pa.state == "Invalid" else ""
    parts.append(claimed + ", ".join(claims[:3]) if claims else "no source type")
    if c2pa.camera and not c2pa.source_types:
        parts.append(claimed + _camera_part(c2pa.camera, "signed exif"))
    parts += [_identity_text(i) for i in c2pa.identity[:2]]
    if c2pa.ingredient_source_types:
        parts.append("ingredients " + ", ".join(c2pa.ingredient_source_types[:3]))
    parts += [
        f"ingredient {quoted(i['title'])} INVALID ({', '.join(i['codes'][:CODES_SHOWN])})"
        for i in c2pa.ingredient_failures[:2]
    ]
    if c2pa.claim_generator:
        parts.append(f"generator {quoted(c2pa.claim_generator)}")
    return ", ".join(p for p in parts if p)


def _action_text(action: dict) -> str:
    text = f"{action.get('action') or 'action'} {action['source_type']}"
    return text + (f" by {quoted(action['agent'])}" if action.get("agent") else "")


def _identity_text(identity: dict) -> str:
    issuer = f" {quoted(identity['issuer'])}" if identity.get("issuer") else ""
    return f"identity assertion ({identity.get('type') or '?'}{issuer}) not checked offline"


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


def _camera_part(cam: dict, what: str) -> str:
    make, model = cam.get("make", ""), cam.get("model", "")
    brand = make.split(" ")[0].lower()
    name = model if model and brand and model.lower().startswith(brand) else " ".join(v for v in (make, model) if v)
    bits = [quoted(name)] if name else []
    bits += [f"lens {quoted(cam['lens'])}"] if cam.get("lens") else []
    bits += ["MakerNote"] if "maker_note" in cam else []
    return (f"{what}: " + ", ".join(bits)) if bits else ""


def _software_part(facts: Facts) -> str:
    return ("software: " + ", ".join(quoted(s) for s in facts.software[:2])) if facts.software else ""


def detail(facts: Facts) -> dict:
    """The JSON-ready detail: only the keys that have something."""
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
