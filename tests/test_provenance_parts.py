"""The reader's parts: JPEG tables, source-type names, UserComment decoding, A1111 text, XMP forms, the rules table."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image
from provenance_samples import A1111, exif_bytes, image, png_text, png_with, xmp_packet

from synthsight.provenance import RULES, ProvenanceReader, containers, jpeg_quality, vocabulary, xmp
from synthsight.provenance.exif import decode_user_comment
from synthsight.provenance.generators import parse_a1111

PROVENANCE_DOC = Path(__file__).resolve().parents[1] / "docs" / "provenance.md"


@pytest.mark.parametrize("quality", [5, 30, 50, 75, 92, 100])
def test_jpeg_tables_match_pillow_and_give_the_quality_that_made_them(quality):
    data = image("jpg", size=(64, 48))
    out = io.BytesIO()
    Image.open(io.BytesIO(data)).save(out, "JPEG", quality=quality)
    found = containers.scan(io.BytesIO(out.getvalue()))
    assert found.dqt == {k: list(v) for k, v in Image.open(io.BytesIO(out.getvalue())).quantization.items()}
    assert jpeg_quality.estimate(found.dqt) == {"tables": "ijg", "quality": quality}


def test_non_standard_tables_are_named_so_with_the_nearest_quality():
    out = io.BytesIO()
    Image.open(io.BytesIO(image("jpg"))).save(out, "JPEG", qtables="web_high")
    estimate = jpeg_quality.estimate(containers.scan(io.BytesIO(out.getvalue())).dqt)
    assert estimate["tables"] == "non-standard" and 1 <= estimate["closest_quality"] <= 100
    assert jpeg_quality.describe(estimate).startswith("jpeg: non-standard quantisation tables")


def test_the_vectorised_quality_estimate_equals_the_plain_search():
    import random

    def plain(tables):  # the definition: first exact libjpeg pair, else the nearest luminance table, lowest q
        refs = {
            q: (
                jpeg_quality.ijg_table(jpeg_quality.IJG_LUMINANCE, q),
                jpeg_quality.ijg_table(jpeg_quality.IJG_CHROMINANCE, q),
            )
            for q in range(1, 101)
        }
        for q, (luma, chroma) in refs.items():
            if tables[0] == luma and (1 not in tables or tables[1] == chroma):
                return {"tables": "ijg", "quality": q}
        nearest = min(refs, key=lambda q: sum(abs(a - b) for a, b in zip(tables[0], refs[q][0], strict=True)))
        return {"tables": "non-standard", "closest_quality": nearest}

    rng = random.Random(23)
    cases = [{0: jpeg_quality.ijg_table(jpeg_quality.IJG_LUMINANCE, q)} for q in range(1, 101)]
    cases += [
        {0: [rng.randint(1, 255) for _ in range(64)], 1: [rng.randint(1, 255) for _ in range(64)]} for _ in range(60)
    ]
    cases += [{0: c[0], 1: jpeg_quality.ijg_table(jpeg_quality.IJG_CHROMINANCE, 50)} for c in cases[:100]]
    assert [jpeg_quality.estimate(c) for c in cases] == [plain(c) for c in cases]


@pytest.mark.parametrize(
    "value, name, kind",
    [
        ("http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia", "trainedAlgorithmicMedia", "ai"),
        ("https://cv.iptc.org/newscodes/digitalsourcetype/compositeSynthetic/", "compositeSynthetic", "ai"),
        ("ALGORITHMICMEDIA", "algorithmicMedia", "other"),  # not trained on sampled data: listed, not AI
        ("negativeFilm", "negativeFilm", "capture"),
        ("http://c2pa.org/digitalsourcetype/trainedAlgorithmicData", "trainedAlgorithmicData", "other"),
        ("screenCapture", "screenCapture", "other"),
        ("made-up\nvalue", "made-up value", "other"),
    ],
)
def test_source_types_normalise_to_the_iptc_name(value, name, kind):
    assert vocabulary.source_type(value) == name
    assert vocabulary.kind(name) == kind


@pytest.mark.parametrize(
    "raw",
    [
        b"UNICODE\x00" + "Steps: 20, é".encode("utf-16-be"),
        b"UNICODE\x00" + "Steps: 20, é".encode("utf-16-le"),
        b"UNICODE\x00\xff\xfe" + "Steps: 20, é".encode("utf-16-le"),
        b"ASCII\x00\x00\x00Steps: 20, \xc3\xa9\x00",
        "Steps: 20, é",
    ],
)
def test_user_comment_decodes_every_character_code(raw):
    notes: list[str] = []
    assert decode_user_comment(raw, notes) == "Steps: 20, é"
    assert notes == []


def test_a1111_text_with_quoted_values_and_multiline_prompt():
    excerpt = parse_a1111("line one\nline two\n" + A1111.split("\n", 1)[1])
    assert excerpt == {
        "model": "v2-1_512-ema-pruned",
        "model_hash": "5c6d",
        "seed": "1234",
        "steps": "20",
        "sampler": "Euler a",
        "version": "v1.6.0",
        "prompt_excerpt": "line one line two",
    }
    assert parse_a1111("a prompt with no settings line") == {}


def test_xmp_source_type_as_element_attribute_or_bag_item():
    bodies = [
        "<Iptc4xmpExt:DigitalSourceType>digitalCapture</Iptc4xmpExt:DigitalSourceType>",
        '<rdf:li Iptc4xmpExt:DigitalSourceType="digitalCapture"/>',
        "<Iptc4xmpExt:DigitalSourceType><rdf:Bag><rdf:li>digitalCapture</rdf:li></rdf:Bag></Iptc4xmpExt:DigitalSourceType>",
        '<Iptc4xmpExt:DigitalSourceType rdf:resource="digitalCapture"/>',
    ]
    for body in bodies:
        assert xmp.parse([xmp_packet(body) + b"\x00 junk after the packet"]).source_types == ["digitalCapture"], body


def test_one_bad_xmp_packet_does_not_hide_a_good_one():
    facts = xmp.parse([b"<not xml", xmp_packet("<Iptc4xmpExt:AISystemUsed>X</Iptc4xmpExt:AISystemUsed>")])
    assert facts.ai_system == ["X"] and len(facts.notes) == 1


def test_the_docs_table_mirrors_the_rules():
    text = PROVENANCE_DOC.read_text(encoding="utf-8")
    block = text.split("<!-- provenance-rules:begin")[1].split("<!-- provenance-rules:end -->")[0]
    rows = re.findall(r"^\| (\d+) \| (.+?) \| `([a-z-]+)` \|$", block, re.MULTILINE)
    assert [(text, klass) for _, text, klass in rows] == [(text, klass) for text, _, klass in RULES]


def test_the_reader_never_raises_and_restores_the_file_position(monkeypatch):
    from synthsight.provenance import reader as reader_module

    def explode(fh):
        raise RuntimeError("walk exploded")

    fh = io.BytesIO(image("png"))
    fh.seek(7)
    monkeypatch.setattr(reader_module.containers, "scan", explode)
    prov = ProvenanceReader().read(fh)
    assert prov.klass == "none" and prov.notes == ("provenance unreadable (RuntimeError: walk exploded)",)
    assert fh.tell() == 7


@pytest.mark.parametrize(
    "data, note",
    [
        (image("jpg")[:30], "structure unreadable"),
        (b"\xff\xd8\xff\xe1\x00\x01", "impossible length"),
        (png_with([(b"tEXt", b"k\x00v")] * 2)[:60], ""),
        (b"RIFF\x10\x00\x00\x00WEBPEXIF\xff\xff\xff\x7f", "over its bound"),
        (b"", ""),
        (b"GIF89a garbage", ""),
    ],
)
def test_truncated_and_damaged_containers_give_none_and_say_why(data, note):
    prov = ProvenanceReader().read(io.BytesIO(data))
    assert prov.klass == "none"
    assert (not note) or any(note in n for n in prov.notes), prov.notes


def test_many_tiny_chunks_stop_at_the_block_bound(monkeypatch):
    monkeypatch.setattr(containers, "MAX_BLOCKS", 50)
    data = png_with([(b"tIME", b"\x07\xe8\x01\x01\x00\x00\x00")] * 80)
    assert any("over 50 chunks" in n for n in ProvenanceReader().read(io.BytesIO(data)).notes)


def test_tiff_exif_is_read_through_pillow(tmp_path):
    out = io.BytesIO()
    Image.new("RGB", (16, 16)).save(out, "TIFF", exif=exif_bytes({0x010F: "FUJIFILM", 0x0110: "X-T5"}))
    prov = ProvenanceReader().read(io.BytesIO(out.getvalue()))
    assert prov.klass == "camera-declared" and prov.detail["camera"] == {"make": "FUJIFILM", "model": "X-T5"}


def test_a_manifest_store_over_its_bound_is_not_handed_to_c2pa_and_counts_as_unverifiable(monkeypatch):
    from synthsight.provenance.c2pa_manifest import C2paReader

    monkeypatch.setattr(C2paReader, "read", lambda *a, **k: pytest.fail("c2pa called for an oversized store"))
    data = png_with([(b"caBX", b"")], base=png_text({"parameters": A1111}))
    claimed = data.replace(b"\x00\x00\x00\x00caBX", (40 << 20).to_bytes(4, "big") + b"caBX", 1)
    prov = ProvenanceReader().read(io.BytesIO(claimed))
    # padding a store past the bound must not let the unsigned A1111 text decide the class
    assert prov.klass == "invalid" and any("over the 32 MiB bound" in n for n in prov.notes), prov.notes
    assert prov.evidence.startswith("c2pa: INVALID, manifest store present but not verifiable")


def test_jpeg_exif_with_the_odd_exif_ff_header_is_read():
    data = image("jpg", exif=exif_bytes({0x010F: "OLYMPUS", 0x0110: "E-M1"}))
    odd = data.replace(b"Exif\x00\x00", b"Exif\x00\xff", 1)
    assert ProvenanceReader().read(io.BytesIO(odd)).detail["camera"] == {"make": "OLYMPUS", "model": "E-M1"}


def test_the_lean_exif_reader_gives_what_pillow_gives_and_survives_damage(monkeypatch):
    import random

    from provenance_samples import CANON, CANON_SUB

    from synthsight.provenance import exif, exif_tags

    blocks = [
        exif_bytes(CANON, CANON_SUB),
        exif_bytes({0x010F: "NIKON CORPORATION", 0x0110: "NIKON Z 6", 0x0131: "Adobe Photoshop 26.0 (Windows)"}),
        exif_bytes({0x0131: "Fooocus v2.5.5", 0x9286: "{}", 0x927C: "fooocus"}),  # Fooocus: IFD0
        exif_bytes(sub={0x9286: b"UNICODE\x00" + A1111.encode("utf-16-be")}),
    ]

    def fields(facts):
        return (facts.make, facts.model, facts.software, facts.lens, facts.datetime_original)

    def everything(facts):
        return (*fields(facts), facts.description, facts.user_comment, facts.maker_note, facts.notes)

    def refuse(*args):
        raise exif_tags.TagError("read by Pillow instead")

    lean = [everything(exif.parse(b)) for b in blocks]
    with monkeypatch.context() as m:
        m.setattr(exif_tags, "read", refuse)
        assert lean == [everything(exif.parse(b)) for b in blocks]
    rng = random.Random(5)
    for _ in range(300):  # damaged blocks: a note or a partial read, never an exception, never less than Pillow
        damaged = bytearray(rng.choice(blocks))
        for _ in range(rng.randint(1, 6)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        got = fields(exif.parse(bytes(damaged)))
        with monkeypatch.context() as m:
            m.setattr(exif_tags, "read", refuse)
            pillow = fields(exif.parse(bytes(damaged)))
        assert all(g or not p for g, p in zip(got, pillow, strict=True)), (got, pillow)
