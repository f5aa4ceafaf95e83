"""C2PA reading: never a network request, one Context per process, trust lists recorded, anchors checked."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import multiprocessing
import pickle
import threading

import pytest
from provenance_samples import AI, SampleSigner, created, image

from synthsight.errors import UsageError
from synthsight.provenance import ProvenanceReader, trust


@pytest.fixture(scope="module")
def signer():
    return SampleSigner()


@pytest.fixture
def local_server():
    """An HTTP server on localhost that counts the requests it gets (and answers 404)."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def test_a_remote_manifest_is_never_fetched(signer, local_server):
    base, hits = local_server
    url = f"{base}/manifests/1.c2pa"
    remote = signer.sign(image("jpg"), "jpg", created(AI), remote=url)
    prov = ProvenanceReader().read(io.BytesIO(remote))
    assert prov.detail["c2pa"] == {"state": "remote", "remote_url": url}
    assert hits == []
    # the same file with c2pa's defaults does reach the server, so the check above can fail
    import c2pa

    with pytest.raises(c2pa.C2paError), c2pa.Reader("image/jpeg", io.BytesIO(remote)):
        pass
    assert hits == ["/manifests/1.c2pa"]


def test_settings_switch_every_network_path_off():
    settings = trust.settings(trust.load())
    assert settings["verify"]["remote_manifest_fetch"] is False
    assert settings["verify"]["ocsp_fetch"] is False
    assert settings["core"]["allowed_network_hosts"] == []


def test_c2pa_is_not_called_for_files_without_a_manifest_container(monkeypatch):
    from synthsight.provenance.c2pa_manifest import C2paReader

    def boom(*args, **kwargs):
        raise AssertionError("c2pa called for a file without a manifest container")

    monkeypatch.setattr(C2paReader, "read", boom)
    reader = ProvenanceReader()
    for ext in ("jpg", "png", "webp"):
        assert reader.read(io.BytesIO(image(ext))).klass == "none"


def _read_in_child(reader, data, queue):
    queue.put(reader.read(io.BytesIO(data)).klass)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_reader_built_in_the_parent_works_in_a_worker(signer, method):
    reader = ProvenanceReader()
    data = signer.sign(image("png"), "png", created(AI))
    assert reader.read(io.BytesIO(data)).klass == "ai-signed"  # the parent's c2pa Context now exists
    ctx = multiprocessing.get_context(method)
    queue = ctx.Queue()
    child = ctx.Process(target=_read_in_child, args=(reader, data, queue))
    child.start()
    child.join(60)
    assert queue.get(timeout=5) == "ai-signed"  # c2pa refuses a Context from another process: it makes its own


def test_a_reader_pickles_without_its_native_context(signer):
    reader = ProvenanceReader()
    reader.read(io.BytesIO(signer.sign(image("jpg"), "jpg", created(AI))))
    copy = pickle.loads(pickle.dumps(reader))
    assert copy.read(io.BytesIO(signer.sign(image("webp"), "webp", created(AI)))).klass == "ai-signed"
    assert len(pickle.dumps(reader)) < 256 << 10


def test_a_certificate_with_only_the_c2pa_claim_signing_eku_validates(signer, tmp_path):
    data = signer.sign(image("jpg"), "jpg", created(AI), leaf="claim")
    assert ProvenanceReader().read(io.BytesIO(data)).klass == "ai-signed"
    ca = tmp_path / "ca.pem"
    ca.write_bytes(signer.ca_pem)
    assert ProvenanceReader([ca]).read(io.BytesIO(data)).klass == "ai-trusted"


def test_the_vendored_trust_list_matches_its_recorded_sha256_and_is_what_describe_reports():
    base = trust.data_dir()
    source = json.loads((base / trust.TRUST_LIST_SOURCE).read_text())
    data = (base / trust.TRUST_LIST).read_bytes()
    assert hashlib.sha256(data).hexdigest() == source["sha256"]
    listed = ProvenanceReader().describe()["trust_lists"]
    assert listed == [
        {
            "name": "C2PA trust list",
            "source": f"{source['repository']} {source['path']} @ {source['commit'][:12]}",
            "date": source["date"],
            "sha256": source["sha256"],
            "certificates": source["certificates"],
        }
    ]


