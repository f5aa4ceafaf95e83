"""What a C2PA manifest store says, from c2pa's ``Reader.json()``: the facts the class is decided on.

The state is derived here from the active manifest's own status codes, not taken from c2pa's overall
state, which mixes in three things that say nothing about whether the active claim was tampered with:

- ``signingCredential.trusted`` / ``.untrusted`` decide Trusted vs Valid (c2pa demotes a trusted
  signer to Valid when any other code fails, e.g. a CAWG identity credential without a CAWG list);
- ``cawg.*`` codes belong to identity assertions (a second signer's statement inside the claim):
  listed as identity evidence, never deciding; synthsight switches their decoding off (trust.py);
- ingredients' failures (recorded when the ingredient was added, or found now) are listed by
  ingredient, apart from the active manifest's codes. Tampering with an ingredient's manifest inside
  the file breaks the active claim's own ingredient hash, which is an active-manifest failure.

Every other failure code of the active manifest makes it Invalid. The store is file data: every
field is read defensively and cut to a bound.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any

from synthsight.provenance import vocabulary
from synthsight.provenance.exif import ExifFacts
from synthsight.provenance.result import LIST_LIMIT, clean

MAX_MANIFESTS = 64  # ingredient manifests looked at
TRUSTED = "signingCredential.trusted"
UNTRUSTED = "signingCredential.untrusted"
IDENTITY = "cawg."
IDENTITY_TYPES = {"cawg.x509.cose": "X.509", "cawg.identity_claims_aggregation": "identity claims aggregation"}
MAX_SIGNATURE = 1 << 16  # bytes of an identity signature searched for its issuer DID
_DID = re.compile(rb"did:[a-z0-9]+:[A-Za-z0-9._%:\-]{1,160}")
_TRUST_LIST = re.compile(r"found in \[([^\]]{1,200})\]")
CAMERA_KEYS = {"Make": "make", "Model": "model", "LensModel": "lens"}  # stds.exif / c2pa.metadata, any prefix


@dataclass
class C2paFacts:
    """The active manifest's facts, or why there are none (``state`` remote / unverifiable / prerelease)."""

    state: str  # Trusted | Valid | Invalid | remote | unverifiable | prerelease
    codes: list[str] = field(default_factory=list)  # active manifest failures, causes before trust codes
    signer: dict[str, str] = field(default_factory=dict)
    trust_list: str = ""  # the list whose anchor the signer chains to (Trusted)
    claim_generator: str = ""
    actions: list[dict[str, str]] = field(default_factory=list)
    source_types: list[str] = field(default_factory=list)
    camera: dict[str, str] = field(default_factory=dict)  # signed EXIF of the active manifest
    identity: list[dict[str, Any]] = field(default_factory=list)  # CAWG identity assertions, not checked
    ingredient_source_types: list[str] = field(default_factory=list)
    ingredient_failures: list[dict[str, Any]] = field(default_factory=list)
    source: str = "embedded"  # embedded | sidecar
    sidecar: str = ""  # the sidecar's file name
    remote_url: str = ""
    error: str = ""

    def declares(self, kind: str) -> bool:
        """Whether the active manifest declares ``kind`` (ai | capture): by a digital source type, or,
        declaring none at all (C2PA 1.x cameras), ``capture`` by signed camera EXIF."""
        kinds = {vocabulary.kind(t) for t in self.source_types}
        if kind == "capture" and not self.source_types:
            return ExifFacts(**self.camera).is_camera()
        return kind in kinds

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state}
        if self.source != "embedded":
            out["source"] = self.source
        for key in (
            "sidecar",
            "codes",
            "signer",
            "trust_list",
            "claim_generator",
            "actions",
            "source_types",
            "camera",
            "identity",
            "ingredient_source_types",
            "ingredient_failures",
            "remote_url",
            "error",
        ):
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out


