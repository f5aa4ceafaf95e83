"""What the provenance reader returns for one file, and the text hygiene every value goes through.

Metadata is attacker-controlled text: every string that reaches a record is stripped of control
characters and cut to a bound here, so a record stays one line and small however hostile the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# The one list of classes, in rank order (the rules in classify.py decide which one a file gets).
PROVENANCE_CLASSES = (
    "ai-trusted",
    "ai-signed",
    "ai-declared",
    "camera-trusted",
    "camera-signed",
    "camera-declared",
    "conflict",
    "invalid",
    "none",
)

TEXT_LIMIT = 120  # one value in the detail
EVIDENCE_VALUE_LIMIT = 60  # one value quoted in the one-line evidence
EVIDENCE_LIMIT = 400  # the whole evidence line
LIST_LIMIT = 16  # entries of any list in the detail
NOTE_LIMIT = 8

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]+")


def clean(value: Any, limit: int = TEXT_LIMIT) -> str:
    """``value`` as one printable line of at most ``limit`` characters ("…" marks a cut)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = " ".join(_CONTROL.sub(" ", str(value)).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def quoted(value: Any) -> str:
    """A value for the evidence line: cleaned, short, in double quotes that it cannot close."""
    return '"' + clean(value, EVIDENCE_VALUE_LIMIT).replace('"', "'") + '"'


@dataclass(frozen=True)
class Provenance:
    """The file's own evidence: one class, one line, a JSON-ready detail and what could not be read.

    Attributes:
        klass: one of :data:`PROVENANCE_CLASSES`.
        evidence: one short human-readable line ("" when nothing was found).
        detail: JSON-ready dict (state, codes, signer, claim generator, source types, declared items,
            camera fields, JPEG quality estimate); only the keys that have something.
        notes: what could not be read, one short line each.
    """

    klass: str = "none"
    evidence: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.klass not in PROVENANCE_CLASSES:
            raise ValueError(f"unknown provenance class {self.klass!r}")


def failed(note: str) -> Provenance:
    """The result when reading itself broke: no class, and why."""
    return Provenance(klass="none", notes=(clean(note, 200),))