def test_extra_anchors_are_recorded_with_their_sha256(signer, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_bytes(b"some comment\n" + signer.ca_pem)
    described = ProvenanceReader([ca]).describe()
    assert described["enabled"] is True
    assert described["trust_lists"][1] == {
        "name": "--trust-anchors",
        "path": str(ca),
        "sha256": hashlib.sha256(ca.read_bytes()).hexdigest(),
        "certificates": 1,
    }
    assert "c2pa-python" in described["c2pa"]["library"] and "off" in described["c2pa"]["network"]


@pytest.mark.parametrize(
    "content, message",
    [(None, "no such file"), (b"not a certificate\n", "holds no PEM certificate"), ("dir", "is a directory")],
)
def test_bad_trust_anchor_files_are_one_clear_usage_error(tmp_path, content, message):
    path = tmp_path / "anchors.pem"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(UsageError, match=message):
        ProvenanceReader([path])


def test_a_disabled_reader_reads_nothing():
    reader = ProvenanceReader(trust_anchors=["/does/not/matter.pem"], enabled=False)
    assert reader.read(io.BytesIO(image("png"))) is None
    assert reader.describe() == {"enabled": False}


def test_the_vendored_list_holds_the_certificates_its_source_record_names():
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    source = trust.vendored_source()
    certs = x509.load_pem_x509_certificates((trust.data_dir() / trust.TRUST_LIST).read_bytes())
    ders = [c.public_bytes(serialization.Encoding.DER) for c in certs]
    assert [hashlib.sha256(d).hexdigest() for d in ders] == [c["sha256"] for c in source["certificate_sha256"]]
    names = [c.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value for c in certs]
    assert names == [c["name"] for c in source["certificate_sha256"]] and len(names) == source["certificates"]


@pytest.mark.parametrize("now, stale", [("2026-09-01", False), ("2027-02-04", False), ("2027-02-05", True)])
def test_a_vendored_list_older_than_six_months_is_one_warning_line_per_scan(monkeypatch, capsys, tmp_path, now, stale):
    import datetime

    from scanner_support import MeanBackend

    from synthsight.preprocess import PreprocessSpec
    from synthsight.scanner import scan
    from synthsight.spec import ModelSpec

    assert trust.vendored_source()["date"] == "2026-08-05"  # the dates above are relative to this one
    monkeypatch.setattr(trust, "today", lambda: datetime.date.fromisoformat(now))
    for i in range(3):
        (tmp_path / f"{i}.png").write_bytes(image("png"))
    backend = MeanBackend(ModelSpec(arch="convnext_atto", preprocess=PreprocessSpec(size=32)))
    summary = scan([str(tmp_path)], backend, [tmp_path / "r.csv"], workers=0, quiet=True)
    lines = [line for line in capsys.readouterr().err.splitlines() if "trust list" in line]
    assert len(lines) == (1 if stale else 0), lines
    assert ("warning" in summary.manifest["provenance"]) == stale
    if stale:
        assert lines[0].startswith("warning: the vendored C2PA trust list is from 2026-08-05 (6 months old)")


def test_trust_list_show_names_the_vendored_list_its_age_and_each_extra_file(signer, tmp_path, monkeypatch):
    import datetime

    from click.testing import CliRunner

    from synthsight.cli import cli

    monkeypatch.setattr(trust, "today", lambda: datetime.date(2027, 3, 1))
    pem = tmp_path / "mine.pem"
    pem.write_bytes(signer.ca_pem)
    result = CliRunner().invoke(cli, ["trust-list", "--show", "--trust-anchors", str(pem)])
    assert result.exit_code == 0, result.output
    source = trust.vendored_source()
    out = result.stdout
    assert source["commit"] in out and "6 months ago" in out and f"{source['certificates']} certificates" in out
    assert f"--trust-anchors {pem}: SHA-256 {hashlib.sha256(signer.ca_pem).hexdigest()}, 1 certificates" in out
    assert out.count("(until ") == source["certificates"] + 1  # one line per certificate
    assert "C2PA-TSA-TRUST-LIST" in out  # what is not shipped, and why
    assert result.stderr.startswith("warning: the vendored C2PA trust list is from")

    described = json.loads(CliRunner().invoke(cli, ["trust-list", "--show", "--json"]).stdout)
    assert described["trust_lists"] == list(ProvenanceReader().describe()["trust_lists"])
    assert described["warning"].startswith("warning:")


def test_trust_list_without_show_is_a_usage_error():
    from click.testing import CliRunner

    from synthsight.cli import cli

    result = CliRunner().invoke(cli, ["trust-list"])
    assert result.exit_code == 2 and "say --show" in result.output
