"""A generated corpus of hostile files, each with the outcome it must have.

``generate(root)`` writes the corpus under ``root`` and returns its :class:`Case` list. Used by the
reliability tests (tests/test_reliability_*.py) and by benchmarks/bench_load.py; nothing here needs
the network or the shared corpora. Every case is small on disk (the largest, a zlib bomb that
inflates to 1.6 GB, is ~1.6 MB) and the whole corpus is written in well under a second.

Outcomes (``Case.expect``):
- ``decode``: preprocess.decode returns pixels; a scan gives it a verdict.
- ``error``: preprocess.decode raises DecodeError with ``reason`` in ``Case.reasons`` and a message
  holding one of ``Case.words``; a scan gives it an ``error`` record with that message.
- ``skipped``: not decoded at all (a symbolic link inside a folder); a scan gives it a ``skipped`` record.
- ``absent``: not a file (a fifo): the walk leaves it out, and it is never opened.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

DEEP_LEVELS = 60


@dataclass(frozen=True)
class Case:
    name: str  # path relative to the corpus root; may hold surrogate-escaped bytes (non-UTF-8 names)
    expect: str  # decode | error | skipped | absent
    what: str
    reasons: tuple[str, ...] = ()  # acceptable DecodeError.reason values for expect == "error"
    words: tuple[str, ...] = ()  # one of them appears (lower case) in the error message
    bomb: bool = False  # declares or inflates to far more pixels than the cap: refused before allocating
    check: Callable[[np.ndarray], bool] | None = field(default=None, compare=False)  # on the decoded pixels

    def path(self, root: str | Path) -> str:
        return os.path.join(os.fsdecode(root), self.name)


# -- building blocks -------------------------------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(kind + data) if crc is None else crc
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc & 0xFFFFFFFF)


def png(width: int, height: int, idat: bytes, color_type: int = 2, depth: int = 8, bad_ihdr_crc: bool = False) -> bytes:
    """A PNG from its parts: IHDR as given, one IDAT holding ``idat`` (already zlib-compressed)."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    crc = (zlib.crc32(b"IHDR" + ihdr) ^ 0xFFFF) if bad_ihdr_crc else None
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr, crc) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def zeros_zlib(length: int) -> bytes:
    """A zlib stream of ``length`` zero bytes, built without ever holding them (~1 KB per MiB).

    Deflate blocks ended with a full flush reset the compressor, so one compressed MiB can be repeated;
    the Adler-32 of n zeros is (n mod 65521) << 16 | 1.
    """
    mib = 1 << 20
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = co.compress(bytes(mib)) + co.flush(zlib.Z_FULL_FLUSH)
    whole, rest = divmod(length, mib)
    tail = co.compress(bytes(rest)) + co.flush(zlib.Z_FINISH)
    adler = ((length % 65521) << 16) | 1
    return b"\x78\xda" + block * whole + tail + struct.pack(">I", adler)


