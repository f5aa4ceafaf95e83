"""Files that carry provenance metadata, made offline, with the class each must get.

``write_samples(folder)`` writes them all and returns ``{file name: expected class}`` as read with
the vendored trust list only, each with its path (``c2pa-sidecar.jpg`` has its store beside it);
every signed file is signed by a test CA (provenance_signer.py) made with
``cryptography``, so with that CA as a trust anchor (``write_samples(folder, ca_pem=PATH)`` writes
it; ``with_test_anchor(expected)`` gives the classes then) each ``-signed`` becomes ``-trusted``.
Reused by the reader's tests and by the scanner's end-to-end report tests.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

from PIL import Image, PngImagePlugin
from provenance_signer import SampleSigner

AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
COMPOSITE_AI = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
REMOTE_URL = "http://127.0.0.1:9/synthsight-test-manifest.c2pa"  # the discard port: nothing answers
A1111 = (
    "a lighthouse at dusk, oil painting\nNegative prompt: blurry\n"
    "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 512x512, Model hash: 5c6d, "
    'Model: v2-1_512-ema-pruned, Lora hashes: "a: 1, b: 2", Version: v1.6.0'
)
FORMATS = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}


def write_samples(folder: Path, ca_pem: Path | None = None) -> dict[str, str]:
    """Write every sample into ``folder`` (created) and return ``{file name: expected class}``."""
    folder.mkdir(parents=True, exist_ok=True)
    signer = SampleSigner()
    if ca_pem is not None:
        ca_pem.write_bytes(signer.ca_pem)
    expected: dict[str, str] = {}
    for group in (_c2pa_samples, _xmp_samples, _generator_samples, _camera_and_decoys, _hostile_samples):
        for name, (data, klass) in group(signer).items():
            (folder / name).write_bytes(data)
            expected[name] = klass
    # a manifest store beside its image (not a sample itself: the walk counts it as a sidecar)
    plain = (folder / "c2pa-sidecar.jpg").read_bytes()
    (folder / "c2pa-sidecar.c2pa").write_bytes(signer.sign(plain, "jpg", created(AI), sidecar=True))
    return expected


def with_test_anchor(expected: dict[str, str]) -> dict[str, str]:
    """The classes when the test CA is a trust anchor: every signed file becomes trusted."""
    return {name: klass.replace("-signed", "-trusted") for name, klass in expected.items()}


def image(ext: str, size: tuple[int, int] = (32, 24), **save) -> bytes:
    """A small picture (a gradient, so JPEG has real entropy-coded data) in format ``ext``."""
    im = Image.linear_gradient("L").resize(size).convert("RGB")
    out = io.BytesIO()
    im.save(out, FORMATS[ext], **({"quality": 90} if ext == "jpg" else {}), **save)
    return out.getvalue()


def exif_bytes(ifd0: dict | None = None, sub: dict | None = None) -> bytes:
    ex = Image.Exif()
    for tag, value in (ifd0 or {}).items():
        ex[tag] = value
    if sub:
        ex[0x8769] = sub
    return ex.tobytes()


def xmp_packet(body: str) -> bytes:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:exif="http://ns.adobe.com/exif/1.0/">'
        f"{body}</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()


def png_with(chunks: list[tuple[bytes, bytes]], base: bytes | None = None) -> bytes:
    """A PNG with raw ``(type, data)`` chunks inserted after IHDR (for what Pillow will not write)."""
    base = base or image("png")
    made = b"".join(struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d)) for t, d in chunks)
    return base[:33] + made + base[33:]


def png_text(texts: dict[str, str], **save) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)
    return image("png", pnginfo=info, **save)


def created(source_type: str, agent: str = "Example Diffusion 3") -> list[dict]:
    return [{"action": "c2pa.created", "digitalSourceType": source_type, "softwareAgent": {"name": agent}}]


def _c2pa_samples(s: SampleSigner) -> dict[str, tuple[bytes, str]]:
    ai_jpg = s.sign(image("jpg"), "jpg", created(AI))
    opened = [{"action": "c2pa.opened", "parameters": {"ingredientIds": ["parent"]}}]
    adobe = [
        *opened,
        {
            "action": "c2pa.edited",
            "softwareAgent": "Adobe Photoshop 26.0",
            "parameters": {"com.adobe.digitalSourceType": COMPOSITE_AI},
        },
    ]
    return {
        "c2pa-ai.jpg": (ai_jpg, "ai-signed"),
        "c2pa-ai.png": (s.sign(image("png"), "png", created(AI)), "ai-signed"),
        "c2pa-ai.webp": (s.sign(image("webp"), "webp", created(AI)), "ai-signed"),
        "c2pa-capture.jpg": (s.sign(image("jpg"), "jpg", created(CAPTURE, "Example Camera 1.0")), "camera-signed"),
        "c2pa-capture.webp": (s.sign(image("webp"), "webp", created(CAPTURE, "Example Camera 1.0")), "camera-signed"),
        "c2pa-claim-signing-eku.png": (s.sign(image("png"), "png", created(AI), leaf="claim"), "ai-signed"),
        "c2pa-adobe-parameters.jpg": (
            s.sign(image("jpg"), "jpg", adobe, label="c2pa.actions", ingredient=ai_jpg),
            "ai-signed",
        ),
        "c2pa-edit-of-ai-ingredient.jpg": (
            s.sign(image("jpg"), "jpg", [*opened, {"action": "c2pa.color_adjustments"}], ingredient=ai_jpg),
            "none",
        ),
        "c2pa-capture-with-a1111-text.png": (
            s.sign(png_text({"parameters": A1111}), "png", created(CAPTURE, "Example Camera 1.0")),
            "camera-signed",
        ),
        "c2pa-tampered.jpg": (tampered(ai_jpg), "invalid"),
        "c2pa-remote.jpg": (s.sign(image("jpg"), "jpg", created(AI), remote=REMOTE_URL), "none"),
        "c2pa-sidecar.jpg": (image("jpg", size=(24, 24)), "ai-signed"),  # its store: c2pa-sidecar.c2pa
    }


def tampered(jpeg: bytes) -> bytes:
    """``jpeg`` with one byte of its compressed picture data changed (the signed hash no longer matches)."""
    data = bytearray(jpeg)
    pos = len(data) - 8
    while data[pos] in (0xFF, 0x00) or data[pos - 1] == 0xFF:
        pos -= 1
    data[pos] ^= 0x01
    return bytes(data)


def _xmp_samples(s: SampleSigner) -> dict[str, tuple[bytes, str]]:
    dst = "<Iptc4xmpExt:DigitalSourceType>{}</Iptc4xmpExt:DigitalSourceType>"
    png_xmp = PngImagePlugin.PngInfo()
    png_xmp.add_itxt("XML:com.adobe.xmp", xmp_packet(dst.format("compositeWithTrainedAlgorithmicMedia")).decode())
    return {
        "xmp-ai.jpg": (image("jpg", xmp=xmp_packet(dst.format(AI))), "ai-declared"),
        "xmp-ai.webp": (image("webp", xmp=xmp_packet(dst.format("compositeSynthetic"))), "ai-declared"),
        "xmp-ai.png": (image("png", pnginfo=png_xmp), "ai-declared"),
        "xmp-capture.jpg": (
            image("jpg", xmp=xmp_packet(f'<rdf:li Iptc4xmpExt:DigitalSourceType="{CAPTURE}"/>')),
            "camera-declared",
        ),
        "xmp-ai-system.jpg": (
            image(
                "jpg",
                xmp=xmp_packet(
                    "<Iptc4xmpExt:AISystemUsed>Example Imagine</Iptc4xmpExt:AISystemUsed>"
                    "<Iptc4xmpExt:AISystemVersionUsed>7.1</Iptc4xmpExt:AISystemVersionUsed>"
                    "<Iptc4xmpExt:AIPromptInformation>a quiet harbour</Iptc4xmpExt:AIPromptInformation>"
                ),
            ),
            "ai-declared",
        ),
        "xmp-digital-art.jpg": (image("jpg", xmp=xmp_packet(dst.format("digitalArt"))), "none"),
    }


def _generator_samples(s: SampleSigner) -> dict[str, tuple[bytes, str]]:
    graph = {
        "3": {"class_type": "KSampler", "inputs": {"seed": 42, "steps": 25, "sampler_name": "euler"}},
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sdxl_base.safetensors"}},
    }
    workflow = {"nodes": [{"id": 3, "type": "KSampler"}, {"id": 4, "type": "CheckpointLoaderSimple"}]}
    utf16 = A1111.encode("utf-16-be")
    fooocus = {
        "prompt": "a cat",
        "base_model": "juggernautXL_v8.safetensors",
        "seed": "77",
        "steps": 30,
        "version": "Fooocus v2.5.5",
    }
    draw = {"c": "a red fox", "model": "flux_1_schnell_q5p.ckpt", "seed": 99, "steps": 8, "sampler": "Euler A Trailing"}
    alt = f'<rdf:Alt><rdf:li xml:lang="x-default">{json.dumps(draw)}</rdf:li></rdf:Alt>'
    comment = f"<exif:UserComment>{alt}</exif:UserComment>"
    dt_xmp = xmp_packet(f"<xmp:CreatorTool>Draw Things</xmp:CreatorTool>{comment}")
    dt_png = PngImagePlugin.PngInfo()
    dt_png.add_itxt("XML:com.adobe.xmp", dt_xmp.decode())
    return {
        "a1111.png": (png_text({"parameters": A1111}), "ai-declared"),
        "a1111.jpg": (image("jpg", exif=exif_bytes(sub={0x9286: b"UNICODE\x00" + utf16})), "ai-declared"),
        "a1111-utf16le.webp": (
            image("webp", exif=exif_bytes(sub={0x9286: b"UNICODE\x00" + A1111.encode("utf-16-le")})),
            "ai-declared",
        ),
        "comfyui.png": (png_text({"prompt": json.dumps(graph), "workflow": json.dumps(workflow)}), "ai-declared"),
        "comfyui.webp": (
            image(
                "webp",
                exif=exif_bytes({0x0110: "prompt:" + json.dumps(graph), 0x010F: "workflow:" + json.dumps(workflow)}),
            ),
            "ai-declared",
        ),
        "invokeai.png": (
            png_text(
                {
                    "invokeai_metadata": json.dumps(
                        {"model": {"name": "sd-1.5"}, "seed": 5, "steps": 30, "positive_prompt": "x"}
                    ),
                    "invokeai_graph": "{}",
                }
            ),
            "ai-declared",
        ),
        "invokeai-sd-metadata.png": (
            png_text(
                {
                    "sd-metadata": json.dumps(
                        {
                            "model_weights": "stable-diffusion-1.5",
                            "app_id": "invoke-ai/InvokeAI",
                            "image": {"seed": 7, "steps": 50},
                        }
                    )
                }
            ),
            "ai-declared",
        ),
        "invokeai-dream.png": (
            png_text({"Dream": '"a castle" -s 50 -S 3357757885 -W 512 -H 512 -C 7.5 -A k_lms'}),
            "ai-declared",
        ),
        "novelai.png": (
            png_text(
                {
                    "Software": "NovelAI",
                    "Source": "NovelAI Diffusion V4.5 4BDE2A90",
                    "Comment": json.dumps({"prompt": "x", "steps": 28, "seed": 123, "sampler": "k_euler_ancestral"}),
                }
            ),
            "ai-declared",
        ),
        "fooocus.png": (png_text({"parameters": json.dumps(fooocus), "fooocus_scheme": "fooocus"}), "ai-declared"),
        "fooocus.jpg": (
            image("jpg", exif=exif_bytes({0x0131: "Fooocus v2.5.5", 0x9286: json.dumps(fooocus), 0x927C: "fooocus"})),
            "ai-declared",
        ),
        "drawthings.png": (image("png", pnginfo=dt_png), "ai-declared"),
        "openai-dalle.png": (
            image(
                "png",
                exif=exif_bytes(
                    sub={
                        0x927C: b"OpenAI--ImageGeneration--generation-x",
                        0x9286: b"ASCII\x00\x00\x00Made with OpenAI Labs",
                    }
                ),
            ),
            "ai-declared",
        ),
    }


CANON = {0x010F: "Canon", 0x0110: "Canon EOS R5"}
CANON_SUB = {0x9003: "2024:05:01 10:00:00", 0xA434: "RF24-105mm F4 L IS USM", 0x927C: b"\x00\x12" + bytes(range(200))}


def _camera_and_decoys(s: SampleSigner) -> dict[str, tuple[bytes, str]]:
    a1111_comment = {**CANON_SUB, 0x9286: b"UNICODE\x00" + A1111.encode("utf-16-be")}
    return {
        "camera.jpg": (image("jpg", exif=exif_bytes(CANON, CANON_SUB)), "camera-declared"),
        "camera-edited.jpg": (
            image(
                "jpg",
                exif=exif_bytes(
                    {0x010F: "NIKON CORPORATION", 0x0110: "NIKON Z 6", 0x0131: "Adobe Photoshop 26.0 (Windows)"}
                ),
            ),
            "camera-declared",
        ),
        "camera-and-a1111.jpg": (image("jpg", exif=exif_bytes(CANON, a1111_comment)), "conflict"),
        "matplotlib.png": (png_text({"Software": "Matplotlib version3.5.1, https://matplotlib.org/"}), "none"),
        "gimp.jpg": (image("jpg", exif=exif_bytes({0x0131: "GIMP 2.10.36"}, {0x9003: "2024:01:01 12:00:00"})), "none"),
        "parameters-not-a1111.png": (png_text({"parameters": "quality=high; dither=off"}), "none"),
        "plain.jpg": (image("jpg"), "none"),
        "plain.png": (image("png"), "none"),
        "plain.webp": (image("webp"), "none"),
    }


def _hostile_samples(s: SampleSigner) -> dict[str, tuple[bytes, str]]:
    bomb = b"Comment\x00\x00" + zlib.compress(b"A" * (40 << 20), 9)
    deep = "<rdf:Seq>" * 20_000 + "</rdf:Seq>" * 20_000  # too long for a JPEG segment: in a PNG iTXt
    entities = b'<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    laughs = b'<?xml version="1.0"?><!DOCTYPE x [' + entities + b"]><x>&b;</x>"
    bad_utf16 = b"UNICODE\x00" + "Steps".encode("utf-16-be") + b"\xd8\x00\x00A" + b"\x00"  # lone surrogate, odd length
    bad_utf8 = b"ASCII\x00\x00\x00" + A1111.encode() + b"\xff\xfe\xc3("
    huge_exif = exif_bytes({0x010E: "x" * (2 << 20)})
    return {
        # a manifest broken past reading is no better than an altered one (issue 23)
        "hostile-broken-jumbf.jpg": (broken_jumbf(s.sign(image("jpg"), "jpg", created(AI))), "invalid"),
        "hostile-ztxt-bomb.png": (
            png_with([(b"zTXt", bomb), (b"tEXt", b"parameters\x00" + A1111.encode())]),
            "ai-declared",
        ),
        "hostile-xmp-deep.png": (
            png_with([(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + xmp_packet(deep))]),
            "none",
        ),
        "hostile-xmp-entities.png": (png_with([(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + laughs)]), "none"),
        "hostile-usercomment-utf16.jpg": (image("jpg", exif=exif_bytes(CANON, {0x9286: bad_utf16})), "camera-declared"),
        "hostile-usercomment-utf8.jpg": (image("jpg", exif=exif_bytes(sub={0x9286: bad_utf8})), "ai-declared"),
        "hostile-huge-exif.png": (png_with([(b"eXIf", huge_exif)]), "none"),
        "hostile-exif-garbage.webp": (
            image("webp", exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff" + b"\x01" * 64),
            "none",
        ),
        "hostile-deep-json.png": (png_text({"prompt": "[" * 100_000 + "]" * 100_000}), "none"),
    }


def broken_jumbf(jpeg: bytes) -> bytes:
    """``jpeg`` with the JUMBF description box of its C2PA store overwritten (segment lengths kept)."""
    data = bytearray(jpeg)
    at = data.find(b"jumd")
    data[at : at + 24] = b"\xff\x00" * 12
    return bytes(data)
