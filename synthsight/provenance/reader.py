"""The per-process provenance reader: one call per file, in the decode worker, never raising."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO

from synthsight.provenance import classify, containers, exif, generators, jpeg_quality, trust, xmp
from synthsight.provenance.c2pa_manifest import MAX_STORE, C2paFacts, C2paReader, unverifiable
from synthsight.provenance.facts import Facts
from synthsight.provenance.result import Provenance, clean, failed

SIDECAR_SUFFIX = ".c2pa"  # a manifest store kept beside its asset: photo.jpg -> photo.c2pa


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
                "identity_assertions": "not decoded: their credentials can need the network; listed, never deciding",
            },
            "trust_lists": [dict(item) for item in self._anchors.lists],
            "claim_signing_ekus": list(trust.CLAIM_SIGNING_EKUS),
            **({"warning": stale} if (stale := self.stale_warning()) else {}),
        }

    def stale_warning(self) -> str:
        """The one line a scan prints when the vendored trust list is old ("" when it is not, or when off)."""
        return trust.stale_warning() if self.enabled else ""

    def read(self, fh: BinaryIO, path: str | os.PathLike | None = None) -> Provenance | None:
        """The provenance of the open binary file ``fh`` (seekable; its position is restored).

        ``path`` is where ``fh`` lives: a file without an embedded manifest store is then validated
        against the sidecar store beside it (same name, ``.c2pa``), if there is one.

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
            return self._read(fh, path)
        except Exception as exc:  # the last line of defence: a record must never lose its file to metadata
            return failed(f"provenance unreadable ({type(exc).__name__}: {exc})")
        finally:
            with contextlib.suppress(OSError, ValueError):
                fh.seek(start)

    def _read(self, fh: BinaryIO, path: str | os.PathLike | None) -> Provenance:
        found = containers.scan(fh)
        notes = list(found.notes)
        packets = xmp.parse(found.xmp)
        raw_exif = found.exif if found.exif is not None else found.pillow_exif
        facts_exif = exif.parse(raw_exif) if raw_exif is not None else exif.ExifFacts()
        notes += packets.notes + facts_exif.notes
        declared = classify.xmp_declared(packets)
        declared += generators.detect(found.texts, facts_exif, packets, notes)
        remote = next((u for u in packets.provenance if u.lower().startswith(("http://", "https://"))), "")
        c2pa = self._manifest(fh, found, remote, path, notes)
        return classify.decide(
            Facts(
                c2pa=c2pa,
                declared=declared,
                exif=facts_exif,
                software=_software(found.texts, facts_exif, packets, declared),
                jpeg=jpeg_quality.estimate(found.dqt) if found.format == "JPEG" else None,
                notes=notes,
            )
        )

    def _manifest(
        self, fh: BinaryIO, found: containers.Found, remote: str, path: str | os.PathLike | None, notes: list[str]
    ) -> C2paFacts | None:
        """The embedded store's facts, else the sidecar's, else the remote reference's (never fetched)."""
        assert self._c2pa is not None
        side = _sidecar_path(path)
        if found.c2pa_bytes > MAX_STORE:
            c2pa = unverifiable(f"{found.c2pa_bytes:,} bytes, over the {MAX_STORE >> 20} MiB bound: not validated")
        elif found.c2pa_bytes:
            c2pa = self._c2pa.read(fh, found.mime, remote, marked=found.c2pa_marked)
            if side and os.path.lexists(side):
                notes.append(f"sidecar {os.path.basename(side)!r} not read: the file embeds its own manifest store")
        else:
            c2pa = self._sidecar(fh, found.mime, remote, side, notes) if side else None
            if c2pa is None and remote:
                c2pa = self._c2pa.read(fh, found.mime, remote, marked=False)
        if c2pa is not None and c2pa.state in ("unverifiable", "prerelease"):
            notes.append(f"C2PA manifest store {c2pa.state} ({c2pa.error})")
        return c2pa

    def _sidecar(self, fh: BinaryIO, mime: str, remote: str, side: str, notes: list[str]) -> C2paFacts | None:
        """The facts of the sidecar store ``side`` validated against ``fh``; None when there is none."""
        assert self._c2pa is not None
        store = _read_sidecar(side, notes)
        if store is None:
            return None
        c2pa = store if isinstance(store, C2paFacts) else self._c2pa.read(fh, mime, remote, sidecar=store)
        if c2pa is not None:
            c2pa.source, c2pa.sidecar = "sidecar", clean(os.path.basename(side), 120)
            c2pa.remote_url = c2pa.remote_url or clean(remote, 200)
        return c2pa


def _sidecar_path(path: str | os.PathLike | None) -> str:
    return os.path.splitext(os.fsdecode(path))[0] + SIDECAR_SUFFIX if path is not None else ""


def _read_sidecar(side: str, notes: list[str]) -> bytes | C2paFacts | None:
    """The sidecar's bytes; None when there is none; the unverifiable facts when it cannot be read."""
    try:
        fd = os.open(side, os.O_RDONLY | os.O_NONBLOCK)  # a fifo by that name must not hang the worker
    except FileNotFoundError:
        return None
    except OSError as exc:
        return unverifiable(f"sidecar {os.path.basename(side)!r} unreadable ({exc.strerror or exc})")
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            notes.append(f"sidecar {os.path.basename(side)!r} is not a regular file: not read")
            return None
        if st.st_size > MAX_STORE:
            return unverifiable(f"sidecar of {st.st_size:,} bytes, over the {MAX_STORE >> 20} MiB bound: not validated")
        return fh.read(MAX_STORE)


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