def encode(im: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def noise(w: int, h: int, seed: int = 0, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "CMYK": 4, "LA": 2}.get(mode, 1)
    arr = rng.integers(0, 256, (h, w, channels) if channels > 1 else (h, w), dtype=np.uint8)
    return Image.fromarray(arr, mode) if channels > 1 else Image.fromarray(arr, "L")


def halves(w: int, h: int) -> Image.Image:
    """Left half black, right half white: shows where an orientation put the image."""
    arr = np.zeros((h, w, 3), np.uint8)
    arr[:, w // 2 :] = 255
    return Image.fromarray(arr)


def _patch_sof(jpeg: bytes, width: int, height: int) -> bytes:
    """Rewrite the frame size in a JPEG's SOF0 segment (the data still describes the old size)."""
    at = jpeg.index(b"\xff\xc0")
    return jpeg[: at + 5] + struct.pack(">HH", height, width) + jpeg[at + 9 :]


def _ycck(cmyk_jpeg: bytes) -> bytes:
    """Turn a CMYK JPEG's Adobe APP14 transform flag into 2 (YCCK): libjpeg then decodes it as YCCK."""
    at = cmyk_jpeg.index(b"\xff\xee")  # marker, length(2), 'Adobe', version(2), flags0(2), flags1(2), transform(1)
    assert cmyk_jpeg[at + 4 : at + 9] == b"Adobe"
    pos = at + 4 + 5 + 6
    return cmyk_jpeg[:pos] + b"\x02" + cmyk_jpeg[pos + 1 :]


def _exif_orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


def _tiff_header_bomb(width: int, height: int) -> bytes:
    """A little-endian TIFF whose IFD declares ``width`` x ``height`` RGB and a 16-byte strip."""
    entries = [
        (256, 4, 1, width),  # ImageWidth LONG
        (257, 4, 1, height),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample (one value is enough for Pillow)
        (259, 3, 1, 1),  # no compression
        (262, 3, 1, 1),  # BlackIsZero
        (273, 4, 1, 8 + 2 + 5 * 12 + 4),  # StripOffsets: right after the IFD
        (277, 3, 1, 1),  # SamplesPerPixel
    ]
    entries.append((279, 4, 1, 16))  # StripByteCounts
    entries.sort()
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", tag, typ, count, value) if typ == 4 else struct.pack("<HHIHH", tag, typ, count, value, 0)
        for tag, typ, count, value in entries
    )
    ifd += struct.pack("<I", 0)
    header = b"II*\x00" + struct.pack("<I", 8)
    offset = len(header) + len(ifd)
    ifd = ifd.replace(struct.pack("<HHII", 273, 4, 1, 8 + 2 + 5 * 12 + 4), struct.pack("<HHII", 273, 4, 1, offset))
    return header + ifd + bytes(16)


# -- pixel checks ---------------------------------------------------------------------------------------------


def _near(rgb: tuple[int, int, int], tol: int = 40) -> Callable[[np.ndarray], bool]:
    def check(px: np.ndarray) -> bool:
        return bool(np.all(np.abs(px.reshape(-1, 3).mean(0) - np.array(rgb)) < tol))

    return check


def _top_dark_bottom_light(px: np.ndarray) -> bool:
    q = px.shape[0] // 4
    return bool(px[:q].mean() < 60 and px[-q:].mean() > 195)


def _grey(px: np.ndarray) -> bool:
    p = px.astype(int)
    return bool(np.abs(p[..., 0] - p[..., 1]).max() <= 2 and np.abs(p[..., 1] - p[..., 2]).max() <= 2)


def _frames(fmt: str, **params) -> bytes:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    frames = [Image.new("RGB", (32, 32), c) for c in colours]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **params)


# -- the corpus -----------------------------------------------------------------------------------------------

# Where synthsight decided otherwise than the shared badinputs corpus's expectation (written for
# Pillow's defaults): file -> (outcome, a note the decode must carry). Both reliability tests read it.
BADINPUTS_DECIDED = {
    # issue 23: a bomb in text chunks must not hide the pixels; they decode without those chunks
    "png_decompression_dos.png": ("decode", "decoded without 3 PNG text chunk(s) over Pillow's limits"),
}


NASTY_NAMES = {
    "comma": "names/comma, in name.png",
    "quotes": "names/double \"quotes\" and 'single'.png",
    "newline": "names/new\nline.png",
    "carriage": "names/carriage\rreturn.png",
    "formula": 'names/=HYPERLINK("http:x","click").png',
    "plus": "names/+SUM(1,2).png",
    "minus": "names/-1+2.png",
    "at": "names/@cmd.png",
    "tab": "names/\ttab.png",
    "latin1": os.fsdecode(b"names/caf\xe9-latin1.png"),
    "not_utf8": os.fsdecode(b"names/\xff\xfe\x80-bytes.png"),
    "unicode": "names/\u65e5\u672c-\u00e9\u00e8-\U0001f600.png",
    "long": "names/" + "x" * 240 + ".png",
    "dots": "names/..png",
    "traversal_like": "names/..%2f..%2fetc%2fpasswd.png",
}


