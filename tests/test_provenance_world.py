"""Cases from the C2PA world's own test files (issue 23), rebuilt here with the test CA and c2pa.Builder.

c2pa-rs's no_alg.jpg / XCA.jpg (a manifest c2pa cannot validate), its claim_aggregation files (an
identity assertion c2pa cannot check offline), c2pa-python's C_with_CAWG_data.jpg (a trusted signer
beside a CAWG credential), cloud.jpg + its .c2pa (a sidecar store), public-testfiles' CIE-sig-CA
(a failed ingredient), and the four rules the class table settles.
"""

from __future__ import annotations

import io
import json

import pytest
from provenance_samples import AI, CANON, CANON_SUB, CAPTURE, SampleSigner, created, exif_bytes, image, tampered

from synthsight.provenance import ProvenanceReader, trust
from synthsight.provenance.c2pa_store import summarise


@pytest.fixture(scope="module")
def signer():
    return SampleSigner()


@pytest.fixture(scope="module")
def anchor(signer, tmp_path_factory):
    path = tmp_path_factory.mktemp("anchor") / "test-ca.pem"
    path.write_bytes(signer.ca_pem)
    return path


def cose_alg(signed: bytes, new: int) -> bytes:
    """``signed`` with the COSE algorithm of its claim signature (ES256, -7) set to ``new`` (one byte)."""
    at = signed.find(b"\x01\x26", signed.find(b"\xd2\x84"))  # alg (1): -7, in the protected header
    assert at > 0
    data = bytearray(signed)
    data[at + 1] = new
    return bytes(data)


# --- defect 1: a manifest c2pa refuses to validate is invalid, whatever else the file says


def test_a_manifest_c2pa_cannot_validate_is_invalid_not_the_unsigned_exif_class(signer):
    photo = image("jpg", exif=exif_bytes(CANON, CANON_SUB))
    broken = cose_alg(signer.sign(photo, "jpg", created(AI)), 0x37)  # -24: no such algorithm
    prov = ProvenanceReader().read(io.BytesIO(broken))
    assert prov.klass == "invalid", prov.evidence  # was camera-declared: the broken manifest fell through
    assert prov.evidence.startswith("c2pa: INVALID, manifest store present but not verifiable (")
    assert prov.detail["c2pa"]["state"] == "unverifiable"
    assert any(n.startswith("C2PA manifest store unverifiable") for n in prov.notes)


def test_a_prerelease_store_is_reported_and_decides_nothing(monkeypatch, signer):
    import c2pa

    def prerelease(*args, **kwargs):
        raise c2pa.C2paError.Other("Other: prerelease content detected")

    photo = signer.sign(image("jpg", exif=exif_bytes(CANON, CANON_SUB)), "jpg", created(AI))
    monkeypatch.setattr(c2pa, "Reader", prerelease)
    prov = ProvenanceReader().read(io.BytesIO(photo))
    assert prov.klass == "camera-declared"  # as before issue 23: a 2021 CAI store is not validated
    assert prov.evidence.startswith("c2pa: pre-release manifest store (before C2PA 1.0), not validated")


def test_a_jumbf_box_of_another_kind_is_not_a_c2pa_manifest():
    box = b"\x00\x00\x00\x20jumb\x00\x00\x00\x18jumd" + bytes(16)  # JPEG XT-style: no c2pa label or type
    segment = b"\xff\xeb" + (len(box) + 10).to_bytes(2, "big") + b"JP\x00\x01\x00\x00\x00\x01" + box
    photo = image("jpg")
    prov = ProvenanceReader().read(io.BytesIO(photo[:2] + segment + photo[2:]))
    assert prov.klass == "none" and "c2pa" not in prov.detail, prov


# --- defect 2: an identity assertion c2pa cannot check offline is not tampering


def identity_claims_aggregation() -> dict:
    """A ``cawg.identity`` assertion of the claims-aggregation kind whose credential cannot be checked."""
    payload = {
        "referenced_assertions": [{"url": "self#jumbf=c2pa.assertions/c2pa.actions.v2", "hash": "AAAA"}],
        "sig_type": "cawg.identity_claims_aggregation",
    }
    return {"label": "cawg.identity", "data": {"signer_payload": payload, "signature": "AAAA", "pad1": "", "pad2": ""}}


def test_an_identity_assertion_that_cannot_be_checked_is_evidence_not_invalid(signer):
    data = signer.sign(
        image("jpg"), "jpg", created(CAPTURE, "Example Camera 1.0"), assertions=(identity_claims_aggregation(),)
    )
    prov = ProvenanceReader().read(io.BytesIO(data))
    assert prov.klass == "camera-signed", prov.evidence  # c2pa itself says Invalid when it decodes the identity
    assert "identity assertion (identity claims aggregation) not checked offline" in prov.evidence
    assert prov.detail["c2pa"]["identity"] == [{"label": "cawg.identity", "type": "identity claims aggregation"}]
    assert not [c for c in prov.detail["c2pa"].get("codes", []) if c.startswith("cawg.")]


