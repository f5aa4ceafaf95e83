"""Trust anchors for C2PA: the vendored C2PA trust list plus the user's ``--trust-anchors`` files.

"Trusted" means the signing certificate chains to one of these anchors (an anchor may be a root or
an intermediate CA). The anchors replace any built into c2pa-rs, one ``trust.anchors`` entry per list
(``trust_kind`` manifest, ``trust_uri`` its name), so the run manifest can name every list that was
used, with its SHA-256, and a record names the list its trusted signer is on.

No timestamp-authority list is passed: c2pa-rs 0.91.3 takes an anchor of ``trust_kind`` tsa as a
claim-signing anchor as well (a test pins this), which would widen who counts as a trusted signer.
CAWG identity assertions are not decoded (``core.decode_identity_assertions``): validating their
credentials can need the network (a ``did:web`` issuer), which c2pa's ``allowed_network_hosts``
does not cover for them; they are listed as not checked (c2pa_store.py).

A vendored list goes stale as signers join: a scan warns once when it is older than
:data:`STALE_MONTHS` months. Nothing is ever fetched.

``trust_config`` is set explicitly to the EKUs c2pa-rs documents as accepted for claim signing
(its valid_eku_oids.cfg): c2pa-python 0.38.1 (c2pa-rs 0.91.3) without it refuses a certificate
whose only EKU is the C2PA claim-signing one (``signingCredential.invalid``, found by test), the
very EKU the C2PA certificate policy requires of conforming signers.
"""

from __future__ import annotations

import datetime
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
STALE_MONTHS = 6  # the list changed every month or two in 2025-2026
VENDORED = "C2PA trust list"


@dataclass(frozen=True)
class TrustAnchors:
    """The anchors in use: one PEM bundle for c2pa and, per list, what the run manifest records."""

    pem: str  # every anchor, one bundle
    lists: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    pems: tuple[str, ...] = ()  # per list, in the order of ``lists``


def load(extra: tuple[Path, ...] | list[Path] = ()) -> TrustAnchors:
    """The vendored C2PA trust list plus each file of ``extra`` (PEM certificates).

    Raises:
        UsageError: an ``extra`` file is missing, unreadable or holds no PEM certificate.
    """
    data = (data_dir() / TRUST_LIST).read_bytes()
    source = vendored_source()
    certs = _certificates(data, f"vendored {TRUST_LIST}")
    listed = {
        "name": VENDORED,
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
    return TrustAnchors(pem="".join(pem), lists=tuple(lists), pems=tuple(pem))


def vendored_source() -> dict[str, Any]:
    """The vendored list's source record (where it came from, when, its SHA-256)."""
    return json.loads((data_dir() / TRUST_LIST_SOURCE).read_text(encoding="utf-8"))


def show(anchors: TrustAnchors, now: datetime.date | None = None) -> list[str]:
    """What ``synthsight trust-list --show`` prints: each list in use, where from, how old, its certificates."""
    from cryptography import x509

    source, lines = vendored_source(), []
    for item, pem in zip(anchors.lists, anchors.pems, strict=True):
        if item["name"] == VENDORED:
            months = age_months(item["date"], now)
            lines += [
                f"{VENDORED} (vendored): {source['repository']} {source['path']} @ {source['commit']}",
                f"  issued {source.get('list_issued', item['date'])}, {months} months ago (a scan warns from "
                f"{STALE_MONTHS}); vendored {source.get('vendored', '?')}",
                f"  {TRUST_LIST}: SHA-256 {item['sha256']}, {item['certificates']} certificates",
            ]
        else:
            lines.append(
                f"--trust-anchors {item['path']}: SHA-256 {item['sha256']}, {item['certificates']} certificates"
            )
        for cert in x509.load_pem_x509_certificates(pem.encode("ascii")):
            digest = hashlib.sha256(cert.public_bytes(_der())).hexdigest()
            lines.append(f"    {_subject(cert)}  (until {cert.not_valid_after_utc.date()}, SHA-256 {digest[:16]}…)")
    if source.get("not_shipped"):
        lines.append(f"not shipped: {source['not_shipped']}")
    return lines


def _subject(cert) -> str:
    from cryptography import x509

    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    orgs = cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    cn = names[0].value if names else cert.subject.rfc4514_string()
    return f"{cn} ({orgs[0].value})" if orgs and orgs[0].value not in cn else str(cn)


def _der():
    from cryptography.hazmat.primitives import serialization

    return serialization.Encoding.DER


def today() -> datetime.date:
    """The date a list's age is counted to (one place, so a test can move the clock)."""
    return datetime.date.today()


def age_months(date: str, now: datetime.date | None = None) -> int:
    """Whole months from ``date`` (YYYY-MM-DD) to ``now`` (default: :func:`today`)."""
    then, now = datetime.date.fromisoformat(date), now or today()
    return (now.year - then.year) * 12 + now.month - then.month - (now.day < then.day)


def stale_warning() -> str:
    """One line when the vendored list is older than :data:`STALE_MONTHS` months, else ""."""
    date = vendored_source()["date"]
    months = age_months(date)
    if months < STALE_MONTHS:
        return ""
    return (
        f"warning: the vendored C2PA trust list is from {date} ({months} months old): signers that joined since "
        "are reported as untrusted (-signed, not -trusted); pass a newer list with --trust-anchors "
        "(`synthsight trust-list --show` says what is vendored)"
    )


def data_dir():
    """The vendored lists' folder (a Traversable: works from a checkout, a wheel or a zip)."""
    return resources.files(PACKAGE) / "data"


def settings(anchors: TrustAnchors) -> dict[str, Any]:
    """c2pa Settings: validate and check trust, never touch the network, leave CAWG identities undecoded."""
    names = _list_names(anchors.lists)
    return {
        "verify": {
            "verify_after_reading": True,
            "verify_trust": True,
            "verify_timestamp_trust": True,
            "remote_manifest_fetch": False,
            "ocsp_fetch": False,
        },
        # belt and braces: no host may be contacted at all; identity credentials may need one (module docstring)
        "core": {"allowed_network_hosts": [], "decode_identity_assertions": False},
        "trust": {
            "anchors": [
                {"trust_anchors": pem, "trust_kind": "manifest", "trust_uri": name}
                for pem, name in zip(anchors.pems, names, strict=True)
            ],
            "trust_config": "\n".join(CLAIM_SIGNING_EKUS) + "\n",
        },
    }


def _list_names(lists: tuple[dict[str, Any], ...]) -> list[str]:
    """What c2pa calls each list (its ``trust_uri``, which a record's evidence names): the vendored list,
    then ``--trust-anchors FILE`` by file name (by path when two files share a name)."""
    extra = [Path(item["path"]) for item in lists[1:]]
    unique = len({p.name for p in extra}) == len(extra)
    return [VENDORED] + [f"--trust-anchors {p.name if unique else p}" for p in extra]


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