def _file_cases() -> list[tuple[Case, bytes]]:
    rgb = noise(48, 40, 1)
    jpeg = encode(rgb, "JPEG", quality=90)
    png_bytes = encode(rgb, "PNG")
    cmyk = encode(Image.new("CMYK", (32, 32), (0, 255, 255, 0)), "JPEG")
    raw16 = b"".join(b"\x00" + b"\x80\xff" * 3 * 16 for _ in range(16))
    blank = Image.new("RGB", (24, 24), (0, 0, 0))
    out: list[tuple[Case, bytes]] = []

    def ok(name: str, data: bytes, what: str, check=None) -> None:
        out.append((Case(name, "decode", what, check=check), data))

    def bad(name: str, data: bytes, what: str, reasons: tuple[str, ...], words: tuple[str, ...], bomb=False) -> None:
        out.append((Case(name, "error", what, reasons, words, bomb), data))

    # broken files
    bad("broken/truncated_half.jpg", jpeg[: len(jpeg) // 2], "JPEG cut in half", ("truncated",), ("truncated",))
    bad("broken/truncated_no_eoi.jpg", jpeg[:-2], "JPEG missing its EOI marker", ("truncated",), ("truncated",))
    bad(
        "broken/truncated_header.jpg",
        jpeg[:40],
        "JPEG cut inside its headers",
        ("corrupt", "truncated"),
        ("truncated", "jpeg"),
    )
    bad(
        "broken/truncated_idat.png",
        png_bytes[: len(png_bytes) * 2 // 3],
        "PNG cut mid-IDAT",
        ("truncated",),
        ("truncated",),
    )
    bad(
        "broken/truncated_ihdr.png",
        png_bytes[:20],
        "PNG cut inside IHDR",
        ("corrupt", "truncated"),
        ("truncated", "png"),
    )
    bad(
        "broken/truncated.gif",
        _frames("GIF")[:60],
        "GIF cut after its header",
        ("truncated", "corrupt"),
        ("truncated", "gif"),
    )
    bad(
        "broken/truncated.webp",
        encode(rgb, "WEBP")[:50],
        "WebP cut short",
        ("truncated", "corrupt"),
        ("truncated", "webp"),
    )
    bad("broken/zero.jpg", b"", "zero-byte .jpg", ("not-an-image",), ("empty file",))
    bad("broken/zero.png", b"", "zero-byte .png", ("not-an-image",), ("empty file",))
    rand = np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    bad("broken/random.jpg", b"\x00" + rand, "random bytes named .jpg", ("not-an-image",), ("not a recognised",))
    bad(
        "broken/text.jpg",
        b"just some text, not a photo\n" * 10,
        "text named .jpg",
        ("not-an-image",),
        ("not a recognised",),
    )
    bad("broken/text.heic", b"ftypheic? no, plain text\n", "text named .heic", ("not-an-image",), ("not a recognised",))
    bad(
        "broken/bad_crc_ihdr.png",
        png(8, 8, zlib.compress(bytes(8 * 25)), bad_ihdr_crc=True),
        "PNG whose IHDR CRC is wrong",
        ("corrupt",),
        ("png", "checksum", "crc"),
    )
    bad(
        "broken/zero_width.png",
        png(0, 8, zlib.compress(b"")),
        "PNG IHDR with width 0",
        ("corrupt", "invalid-size"),
        ("png", "size"),
    )
    bad(
        "broken/fake_12bit.jpg",
        jpeg.replace(b"\xff\xc0\x00\x11\x08", b"\xff\xc1\x00\x11\x0c", 1),
        "8-bit JPEG relabelled 12-bit (SOF1)",
        ("unsupported",),
        ("12-bit",),
    )
    ok(
        "broken/bad_crc_idat.png",
        png_bytes[:-16] + bytes(4) + png_bytes[-12:],
        "PNG whose last IDAT CRC is wrong (Pillow does not check it)",
    )
    ok("broken/jpeg_plus_zip.jpg", jpeg + b"PK\x03\x04" + rand[:512], "JPEG with a ZIP appended (polyglot)")

    # decompression bombs: refused from the header, before any pixel buffer exists
    bad(
        "bombs/header_30000x30000.png",
        png(30000, 30000, zlib.compress(bytes(64))),
        "PNG header claiming 30000x30000 RGB, 64-byte IDAT",
        ("too-large",),
        ("pixel", "bomb"),
        True,
    )
    bad(
        "bombs/zlib_40000x40000.png",
        png(40000, 40000, zeros_zlib(40000 * 40001), color_type=0),
        "real 1.6 GB zlib stream (1.6 GP greyscale) in ~1.6 MB",
        ("too-large",),
        ("pixel", "bomb"),
        True,
    )
    bad(
        "bombs/header_65000x65000.jpg",
        _patch_sof(jpeg, 65000, 65000),
        "JPEG SOF claiming 65000x65000",
        ("too-large",),
        ("pixel", "bomb"),
        True,
    )
    bad(
        "bombs/header_50000x50000.tif",
        _tiff_header_bomb(50000, 50000),
        "TIFF IFD claiming 50000x50000",
        ("too-large",),
        ("pixel", "bomb"),
        True,
    )
    ok(
        "bombs/idat_overflow_64x64.png",
        png(64, 64, zeros_zlib(256 << 20), color_type=0),
        "64x64 PNG whose IDAT inflates to 256 MB",
        _near((0, 0, 0), 2),
    )

    # odd modes and formats that must decode
    ok("modes/cmyk.jpg", cmyk, "CMYK JPEG (Adobe)", _near((255, 0, 0), 60))
    ok("modes/ycck.jpg", _ycck(cmyk), "YCCK JPEG (Adobe transform 2)")
    ok("modes/gray.jpg", encode(noise(40, 30, 2, "L"), "JPEG"), "greyscale JPEG", _grey)
    ok("modes/progressive.jpg", encode(rgb, "JPEG", progressive=True), "progressive JPEG")
    ok(
        "modes/exif_rot6.jpg",
        encode(halves(40, 20), "JPEG", exif=_exif_orientation(6)),
        "EXIF orientation 6 (90 deg CW)",
        _top_dark_bottom_light,
    )
    ok(
        "modes/gray16.png",
        encode(Image.fromarray(np.full((16, 16), 0x8080, np.uint16)), "PNG"),
        "16-bit greyscale PNG",
        _near((128, 128, 128), 2),
    )
    ok(
        "modes/rgb48.png",
        png(16, 16, zlib.compress(raw16), color_type=2, depth=16),
        "16-bit-per-channel RGB PNG",
        _near((128, 128, 128), 2),
    )
    ok(
        "modes/gray16.tif",
        encode(Image.fromarray(np.full((16, 16), 0x8080, np.uint16)), "TIFF"),
        "16-bit greyscale TIFF",
        _near((128, 128, 128), 2),
    )
    pal = Image.new("P", (20, 20), 0)
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    ok(
        "modes/palette_trns.png",
        encode(pal, "PNG", transparency=0),
        "palette PNG, index 0 transparent",
        _near((255, 255, 255), 2),
    )
    ok(
        "modes/la.png",
        encode(Image.new("LA", (20, 20), (0, 0)), "PNG"),
        "LA PNG, fully transparent",
        _near((255, 255, 255), 2),
    )
    ok(
        "modes/rgba.webp",
        encode(Image.new("RGBA", (20, 20), (0, 0, 0, 0)), "WEBP", lossless=True),
        "RGBA WebP, fully transparent",
        _near((255, 255, 255), 2),
    )
    ok("modes/animated.gif", _frames("GIF"), "animated GIF (red, green, blue): first frame", _near((255, 0, 0), 40))
    ok(
        "modes/animated.webp",
        _frames("WEBP", lossless=True),
        "animated WebP (red, green, blue): first frame",
        _near((255, 0, 0), 40),
    )
    ok("modes/animated.png", _frames("PNG"), "APNG (red, green, blue): first frame", _near((255, 0, 0), 40))
    ok("modes/one_pixel.png", encode(Image.new("RGB", (1, 1), (0, 0, 255)), "PNG"), "1x1 image", _near((0, 0, 255), 2))
    ok("modes/strip_20000x4.png", encode(noise(20000, 4, 3), "PNG"), "20000x4 strip")
    ok("modes/strip_4x20000.png", encode(noise(4, 20000, 4), "PNG"), "4x20000 strip")
    ok("modes/plain.bmp", encode(blank, "BMP"), "BMP", _near((0, 0, 0), 2))
    ok("modes/plain.tif", encode(rgb, "TIFF", compression="tiff_lzw"), "TIFF (LZW)")
    ok("modes/plain.webp", encode(rgb, "WEBP"), "lossy WebP")
    ok("modes/png_named.heic", png_bytes, "PNG named .heic (content decides)")
    ok("modes/jpeg_named.png", jpeg, "JPEG named .png")
    for key, name in NASTY_NAMES.items():
        ok(name, png_bytes, f"hostile file name ({key})")
    return out


def _deep_name() -> str:
    return os.path.join("deep", *(f"level{i:02d}" for i in range(DEEP_LEVELS)), "bottom.png")


def generate(root: str | Path) -> list[Case]:
    """Write the hostile corpus under ``root`` (created) and return its cases."""
    root = os.fsdecode(root)
    cases: list[Case] = []
    for case, data in _file_cases():
        path = case.path(root)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)
        cases.append(case)
    deep = Case(_deep_name(), "decode", f"image {DEEP_LEVELS} folders deep")
    os.makedirs(os.path.dirname(deep.path(root)))
    Image.new("RGB", (8, 8), (0, 255, 0)).save(deep.path(root), "PNG")
    cases.append(deep)
    os.makedirs(os.path.join(root, "links"))
    os.symlink("..", os.path.join(root, "links", "up_loop"))  # a folder loop
    os.symlink("self.jpg", os.path.join(root, "links", "self.jpg"))  # a link to itself (ELOOP)
    os.symlink("missing.png", os.path.join(root, "links", "dangling.png"))
    cases += [
        Case("links/up_loop", "skipped", "symbolic link to its own parent (a loop)"),
        Case("links/self.jpg", "skipped", "symbolic link to itself"),
        Case("links/dangling.png", "skipped", "dangling symbolic link"),
    ]
    os.makedirs(os.path.join(root, "special"))
    os.mkfifo(os.path.join(root, "special", "pipe.jpg"))  # opening it for reading would block forever
    cases.append(Case("special/pipe.jpg", "absent", "fifo named .jpg: never opened"))
    Image.new("RGB", (8, 8)).save(os.path.join(root, "special", "folder.jpg") + ".png")
    os.makedirs(os.path.join(root, "special", "folder.jpg"))  # a folder with an image name
    inner = Case("special/folder.jpg/inner.png", "decode", "image inside a folder named .jpg")
    Image.new("RGB", (8, 8)).save(inner.path(root), "PNG")
    cases += [inner, Case("special/folder.jpg.png", "decode", "PNG beside a folder named .jpg")]
    return cases


def files(cases: list[Case]) -> list[Case]:
    """The cases that are regular files (what preprocess.decode is tried on)."""
    return [c for c in cases if c.expect in ("decode", "error")]


_GENERATED: dict[str, tuple[Path, list[Case]]] = {}


def corpus_once(tmp_path_factory) -> tuple[Path, list[Case]]:
    """The corpus generated once per pytest session (call from a session fixture)."""
    key = str(tmp_path_factory.getbasetemp())
    if key not in _GENERATED:
        root = tmp_path_factory.mktemp("hostile")
        _GENERATED[key] = (root, generate(root))
    return _GENERATED[key]


def case_id(case: Case) -> str:
    """A pytest id that is plain ASCII whatever the file name holds."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "._-/") else "_" for c in case.name)[:80]


# -- reading reports and measuring memory, independently of the scanner's own code -------------------------------


def read_report(path: str | Path) -> list[dict]:
    """Records of a CSV / JSONL / JSON report parsed with the standard library; AssertionError if invalid.

    Each record gets ``raw_path``: the exact bytes of the scanned path (from ``path_b64`` when present).
    A CSV must be one physical line per record, with no cell a spreadsheet would run as a formula.
    """
    import base64
    import csv
    import json

    path = Path(path)
    text = path.read_bytes().decode("utf-8")  # strict: a report is valid UTF-8
    if path.suffix == ".json":
        rows = json.loads(text)["records"]
    elif path.suffix == ".jsonl":
        assert text == "" or text.endswith("\n"), f"{path}: last line incomplete"
        rows = [json.loads(line) for line in text.splitlines()]
    else:
        lines = text.split("\r\n")
        assert lines[-1] == "", f"{path}: last line incomplete"
        assert not any("\n" in line or "\r" in line for line in lines), f"{path}: a record spans several lines"
        table = list(csv.reader(lines[:-1]))
        header, body = table[0], table[1:]
        assert all(len(r) == len(header) for r in body), f"{path}: ragged rows"
        for r in body:
            assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in r), r
        rows = [dict(zip(header, r, strict=True)) for r in body]
    for r in rows:
        b64 = r.get("path_b64") or ""
        r["raw_path"] = base64.b64decode(b64) if b64 else r["path"].encode("utf-8")
    return rows


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants, in bytes (0 once it is gone)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total