def test_identity_assertions_are_not_decoded_so_no_credential_check_can_reach_the_network():
    assert trust.settings(trust.load())["core"]["decode_identity_assertions"] is False


def test_cawg_codes_in_a_store_are_identity_evidence_not_failures_of_the_claim():
    store = _store(
        success=["claimSignature.validated", "assertion.dataHash.match"],
        failure=["signingCredential.untrusted", "cawg.ica.did_unavailable"],
        assertions=[identity_claims_aggregation()],
    )
    facts = summarise(store, "Invalid")  # c2pa's overall state when it decoded the identity
    assert facts.state == "Valid" and facts.codes == ["signingCredential.untrusted"]
    assert facts.identity[0]["codes"] == ["cawg.ica.did_unavailable"]


# --- defect 3: signer trust from the active manifest's signingCredential codes


def test_a_trusted_signer_stays_trusted_beside_a_cawg_credential(signer, anchor):
    data = signer.sign(image("jpg"), "jpg", created(CAPTURE, "Example Camera 1.0"), identity=True)
    prov = ProvenanceReader([anchor]).read(io.BytesIO(data))
    assert prov.klass == "camera-trusted", prov.evidence  # was camera-signed: "untrusted signer"
    assert prov.evidence.startswith(f'c2pa: trusted signer "synthsight test signer" (--trust-anchors {anchor.name})')
    assert "identity assertion (X.509) not checked offline" in prov.evidence


def test_trust_comes_from_the_signing_credential_codes_not_the_overall_state():
    store = _store(
        success=["signingCredential.trusted", "claimSignature.validated"],
        failure=["cawg.x509.credential.untrusted"],
        explanation="signing certificate trusted, found in [C2PA trust list] trust anchors",
    )
    facts = summarise(store, "Valid")  # c2pa demotes it to Valid over the CAWG credential
    assert (facts.state, facts.trust_list, facts.codes) == ("Trusted", "C2PA trust list", [])


# --- items 5 and 6: sidecar stores, failed ingredients


def test_a_sidecar_store_is_validated_against_the_file_beside_it(signer, tmp_path):
    photo = image("jpg")
    (tmp_path / "photo.jpg").write_bytes(photo)
    (tmp_path / "photo.c2pa").write_bytes(signer.sign(photo, "jpg", created(AI), sidecar=True))
    reader = ProvenanceReader()
    with open(tmp_path / "photo.jpg", "rb") as fh:
        prov = reader.read(fh, tmp_path / "photo.jpg")
        assert reader.read(fh).klass == "none"  # without its path, no sidecar is looked for
    assert prov.klass == "ai-signed"
    assert prov.evidence.startswith('c2pa (sidecar "photo.c2pa"): valid, untrusted signer')
    assert prov.detail["c2pa"]["source"] == "sidecar" and prov.detail["c2pa"]["sidecar"] == "photo.c2pa"
    (tmp_path / "photo.jpg").write_bytes(tampered(photo))
    with open(tmp_path / "photo.jpg", "rb") as fh:
        assert reader.read(fh, tmp_path / "photo.jpg").klass == "invalid"  # the sidecar binds the bytes


def test_a_sidecar_beside_a_file_with_its_own_store_is_noted_not_read(signer, tmp_path):
    (tmp_path / "photo.jpg").write_bytes(signer.sign(image("jpg"), "jpg", created(CAPTURE)))
    (tmp_path / "photo.c2pa").write_bytes(b"not a manifest store")
    with open(tmp_path / "photo.jpg", "rb") as fh:
        prov = ProvenanceReader().read(fh, tmp_path / "photo.jpg")
    assert prov.klass == "camera-signed"
    assert "sidecar 'photo.c2pa' not read: the file embeds its own manifest store" in prov.notes


def test_ingredient_failures_are_named_apart_from_the_active_manifest(signer):
    parent = tampered(signer.sign(image("jpg"), "jpg", created(AI)))
    opened = [{"action": "c2pa.opened", "parameters": {"ingredientIds": ["parent"]}}]
    prov = ProvenanceReader().read(io.BytesIO(signer.sign(image("jpg"), "jpg", opened, ingredient=parent)))
    assert prov.klass == "none"  # only the active manifest decides, and it declares no source type
    assert 'ingredient "parent.jpg" INVALID (assertion.dataHash.mismatch)' in prov.evidence
    c2pa = prov.detail["c2pa"]
    assert c2pa["ingredient_failures"] == [{"title": "parent.jpg", "codes": ["assertion.dataHash.mismatch"]}]
    assert c2pa["codes"] == ["signingCredential.untrusted"]


def test_the_causes_of_an_invalid_manifest_come_before_its_trust_codes(signer):
    prov = ProvenanceReader().read(io.BytesIO(cose_alg(signer.sign(image("jpg"), "jpg", created(AI)), 0x27)))
    assert prov.klass == "invalid"
    codes = prov.detail["c2pa"]["codes"]
    assert codes[-1] == "signingCredential.untrusted" and "claimSignature.mismatch" in codes[:2], codes
    assert prov.evidence.startswith("c2pa: INVALID (signingCredential.invalid, claimSignature.mismatch, sign")


# --- the four rules (README class table)


