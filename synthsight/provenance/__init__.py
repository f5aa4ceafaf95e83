"""Provenance evidence: what a file itself declares about its origin, beside (never merged with) the CNN verdict.

Sources: C2PA manifests (validated offline by c2pa-python against the vendored C2PA trust list and
any ``--trust-anchors``), XMP/IPTC digital source type and AI fields, generator tools' metadata
(A1111/Forge, ComfyUI, InvokeAI, NovelAI, Fooocus, Draw Things, OpenAI), camera EXIF, and JPEG
quantisation tables (information only). One :class:`Provenance` per file::

    reader = ProvenanceReader(trust_anchors=[Path("ca.pem")])   # once per process
    prov = reader.read(open_binary_file)                        # per file; never raises
    prov.klass, prov.evidence, prov.detail, prov.notes
"""

from synthsight.provenance.classify import RULES
from synthsight.provenance.reader import ProvenanceReader
from synthsight.provenance.result import PROVENANCE_CLASSES, Provenance

__all__ = ["PROVENANCE_CLASSES", "RULES", "Provenance", "ProvenanceReader"]
