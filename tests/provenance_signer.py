"""A test CA and C2PA signing with c2pa.Builder, for the provenance samples and the benchmark.

The CA and its ES256 leaves are made with ``cryptography`` (c2pa's signer refuses a self-signed
leaf); no thumbnail, no timestamp authority, nothing leaves the machine. Options make the kinds of
manifest the C2PA world ships: extra assertions (``stds.exif``, a raw ``cawg.identity``), C2PA 1.x
claims, a CAWG X.509 identity assertion signed by the same leaf, a sidecar store.
"""

from __future__ import annotations

import datetime
import functools
import io

MIMES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


class SampleSigner:
    """A test CA and two ES256 leaves (emailProtection; C2PA claim-signing EKU only) for c2pa.Builder."""

    def __init__(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric import ec

        self._x509, self._ec = x509, ec
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca = self._cert("synthsight test CA", self.ca_key, None, ca=True)
        self.ca_pem = self._pem(self.ca)
        email = x509.oid.ExtendedKeyUsageOID.EMAIL_PROTECTION
        self.leaves = {
            "email": self._leaf("synthsight test signer", [email]),
            "claim": self._leaf("synthsight claim signer", [x509.ObjectIdentifier("1.3.6.1.4.1.62558.2.1")]),
        }

    def _leaf(self, name: str, ekus: list):
        key = self._ec.generate_private_key(self._ec.SECP256R1())
        return self._cert(name, key, ekus, ca=False), key

    def _cert(self, name: str, key, ekus, ca: bool):
        x509 = self._x509
        from cryptography.hazmat.primitives import hashes

        now = datetime.datetime.now(datetime.timezone.utc)
        subject = x509.Name(
            [
                x509.NameAttribute(x509.NameOID.COMMON_NAME, name),
                x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, "synthsight tests"),
            ]
        )
        usage = dict(
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            encipher_only=False,
            decipher_only=False,
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject if ca else self.ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650 if ca else 365))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(digital_signature=not ca, key_cert_sign=ca, crl_sign=ca, **usage), critical=True
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )
        if not ca:
            builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=False).add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()), critical=False
            )
        return builder.sign(self.ca_key, hashes.SHA256())

    @staticmethod
    def _pem(cert) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return cert.public_bytes(serialization.Encoding.PEM)

    def sign(
        self,
        asset: bytes,
        ext: str,
        actions: list[dict],
        *,
        label: str = "c2pa.actions.v2",
        leaf: str = "email",
        ingredient: bytes | None = None,
        remote: str = "",
        assertions: tuple[dict, ...] = (),
        claim_version: int | None = None,
        identity: bool = False,
        sidecar: bool = False,
    ) -> bytes:
        """``asset`` with a C2PA manifest (no thumbnail, no timestamp authority) declaring ``actions``.

        ``assertions`` are added as given; ``claim_version=1`` makes a C2PA 1.x claim; ``identity``
        adds a CAWG X.509 identity assertion (same leaf) over the actions; ``sidecar`` returns the
        manifest store for a ``.c2pa`` file beside the unchanged asset instead of the signed asset.
        """
        import c2pa

        settings = self._settings(leaf, identity)
        manifest: dict = {
            "claim_generator_info": [{"name": "synthsight tests", "version": "1.0"}],
            "assertions": [{"label": label, "data": {"actions": actions}}, *assertions],
        }
        if claim_version is not None:
            manifest["claim_version"] = claim_version
        out = io.BytesIO()
        with _settings_signed().from_dict(settings) as ctx, c2pa.Builder(manifest, ctx) as builder:
            if ingredient is not None:
                builder.add_ingredient(
                    {"title": "parent.jpg", "relationship": "parentOf", "label": "parent"},
                    "image/jpeg",
                    io.BytesIO(ingredient),
                )
            if remote or sidecar:
                builder.set_no_embed()
            if remote:
                builder.set_remote_url(remote)
            store = builder.sign(MIMES[ext], io.BytesIO(asset), out)
        return store if sidecar else out.getvalue()

    def _settings(self, leaf: str, identity: bool) -> dict:
        """Builder settings whose ``signer`` is ``leaf`` (and, with ``identity``, a CAWG X.509 signer too)."""
        from cryptography.hazmat.primitives import serialization

        from synthsight.provenance import trust

        cert, key = self.leaves[leaf]
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        local = {"alg": "es256", "sign_cert": (self._pem(cert) + self.ca_pem).decode(), "private_key": key_pem.decode()}
        settings = {
            "builder": {"thumbnail": {"enabled": False}},
            "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
            "trust": {"trust_config": "\n".join(trust.CLAIM_SIGNING_EKUS)},
            "signer": {"local": local},
        }
        if identity:
            settings["cawg_x509_signer"] = {"local": {**local, "referenced_assertions": ["c2pa.actions.v2"]}}
        return settings


@functools.cache
def _settings_signed():
    import c2pa

    class SettingsSigned(c2pa.Context):
        """A Context whose signer is its settings' ``signer`` (and ``cawg_x509_signer``, which only a
        settings signer gets): c2pa-python's ``has_signer`` sees only a Signer object passed in."""

        @property
        def has_signer(self) -> bool:
            return True

    return SettingsSigned