NIKON_EXIF = {
    "label": "stds.exif",
    "data": {
        "@context": {"exif": "http://ns.adobe.com/exif/1.0/", "tiff": "http://ns.adobe.com/tiff/1.0/"},
        "tiff:Make": "NIKON CORPORATION",
        "tiff:Model": "NIKON Z 9",
        "exif:LensModel": "NIKKOR Z 24-70mm f/4 S",
    },
}


def test_rule_signed_camera_exif_counts_as_capture_without_a_source_type(signer, anchor):
    v1 = signer.sign(image("jpg"), "jpg", [{"action": "c2pa.created"}], assertions=(NIKON_EXIF,), claim_version=1)
    prov = ProvenanceReader().read(io.BytesIO(v1))
    assert prov.klass == "camera-signed", prov.evidence
    assert 'signed exif: "NIKON Z 9", lens "NIKKOR Z 24-70mm f/4 S"' in prov.evidence
    assert ProvenanceReader([anchor]).read(io.BytesIO(v1)).klass == "camera-trusted"
    art = [{"action": "c2pa.created", "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalArt"}]
    with_type = signer.sign(image("jpg"), "jpg", art, assertions=(NIKON_EXIF,))
    assert ProvenanceReader().read(io.BytesIO(with_type)).klass == "none"  # a declared type decides


def test_rule_algorithmic_media_is_listed_not_ai(signer):
    made = created("http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicMedia", "Gradient Maker")
    prov = ProvenanceReader().read(io.BytesIO(signer.sign(image("png"), "png", made)))
    assert prov.klass == "none" and 'created algorithmicMedia by "Gradient Maker"' in prov.evidence


def test_rule_pixel_hidden_stealth_pnginfo_is_not_read():
    import numpy as np
    from PIL import Image

    text = b"stealth_pnginfo" + (16 * 8 * 20).to_bytes(4, "big") + b"Steps: 20, Sampler: Euler a, Seed: 1"
    bits = np.unpackbits(np.frombuffer(text, np.uint8))
    alpha = np.full((24, 32), 255, np.uint8)
    flat = alpha.T.reshape(-1)  # written column by column, as A1111's stealth pnginfo does
    flat[: bits.size] = (flat[: bits.size] & 0xFE) | bits
    rgba = np.dstack([np.asarray(Image.linear_gradient("L").resize((32, 24)))] * 3 + [flat.reshape(32, 24).T])
    out = io.BytesIO()
    Image.fromarray(rgba.astype(np.uint8), "RGBA").save(out, "PNG")
    prov = ProvenanceReader().read(io.BytesIO(out.getvalue()))
    assert prov.klass == "none" and prov.evidence == ""  # a stated limit, not an oversight


def test_rule_a_failed_identity_assertion_with_the_claim_intact_is_not_invalid():
    store = _store(
        success=["claimSignature.validated", "assertion.dataHash.match", "assertion.hashedURI.match"],
        failure=["signingCredential.untrusted", "cawg.identity.hard_binding_missing", "cawg.x509.signature.mismatch"],
        assertions=[{"label": "cawg.identity", "data": {"signer_payload": {"sig_type": "cawg.x509.cose"}}}],
    )
    facts = summarise(store, "Invalid")
    assert facts.state == "Valid"
    assert facts.identity == [
        {
            "label": "cawg.identity",
            "type": "X.509",
            "codes": ["cawg.identity.hard_binding_missing", "cawg.x509.signature.mismatch"],
        }
    ]


# --- the trust list


def test_a_tsa_kind_anchor_also_trusts_claim_signers_in_this_c2pa_so_no_tsa_list_is_passed(signer):
    """Pins why C2PA-TSA-TRUST-LIST is not shipped (trust.py): when this fails, c2pa keeps the lists apart."""
    import c2pa

    settings = trust.settings(trust.load())
    settings["trust"]["anchors"].append(
        {"trust_anchors": signer.ca_pem.decode(), "trust_kind": "tsa", "trust_uri": "tsa only"}
    )
    data = signer.sign(image("jpg"), "jpg", created(AI))
    with c2pa.Reader("image/jpeg", io.BytesIO(data), context=c2pa.Context.from_json(json.dumps(settings))) as r:
        assert r.get_validation_state() == "Trusted"
    assert all(a["trust_kind"] == "manifest" for a in trust.settings(trust.load())["trust"]["anchors"])


def _store(success: list[str], failure: list[str], assertions: list | None = None, explanation: str = "") -> dict:
    """A minimal ``Reader.json()`` store whose active manifest has these status codes."""

    def status(code: str) -> dict:
        return {"code": code, "explanation": explanation if code == "signingCredential.trusted" else ""}

    actions = {"label": "c2pa.actions.v2", "data": {"actions": created(CAPTURE)}}
    return {
        "active_manifest": "urn:c2pa:1",
        "manifests": {"urn:c2pa:1": {"assertions": [actions, *(assertions or [])], "signature_info": {}}},
        "validation_results": {
            "activeManifest": {"success": [status(c) for c in success], "failure": [status(c) for c in failure]}
        },
    }