def summarise(store: Any, reader_state: str = "") -> C2paFacts:
    """The facts of a manifest store as ``Reader.json()`` gives it; ``reader_state`` (c2pa's overall
    state) is used only when the store carries no per-code results for the active manifest."""
    facts = C2paFacts(state="Invalid")
    store = store if isinstance(store, dict) else {}
    manifests = store.get("manifests") if isinstance(store.get("manifests"), dict) else {}
    active = manifests.get(store.get("active_manifest")) if isinstance(store.get("active_manifest"), str) else None
    facts.state, facts.codes, facts.trust_list = _state(store, reader_state)
    identity_codes = _unique(c for c in _active_codes(store, "failure") if c.startswith(IDENTITY))
    if not isinstance(active, dict):
        facts.state, facts.error = "unverifiable", "no active manifest"
        return facts
    info = active.get("signature_info") if isinstance(active.get("signature_info"), dict) else {}
    facts.signer = {k: clean(info[k], 100) for k in ("common_name", "issuer", "time") if isinstance(info.get(k), str)}
    facts.claim_generator = _claim_generator(active)
    facts.actions = _actions(active)
    facts.source_types = _unique(a["source_type"] for a in facts.actions if a.get("source_type"))
    facts.camera = _camera(active)
    facts.identity = _identity(active, identity_codes)
    facts.ingredient_source_types, facts.ingredient_failures = _ingredients(active, manifests, store)
    return facts


def _state(store: dict, reader_state: str) -> tuple[str, list[str], str]:
    """(state, failure codes with causes first, trust list) from the active manifest's own codes."""
    results = store.get("validation_results")
    if not isinstance(results, dict) or not isinstance(results.get("activeManifest"), dict):
        codes = _unique(_codes(_dicts(store.get("validation_status"))))
        causes = [c for c in codes if c != UNTRUSTED and not c.startswith(IDENTITY)]
        state = "Invalid" if causes else ("Trusted" if reader_state == "Trusted" else "Valid")
        return state, causes + [c for c in codes if c not in causes], ""
    failures = _unique(_active_codes(store, "failure"))
    causes = [c for c in failures if c != UNTRUSTED and not c.startswith(IDENTITY)]
    trusted = [s for s in _dicts(results["activeManifest"].get("success")) if s.get("code") == TRUSTED]
    state = "Invalid" if causes else ("Trusted" if trusted else "Valid")
    codes = causes + [c for c in failures if c == UNTRUSTED]  # identity codes go with the identity
    where = _TRUST_LIST.search(str(trusted[0].get("explanation", ""))) if trusted else None
    return state, codes, clean(where.group(1), 100) if where else ""


def _active_codes(store: dict, kind: str) -> list[str]:
    results = store.get("validation_results")
    active = results.get("activeManifest") if isinstance(results, dict) else None
    return _codes(_dicts(active.get(kind))) if isinstance(active, dict) else []


def _codes(statuses: list[dict]) -> list[str]:
    return [clean(s["code"], 60) for s in statuses if isinstance(s.get("code"), str)]


def _claim_generator(manifest: dict) -> str:
    infos = [i for i in _dicts(manifest.get("claim_generator_info")) if isinstance(i.get("name"), str)]
    if infos:
        return clean("; ".join(f"{i['name']} {i.get('version', '')}".strip() for i in infos[:4]), 100)
    generator = manifest.get("claim_generator")
    return clean(generator, 100) if isinstance(generator, str) else ""


def _assertions(manifest: dict, *prefixes: str) -> list[tuple[str, Any]]:
    out = []
    for assertion in _dicts(manifest.get("assertions"))[: LIST_LIMIT * 8]:
        label = assertion.get("label")
        if isinstance(label, str) and label.startswith(prefixes):
            out.append((label, assertion.get("data")))
    return out


def _actions(manifest: dict) -> list[dict[str, str]]:
    out = []
    for _, data in _assertions(manifest, "c2pa.actions"):
        if not isinstance(data, dict):
            continue
        for action in _dicts(data.get("actions"))[: LIST_LIMIT * 4]:
            params = action.get("parameters") if isinstance(action.get("parameters"), dict) else {}
            dst = action.get("digitalSourceType") or params.get("com.adobe.digitalSourceType")
            agent = action.get("softwareAgent")
            agent = agent.get("name") if isinstance(agent, dict) else agent
            item = {"action": clean(str(action.get("action", "")).removeprefix("c2pa."), 40)}
            if dst:
                item["source_type"] = vocabulary.source_type(dst)
            if isinstance(agent, str) and agent:
                item["agent"] = clean(agent, 80)
            if item["action"] or dst:
                out.append(item)
    return out[:LIST_LIMIT]


