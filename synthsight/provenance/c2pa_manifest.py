"""C2PA manifests, read and validated by c2pa-python (c2pa-rs) with every network path off.

The settings (trust.py) switch off remote manifest fetching and OCSP and allow no network host at
all, so a manifest stored only remotely is reported with its URL and never fetched. A c2pa Context
does not survive fork (the library refuses a Context made in another process), so each process
makes its own on first use.

From the active manifest: validation state (``Invalid`` / ``Valid`` / ``Trusted``) and failure
codes, the signer (common name, issuer), the claim generator, the ``digitalSourceType`` of every
``c2pa.actions`` / ``c2pa.actions.v2`` action (and Adobe's ``parameters["com.adobe.digitalSourceType"]``),
and separately those of the manifests its ingredients point to.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from synthsight.provenance import vocabulary
from synthsight.provenance.result import LIST_LIMIT, clean

MAX_STORE = 32 << 20  # a manifest store larger than this is not handed to c2pa
MAX_MANIFESTS = 64  # ingredient manifests looked at
_URL = re.compile(r"https?://\S+")


@dataclass
class C2paFacts:
    """What the active manifest says, or why it could not be read (``state`` remote / unreadable)."""

    state: str  # Trusted | Valid | Invalid | remote | unreadable
    codes: list[str] = field(default_factory=list)
    signer: dict[str, str] = field(default_factory=dict)
    claim_generator: str = ""
    actions: list[dict[str, str]] = field(default_factory=list)
    source_types: list[str] = field(default_factory=list)
    ingredient_source_types: list[str] = field(default_factory=list)
    remote_url: str = ""
    error: str = ""

    @property
    def kinds(self) -> set[str]:
        return {vocabulary.kind(t) for t in self.source_types}

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state}
        for key in (
            "codes",
            "signer",
            "claim_generator",
            "actions",
            "source_types",
            "ingredient_source_types",
            "remote_url",
            "error",
        ):
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out


class C2paReader:
    """Validates the manifest store of one file at a time; one per process (see module docstring)."""

    def __init__(self, settings: dict[str, Any]):
        self._settings = json.dumps(settings)
        self._context = None
        self._pid = -1

    def __getstate__(self) -> dict[str, Any]:
        return {"_settings": self._settings, "_context": None, "_pid": -1}

    def context(self):
        """This process's c2pa Context (made on first use: importing c2pa loads a 23 MB library)."""
        if self._context is None or self._pid != os.getpid():
            import c2pa

            self._context = c2pa.Context.from_json(self._settings)
            self._pid = os.getpid()
        return self._context

    def read(self, fh: BinaryIO, mime: str, remote_url: str = "", embedded: bool = True) -> C2paFacts | None:
        """The facts of ``fh``'s manifest store. None when c2pa finds none and none was ``embedded``
        (the container walk saw no manifest box); with a box that holds no manifest, ``unreadable``."""
        import c2pa

        fh.seek(0)
        try:
            with c2pa.Reader(mime or None, fh, context=self.context()) as reader:
                state = reader.get_validation_state() or "unreadable"
                store = json.loads(reader.json())
        except c2pa.C2paError.ManifestNotFound:
            return C2paFacts(state="unreadable", error="its box holds no readable manifest") if embedded else None
        except c2pa.C2paError as exc:
            text = str(exc)
            if text.startswith("Remote"):  # the store lives at a URL we never fetch
                url = remote_url or next(iter(_URL.findall(text)), "")
                return C2paFacts(state="remote", remote_url=clean(url.rstrip(".,;'\""), 200))
            return C2paFacts(state="unreadable", error=clean(text, 160))
        except Exception as exc:  # the stream callbacks or the JSON can fail in other ways on hostile files
            return C2paFacts(state="unreadable", error=clean(f"{type(exc).__name__}: {exc}", 160))
        return summarise(store, state)


def summarise(store: Any, state: str) -> C2paFacts:
    """The facts of a manifest store as ``Reader.json()`` gives it (defensive: the store is file data)."""
    facts = C2paFacts(state=state if state in ("Trusted", "Valid", "Invalid") else "unreadable")
    manifests = store.get("manifests") if isinstance(store, dict) else None
    active = manifests.get(store.get("active_manifest")) if isinstance(manifests, dict) else None
    facts.codes = _failure_codes(store)
    if not isinstance(active, dict):
        facts.error = "no active manifest"
        return facts
    info = active.get("signature_info") if isinstance(active.get("signature_info"), dict) else {}
    facts.signer = {k: clean(info[k], 100) for k in ("common_name", "issuer", "time") if isinstance(info.get(k), str)}
    facts.claim_generator = _claim_generator(active)
    facts.actions = _actions(active)
    facts.source_types = _unique(a["source_type"] for a in facts.actions if a.get("source_type"))
    seen = 0
    for ingredient in _dicts(active.get("ingredients")):
        parent = (
            manifests.get(ingredient.get("active_manifest"))
            if isinstance(ingredient.get("active_manifest"), str)
            else None
        )
        if isinstance(parent, dict) and seen < MAX_MANIFESTS:
            seen += 1
            facts.ingredient_source_types += [a["source_type"] for a in _actions(parent) if a.get("source_type")]
    facts.ingredient_source_types = _unique(facts.ingredient_source_types)
    return facts


def _claim_generator(manifest: dict) -> str:
    infos = [i for i in _dicts(manifest.get("claim_generator_info")) if isinstance(i.get("name"), str)]
    if infos:
        return clean("; ".join(f"{i['name']} {i.get('version', '')}".strip() for i in infos[:4]), 100)
    generator = manifest.get("claim_generator")
    return clean(generator, 100) if isinstance(generator, str) else ""


def _actions(manifest: dict) -> list[dict[str, str]]:
    out = []
    for assertion in _dicts(manifest.get("assertions")):
        label = assertion.get("label")
        data = assertion.get("data")
        if not (isinstance(label, str) and label.startswith("c2pa.actions") and isinstance(data, dict)):
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


def _failure_codes(store: Any) -> list[str]:
    codes: list[str] = []
    if not isinstance(store, dict):
        return codes
    results = store.get("validation_results")
    active = results.get("activeManifest") if isinstance(results, dict) else None
    failures = _dicts(active.get("failure")) if isinstance(active, dict) else []
    failures += _dicts(store.get("validation_status"))
    for delta in _dicts(results.get("ingredientDeltas")) if isinstance(results, dict) else []:
        inner = delta.get("validationDeltas")
        failures += _dicts(inner.get("failure")) if isinstance(inner, dict) else []
    return _unique(clean(f["code"], 60) for f in failures if isinstance(f.get("code"), str))


def _dicts(value: Any) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _unique(values) -> list[str]:
    out: list[str] = []
    for v in values:
        if v and v not in out and len(out) < LIST_LIMIT:
            out.append(v)
    return out
