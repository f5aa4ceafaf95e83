"""The one preprocessing: every odd mode becomes RGB uint8 [S, S, 3]; bombs are refused before decoding."""

from __future__ import annotations

import struct
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from synthsight.errors import DecodeError
from synthsight.image.preprocess import PreprocessSpec, decode, load_image

SPEC = PreprocessSpec(size=32)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _bomb_png(path: Path, width: int, height: int) -> Path:
    """A valid PNG header claiming width x height RGB pixels, with a tiny IDAT (a few hundred bytes in all)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")
    )
    return path


def test_pixel_cap_refuses_a_30000x30000_png_without_allocating_it(tmp_path, monkeypatch):
    path = _bomb_png(tmp_path / "bomb.png", 30000, 30000)
    assert path.stat().st_size < 200
    # Pillow's pixel buffers are allocated in C (invisible to tracemalloc) when a file is loaded,
    # so also prove that no load happens: the refusal must come from the header alone.
    loads = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(1) or real_load(self))
    tracemalloc.start()
    try:
        with pytest.raises(DecodeError) as info:
            decode(path, SPEC)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.reason == "too-large"
    assert "30000x30000" in str(info.value) or "900000000" in str(info.value)
    assert peak < 5 * 2**20, f"peak {peak / 2**20:.1f} MiB: the image was allocated"  # 2.7 GB if it were
    assert not loads, "the bomb was loaded before being refused"


def test_pixel_cap_is_configurable(tmp_path):
    path = tmp_path / "small.png"
    Image.new("RGB", (100, 100)).save(path)
    assert load_image(path, SPEC).shape == (32, 32, 3)
    with pytest.raises(DecodeError, match="pixel cap"):
        decode(path, SPEC, max_pixels=9_999)


def _cmyk_jpeg(p):
    Image.new("CMYK", (40, 30), (0, 255, 255, 0)).save(p, "JPEG")  # pure red in CMYK


def _i16_png(p):
    Image.fromarray(np.full((30, 40), 65535, dtype=np.uint16)).save(p)


def _palette_transparent_png(p):
    im = Image.new("P", (40, 30), 0)
    im.putpalette([0, 0, 0] + [0, 0, 255] * 255)
    im.info["transparency"] = 0
    im.save(p, transparency=0)


def _la_png(p):
    Image.new("LA", (40, 30), (0, 0)).save(p)


def _rgba_png(p):
    Image.new("RGBA", (40, 30), (255, 0, 0, 0)).save(p)


def _bilevel_png(p):
    Image.new("1", (40, 30), 1).save(p)


def _float_tiff(p):
    Image.fromarray(np.full((30, 40), 1.0, dtype=np.float32), mode="F").save(p)


def _lab_tiff(p):
    Image.new("LAB", (40, 30), (100 * 255 // 100, 128, 128)).save(p)


def _gray_jpeg(p):
    Image.new("L", (40, 30), 255).save(p, "JPEG")


def _animated_gif(p):
    red, blue = Image.new("RGB", (40, 30), (255, 0, 0)), Image.new("RGB", (40, 30), (0, 0, 255))
    red.save(p, save_all=True, append_images=[blue], duration=100, loop=0)


# (writer, file name, expected mean RGB after the documented rule)
ODD = [
    (_cmyk_jpeg, "cmyk.jpg", (255, 0, 0)),
    (_i16_png, "i16.png", (255, 255, 255)),
    (_palette_transparent_png, "palette_tr.png", (255, 255, 255)),  # transparent -> composited on white
    (_la_png, "la.png", (255, 255, 255)),
    (_rgba_png, "rgba.png", (255, 255, 255)),
    (_bilevel_png, "bilevel.png", (255, 255, 255)),
    (_float_tiff, "float.tif", (255, 255, 255)),  # max <= 1 -> scaled by 255
    (_lab_tiff, "lab.tif", (255, 255, 255)),  # L=100, a=b=0 is white
    (_gray_jpeg, "gray.jpg", (255, 255, 255)),
    (_animated_gif, "anim.gif", (255, 0, 0)),  # first frame
]


@pytest.mark.parametrize(("writer", "name", "expected"), ODD, ids=[o[1] for o in ODD])
def test_every_odd_mode_decodes_to_rgb(tmp_path, writer, name, expected):
    path = tmp_path / name
    writer(path)
    result = decode(path, SPEC)
    assert result.pixels.dtype == np.uint8 and result.pixels.shape == (32, 32, 3)
    assert result.pixels.flags["C_CONTIGUOUS"]
    mean = result.pixels.reshape(-1, 3).mean(0)
    assert np.abs(mean - np.array(expected)).max() <= 6, (name, mean)
    assert (result.width, result.height) == (40, 30)


def test_exif_orientation_is_applied(tmp_path):
    """40x20 image, left half red, right half blue, Orientation=6 (rotate 90 CW): red ends up on top."""
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :20] = (255, 0, 0)
    arr[:, 20:] = (0, 0, 255)
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6
    rotated, plain = tmp_path / "rot.jpg", tmp_path / "plain.jpg"
    im.save(rotated, quality=95, exif=exif)
    im.save(plain, quality=95)
    px = decode(rotated, SPEC).pixels.astype(int)
    assert px[:12, :, 0].mean() > 200 and px[:12, :, 2].mean() < 50  # top is red
    assert px[-12:, :, 2].mean() > 200 and px[-12:, :, 0].mean() < 50  # bottom is blue
    flat = decode(plain, SPEC).pixels.astype(int)
    assert flat[:, :12, 0].mean() > 200 and flat[:, -12:, 2].mean() > 200  # untouched: red left, blue right


def test_crop_mode_keeps_the_centre(tmp_path):
    arr = np.zeros((20, 60, 3), np.uint8)
    arr[:, 20:40] = 255  # white centre third, black sides
    path = tmp_path / "wide.png"
    Image.fromarray(arr).save(path)
    crop = load_image(path, PreprocessSpec(size=20, resize="crop"))
    squash = load_image(path, PreprocessSpec(size=20, resize="squash"))
    assert crop.mean() > 250  # only the centre survives the crop
    assert 60 < squash.mean() < 110  # squash keeps the black sides, compressed


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "not-an-image"), (b"hello world, not an image", "not-an-image")],
)
def test_non_images_raise_decode_error(tmp_path, content, reason):
    path = tmp_path / "x.jpg"
    path.write_bytes(content)
    with pytest.raises(DecodeError) as info:
        decode(path, SPEC)
    assert info.value.reason == reason


def test_truncated_jpeg_is_an_error_not_padding(tmp_path):
    path = tmp_path / "t.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path, quality=90)
    path.write_bytes(path.read_bytes()[:-600])
    with pytest.raises(DecodeError) as info:
        decode(path, SPEC)
    assert info.value.reason in ("truncated", "corrupt")


def test_missing_file(tmp_path):
    with pytest.raises(DecodeError) as info:
        decode(tmp_path / "gone.png", SPEC)
    assert info.value.reason == "missing"


@pytest.mark.parametrize("resize", ["squash", "crop"])
def test_stability_views_re_encode_the_pixels_the_model_judges(tmp_path, resize):
    """scan --stability: the views of a 2 MP photo are re-encodings of its own model input (what decides the
    verdict), which they leave unchanged in front: JPEG 90/75/50, half size resized back, the web JPEG 60."""
    import io

    from synthsight.bench.images import save_photo_like
    from synthsight.image.preprocess import resize as model_resize

    path = save_photo_like(tmp_path / "p.jpg", 1632, 1224, seed=5)
    spec = PreprocessSpec(size=32, resize=resize)
    clean = decode(path, spec).pixels
    views = decode(path, spec, views=5).pixels
    assert views.shape == (6, 32, 32, 3) and np.array_equal(views[0], clean)
    for i, quality in ((1, 90), (2, 75), (3, 50), (5, 60)):
        buf = io.BytesIO()
        Image.fromarray(clean).save(buf, "JPEG", quality=quality)
        assert np.array_equal(views[i], np.asarray(Image.open(buf)))
    assert np.array_equal(views[4], model_resize(Image.fromarray(clean).reduce(2), spec))

    def error(a: np.ndarray) -> float:
        return float(np.abs(a.astype(int) - clean).mean())

    assert 0 < error(views[1]) < error(views[2]) < error(views[3])  # each quality re-encodes more coarsely