def _camera(manifest: dict) -> dict[str, str]:
    """Make, Model and LensModel of the manifest's signed EXIF (``stds.exif``, ``c2pa.metadata``)."""
    camera: dict[str, str] = {}
    for _, data in _assertions(manifest, "stds.exif", "c2pa.metadata"):
        for key, value in data.items() if isinstance(data, dict) else ():
            name = CAMERA_KEYS.get(str(key).rpartition(":")[2])
            if name and name not in camera and isinstance(value, str) and value.strip():
                camera[name] = clean(value, 80)
    return camera


def _identity(manifest: dict, codes: list[str]) -> list[dict[str, Any]]:
    """Each CAWG identity assertion: its credential type and, when its signature names one, the issuer DID."""
    out = []
    for label, data in _assertions(manifest, "cawg.identity")[:LIST_LIMIT]:
        data = data if isinstance(data, dict) else {}
        payload = data.get("signer_payload") if isinstance(data.get("signer_payload"), dict) else {}
        sig_type = str(payload.get("sig_type", ""))
        item: dict[str, Any] = {"label": clean(label, 60), "type": IDENTITY_TYPES.get(sig_type, clean(sig_type, 60))}
        issuer = _issuer(data.get("signature"))
        if issuer:
            item["issuer"] = issuer
        out.append(item)
    if codes:  # c2pa reports identity codes per manifest, not per assertion
        if not out:
            out.append({"label": "cawg.identity", "type": "?"})
        out[0]["codes"] = codes
    return out


def _issuer(signature: Any) -> str:
    """The first DID in an identity signature (an ICA credential names its issuer in its payload)."""
    if not isinstance(signature, str) or not signature:
        return ""
    try:
        raw = base64.b64decode(signature[: MAX_SIGNATURE * 4 // 3 + 4], validate=False)
    except (binascii.Error, ValueError):
        return ""
    found = _DID.search(raw[:MAX_SIGNATURE])
    return clean(found.group(0).decode("ascii"), 120) if found else ""


def _ingredients(active: dict, manifests: dict, store: dict) -> tuple[list[str], list[dict[str, Any]]]:
    """(source types of the ingredients' manifests, each ingredient's failure codes as recorded or found)."""
    types: list[str] = []
    failures: list[dict[str, Any]] = []
    found = _delta_failures(store)
    for ingredient in _dicts(active.get("ingredients"))[:MAX_MANIFESTS]:
        parent = (
            manifests.get(ingredient.get("active_manifest"))
            if isinstance(ingredient.get("active_manifest"), str)
            else None
        )
        if isinstance(parent, dict):
            types += [a["source_type"] for a in _actions(parent) if a.get("source_type")]
        codes = _recorded(ingredient) + found.get(str(ingredient.get("label", "")), [])
        codes = _unique(c for c in codes if c != UNTRUSTED)
        if codes and len(failures) < LIST_LIMIT:
            failures.append({"title": clean(ingredient.get("title") or "?", 80), "codes": codes})
    return _unique(types), failures


def _recorded(ingredient: dict) -> list[str]:
    """Failure codes recorded in the ingredient assertion when the ingredient was added."""
    results = ingredient.get("validation_results")
    if isinstance(results, dict) and isinstance(results.get("activeManifest"), dict):
        return _codes(_dicts(results["activeManifest"].get("failure")))
    return _codes(_dicts(ingredient.get("validation_status")))  # v1/v2 ingredients: failures only


def _delta_failures(store: dict) -> dict[str, list[str]]:
    """Failures c2pa found now in ingredients' manifests, by the ingredient assertion's label."""
    results = store.get("validation_results")
    out: dict[str, list[str]] = {}
    for delta in _dicts(results.get("ingredientDeltas")) if isinstance(results, dict) else []:
        inner = delta.get("validationDeltas")
        uri = str(delta.get("ingredientAssertionURI", ""))
        if isinstance(inner, dict):
            out.setdefault(uri.rpartition("/")[2], []).extend(_codes(_dicts(inner.get("failure"))))
    return out


def _dicts(value: Any) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _unique(values) -> list[str]:
    out: list[str] = []
    for v in values:
        if v and v not in out and len(out) < LIST_LIMIT:
            out.append(v)
    return out
