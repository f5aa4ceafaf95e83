"""The per-process provenance reader: one call per file, in the decode worker, never raising."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO

from synthsight.provenance import classify, containers, exif, generators, jpeg_quality, trust, xmp
from synthsight.provenance.c2pa_manifest import MAX_STORE, C2paReader
from synthsight.provenance.result import Provenance, clean, failed


class ProvenanceReader:
    """Reads what each file declares about its origin, offline, with bounded work per file.

    Build one per process (it is picklable, and makes its c2pa Context lazily in the process that
    uses it). ``trust_anchors`` are PEM files added to the vendored C2PA trust list.

    Raises:
        UsageError: a trust-anchor file is missing or holds no PEM certificate (at construction).
    """

    def __init__(self, trust_anchors: Iterable[Path | str] = (), enabled: bool = True):
        self.enabled = enabled
        self._anchors = trust.load(tuple(Path(p) for p in trust_anchors)) if enabled else None
        self._c2pa = C2paReader(trust.settings(self._anchors)) if self._anchors else None

    def describe(self) -> dict[str, Any]:
        """What the run manifest records: on/off, the trust lists in use with their SHA-256, the library."""
        if not self.enabled or self._anchors is None:
            return {"enabled": False}
        return {
            "enabled": True,
            "c2pa": {
                "library": f"c2pa-python {_version('c2pa-python')}",
                "network": "off (no remote manifest fetch, no OCSP, no host allowed)",
            },
            "trust_lists": [dict(item) for item in self._anchors.lists],
            "claim_signing_ekus": list(trust.CLAIM_SIGNING_EKUS),
        }

    def read(self, fh: BinaryIO) -> Provenance | None:
        """The provenance of the open binary file ``fh`` (seekable; its position is restored).

        Returns None when the reader is disabled; otherwise a :class:`Provenance`, whatever the
        file holds: every failure becomes a note in the result.
        """
        if not self.enabled or self._c2pa is None:
            return None
        try:
            start = fh.tell()
        except (OSError, ValueError):
            start = 0
        try:
            return self._read(fh)
        except Exception as exc:  # the last line of defence: a record must never lose its file to metadata
            return failed(f"provenance unreadable ({type(exc).__name__}: {exc})")
        finally:
            with contextlib.suppress(OSError, ValueError):
                fh.seek(start)

    def _read(self, fh: BinaryIO) -> Provenance:
        found = containers.scan(fh)
        notes = list(found.notes)
        packets = xmp.parse(found.xmp)
        raw_exif = found.exif if found.exif is not None else found.pillow_exif
        facts_exif = exif.parse(raw_exif) if raw_exif is not None else exif.ExifFacts()
        notes += packets.notes + facts_exif.notes
        declared = classify.xmp_declared(packets)
        declared += generators.detect(found.texts, facts_exif, packets, notes)
        remote = next((u for u in packets.provenance if u.lower().startswith(("http://", "https://"))), "")
        c2pa = None
        if found.c2pa_bytes > MAX_STORE:
            notes.append(
                f"C2PA manifest store of {found.c2pa_bytes:,} bytes over the {MAX_STORE >> 20} MiB bound: not read"
            )
        elif found.c2pa_bytes or remote:
            c2pa = self._c2pa.read(fh, found.mime, remote, embedded=found.c2pa_bytes > 0)
            if c2pa is not None and c2pa.state == "unreadable":
                notes.append(f"C2PA manifest store unreadable ({c2pa.error})")
        return classify.decide(
            classify.Facts(
                c2pa=c2pa,
                declared=declared,
                exif=facts_exif,
                software=_software(found.texts, facts_exif, packets, declared),
                jpeg=jpeg_quality.estimate(found.dqt) if found.format == "JPEG" else None,
                notes=notes,
            )
        )


def _software(texts: dict[str, str], facts: exif.ExifFacts, packets: xmp.XmpFacts, declared: list) -> list[str]:
    """Editors the file names (information only), without those already named as a generator."""
    tools = {d.tool.split(" ")[0].lower() for d in declared if d.tool}
    names = [facts.software, texts.get("Software", ""), *packets.creator_tool]
    out: list[str] = []
    for name in names:
        text = clean(name, 80)
        if text and text not in out and text.split(" ")[0].lower() not in tools:
            out.append(text)
    return out


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"
