"""What was read from one file before any decision: classify.py decides on it, evidence.py writes it out.

Its own module so that the decision table and the evidence line both import it and neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from synthsight.provenance.c2pa_store import C2paFacts
from synthsight.provenance.exif import ExifFacts
from synthsight.provenance.generators import Declared


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
        return self.c2pa is not None and self.c2pa.state == state and self.c2pa.declares(kind)

    @property
    def broken(self) -> bool:
        return self.c2pa is not None and self.c2pa.state in ("Invalid", "unverifiable")

    @property
    def unsigned_ai(self) -> bool:
        return any(d.kind == "ai" for d in self.declared)

    @property
    def unsigned_camera(self) -> bool:
        return self.exif.is_camera() or any(d.kind == "capture" for d in self.declared)
