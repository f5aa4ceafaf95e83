"""Trust anchors for C2PA: the vendored C2PA trust list plus the user's ``--trust-anchors`` files.

"Trusted" means the signing certificate chains to one of these anchors (an anchor may be a root or
an intermediate CA). The anchors replace any built into c2pa-rs (``trust.trust_anchors``), so the
run manifest can name every list that was used, with its SHA-256.

``trust_config`` is set explicitly to the EKUs c2pa-rs documents as accepted for claim signing
(its valid_eku_oids.cfg): c2pa-python 0.38.1 (c2pa-rs 0.91.3) without it refuses a certificate
whose only EKU is the C2PA claim-signing one (``signingCredential.invalid``, found by test), the
very EKU the C2PA certificate policy requires of conforming signers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from synthsight.errors import UsageError

PACKAGE = "synthsight.provenance"  # the lists live in its data/ folder (package data)
TRUST_LIST = "C2PA-TRUST-LIST.pem"
TRUST_LIST_SOURCE = "C2PA-TRUST-LIST.source.json"
CLAIM_SIGNING_EKUS = (
    "1.3.6.1.5.5.7.3.4",  # id-kp-emailProtection
    "1.3.6.1.5.5.7.3.36",  # id-kp-documentSigning
    "1.3.6.1.5.5.7.3.8",  # id-kp-timeStamping
    "1.3.6.1.5.5.7.3.9",  # id-kp-OCSPSigning
    "1.3.6.1.4.1.311.76.59.1.9",  # Microsoft C2PA signing
    "1.3.6.1.4.1.62558.2.1",  # c2pa-kp-claimSigning
)
MAX_ANCHOR_FILE = 16 << 20


@dataclass(frozen=True)
class TrustAnchors:
    """The anchors in use: one PEM bundle for c2pa and, per list, what the run manifest records."""

    pem: str
    lists: tuple[dict[str, Any], ...] = field(default_factory=tuple)


def load(extra: tuple[Path, ...] | list[Path] = ()) -> TrustAnchors:
    """The vendored C2PA trust list plus each file of ``extra`` (PEM certificates).

    Raises:
        UsageError: an ``extra`` file is missing, unreadable or holds no PEM certificate.
    """
    base = data_dir()
    data = (base / TRUST_LIST).read_bytes()
    source = json.loads((base / TRUST_LIST_SOURCE).read_text(encoding="utf-8"))
    certs = _certificates(data, f"vendored {TRUST_LIST}")
    listed = {
        "name": "C2PA trust list",
        "source": f"{source['repository']} {source['path']} @ {source['commit'][:12]}",
        "date": source["date"],
        "sha256": hashlib.sha256(data).hexdigest(),
        "certificates": len(certs),
    }
    lists, pem = [listed], [_pem(certs)]
    for path in extra:
        blob = _read_anchor_file(Path(path))
        found = _certificates(blob, f"--trust-anchors {path}")
        lists.append(
            {
                "name": "--trust-anchors",
                "path": str(path),
                "sha256": hashlib.sha256(blob).hexdigest(),
                "certificates": len(found),
            }
        )
        pem.append(_pem(found))
    return TrustAnchors(pem="".join(pem), lists=tuple(lists))


def data_dir():
    """The vendored lists' folder (a Traversable: works from a checkout, a wheel or a zip)."""
    return resources.files(PACKAGE) / "data"


def settings(anchors: TrustAnchors) -> dict[str, Any]:
    """c2pa Settings: validate and check trust, never touch the network."""
    return {
        "verify": {
            "verify_after_reading": True,
            "verify_trust": True,
            "verify_timestamp_trust": True,
            "remote_manifest_fetch": False,
            "ocsp_fetch": False,
        },
        "core": {"allowed_network_hosts": []},  # belt and braces: no host may be contacted at all
        "trust": {"trust_anchors": anchors.pem, "trust_config": "\n".join(CLAIM_SIGNING_EKUS) + "\n"},
    }


def _read_anchor_file(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_ANCHOR_FILE:
            raise UsageError(f"--trust-anchors {path}: larger than {MAX_ANCHOR_FILE >> 20} MiB, not a PEM bundle")
        return path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"--trust-anchors {path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"--trust-anchors {path}: is a directory, give PEM files") from None
    except OSError as exc:
        raise UsageError(f"--trust-anchors {path}: cannot read ({exc.strerror or exc})") from None


def _certificates(blob: bytes, what: str) -> list:
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(blob)
    except ValueError:  # cryptography's message for any malformed or missing PEM block
        certs = []
    if not certs:
        raise UsageError(f"{what}: holds no PEM certificate")
    return certs


def _pem(certs: list) -> str:
    from cryptography.hazmat.primitives import serialization

    return "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in certs)
