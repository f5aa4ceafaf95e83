"""C2PA manifests, read and validated by c2pa-python (c2pa-rs) with every network path off.

The settings (trust.py) switch off remote manifest fetching, OCSP and CAWG identity decoding, and
allow no network host at all, so a manifest stored only remotely is reported with its URL and never
fetched. A c2pa Context does not survive fork (the library refuses a Context made in another
process), so each process makes its own on first use.

A store that is present but that c2pa cannot validate (an unknown algorithm, a damaged store, a
box with no readable manifest) is ``unverifiable``, which the rules treat as Invalid: breaking a
manifest must never earn a better class than leaving it intact. Two exceptions: a pre-release
(before C2PA 1.0) store, which c2pa reports as such and which decides nothing, and a JPEG APP11 JUMBF
box that holds no C2PA data at all (JPEG XT, JPEG 360 use the same segments). The facts of a
readable store are in c2pa_store.py.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, BinaryIO

from synthsight.provenance.c2pa_store import C2paFacts, summarise
from synthsight.provenance.result import clean

MAX_STORE = 32 << 20  # a manifest store larger than this is not handed to c2pa
_URL = re.compile(r"https?://\S+")

__all__ = ["MAX_STORE", "C2paFacts", "C2paReader", "summarise"]


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

    def read(
        self, fh: BinaryIO, mime: str, remote_url: str = "", marked: bool = True, sidecar: bytes | None = None
    ) -> C2paFacts | None:
        """The facts of ``fh``'s manifest store, or of ``sidecar`` (a ``.c2pa`` store kept beside the file).

        ``marked``: the container walk saw C2PA data (a ``caBX`` or ``C2PA`` chunk, a JUMBF box that
        names c2pa, a sidecar). None when c2pa finds no C2PA store and nothing was marked.
        """
        import c2pa

        fh.seek(0)
        try:
            with c2pa.Reader(mime or None, fh, sidecar, context=self.context()) as reader:
                state = reader.get_validation_state() or ""
                store = json.loads(reader.json())
        except c2pa.C2paError.ManifestNotFound:
            return unverifiable("its box holds no readable manifest") if marked else None
        except c2pa.C2paError as exc:
            text = str(exc)
            if text.startswith("Remote"):  # the store lives at a URL we never fetch
                url = remote_url or next(iter(_URL.findall(text)), "")
                return C2paFacts(state="remote", remote_url=clean(url.rstrip(".,;'\""), 200))
            if "prerelease" in text.lower():
                return C2paFacts(state="prerelease", error=clean(text, 160))
            return unverifiable(text) if marked else None
        except Exception as exc:  # the stream callbacks or the JSON can fail in other ways on hostile files
            return unverifiable(f"{type(exc).__name__}: {exc}") if marked else None
        return summarise(store, state)


def unverifiable(why: str) -> C2paFacts:
    """A store that is there but cannot be validated (the rules treat it as Invalid)."""
    return C2paFacts(state="unverifiable", error=clean(why, 160))
