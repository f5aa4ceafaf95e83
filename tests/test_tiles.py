"""resize "tiles": the spec keys, where tiles are placed, padding, full-resolution decoding and the aggregate rule."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from synthsight.image.preprocess import decode
from synthsight.image.tiles import ALIGN, cut, grid_shape, random_tile
from synthsight.runtime.tiles import aggregate, aggregate_all, score_file
from synthsight.spec import ModelSpec, PreprocessSpec, default_aggregate
from synthsight.train.tiles import preprocess_for


def tiles_spec(size: int = 64, **kw) -> PreprocessSpec:
    return PreprocessSpec(size=size, resize="tiles", **kw)


def noise(w: int, h: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def test_tile_keys_travel_only_with_tiles():
    spec = tiles_spec(tiles=4, tile_placement="texture", tile_aggregate="top2")
    data = spec.to_dict()
    assert (data["tiles"], data["tile_placement"], data["tile_aggregate"]) == (4, "texture", "top2")
    assert data["dct_scaling"] is False  # tiles are cut at native pixels, never from a DCT-scaled decode
    assert PreprocessSpec.from_dict(data) == spec
    squash = PreprocessSpec(size=64).to_dict()
    assert not {"tiles", "tile_placement", "tile_aggregate"} & set(squash)  # older specs read byte-identical
    model = ModelSpec.from_json(ModelSpec(arch="convnext_atto", preprocess=spec).to_json())
    assert model.preprocess == spec


@pytest.mark.parametrize(
    "kw",
    [{"tiles": 0}, {"tiles": 65}, {"tiles": True}, {"tile_placement": "random"}, {"tile_aggregate": "median"},
     {"tiles": 3, "tile_aggregate": "top4"}, {"tile_aggregate": "top1"}, {"tile_aggregate": "top²"}],
)  # fmt: skip
def test_bad_tile_settings_are_refused(kw):
    with pytest.raises(ValueError):
        tiles_spec(**kw)


def test_grid_spreads_over_a_large_image_and_covers_a_small_one():
    assert grid_shape(4000, 3000, 224, 9) == (3, 3)
    assert grid_shape(8000, 1000, 224, 9) == (9, 1)  # a panorama: the shape closest to its own
    assert grid_shape(512, 512, 224, 9) == (3, 3)  # 3 x 3 windows cover it: all of them
    ts = cut(noise(4000, 3000), tiles_spec(224, tile_placement="grid"))
    assert ts.pixels.shape == (9, 224, 224, 3)
    lefts, tops = sorted({b[0] for b in ts.boxes}), sorted({b[1] for b in ts.boxes})
    assert lefts[0] == 0 and tops[0] == 0 and 4000 - lefts[-1] - 224 < ALIGN and 3000 - tops[-1] - 224 < ALIGN
    assert all(b[0] % ALIGN == 0 and b[1] % ALIGN == 0 for b in ts.boxes)
    covered = cut(noise(200, 130), tiles_spec(64, tiles=16, tile_placement="grid"))  # 4 x 3 windows cover it
    assert len(covered.boxes) == 12


def test_tiles_are_the_files_own_pixels_at_their_boxes():
    im = noise(300, 200, 1)
    ts = cut(im, tiles_spec(64, tiles=6))
    arr = np.asarray(im)
    for pixels, (left, top, right, bottom) in zip(ts.pixels, ts.boxes, strict=True):
        assert np.array_equal(pixels, arr[top:bottom, left:right])


def test_texture_placement_takes_the_detailed_windows():
    flat = np.full((256, 512, 3), 128, np.uint8)
    flat[:, 256:] = np.random.default_rng(2).integers(0, 256, (256, 256, 3), dtype=np.uint8)  # right half: detail
    ts = cut(Image.fromarray(flat), tiles_spec(64, tiles=8, tile_placement="texture"))
    assert len(ts.boxes) == 8 and all(b[0] >= 256 for b in ts.boxes)
    assert ts.boxes == sorted(ts.boxes, key=lambda b: (b[1], b[0]))  # reading order
    grid = cut(Image.fromarray(flat), tiles_spec(64, tiles=8, tile_placement="grid"))
    assert any(b[0] < 256 for b in grid.boxes)


def test_a_small_image_is_reflect_padded_whole_with_a_note_keeping_its_phase():
    pattern = np.tile(np.array([[0, 200], [200, 0]], np.uint8), (15, 20))  # period 2, 40 x 30
    im = Image.fromarray(np.stack([pattern] * 3, axis=-1))
    ts = cut(im, tiles_spec(64))
    assert ts.pixels.shape == (1, 64, 64, 3) and ts.boxes == [(0, 0, 40, 30)]
    assert "40x30 is smaller than the 64-px tile: reflect-padded to 64x64" in ts.note
    tile = ts.pixels[0, :, :, 0].astype(int)
    assert np.array_equal(tile[:30, :40], pattern)
    assert np.all(tile[:, :-1] != tile[:, 1:]) and np.all(tile[:-1] != tile[1:])  # the checkerboard goes on
    assert cut(Image.new("RGB", (1, 1), (9, 9, 9)), tiles_spec(32)).pixels.shape == (1, 32, 32, 3)


def test_random_tile_is_a_native_window_on_the_grid():
    im = noise(160, 100, 3)
    arr = np.asarray(im)
    rng = np.random.default_rng(0)
    for _ in range(20):
        tile = random_tile(im, 64, rng)
        hits = [(x, y) for y in range(0, 37, ALIGN) for x in range(0, 97, ALIGN)
                if np.array_equal(arr[y : y + 64, x : x + 64], tile)]  # fmt: skip
        assert len(hits) == 1


def test_a_large_jpeg_is_decoded_at_full_resolution_once_for_all_its_tiles():
    im = noise(1024, 768, 4)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    full = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))  # no draft: every pixel
    out = decode(io.BytesIO(buf.getvalue()), tiles_spec(64))
    assert out.pixels.shape == (9, 64, 64, 3) and len(out.boxes) == 9 and out.oriented == (1024, 768)
    for pixels, (left, top, right, bottom) in zip(out.pixels, out.boxes, strict=True):
        assert np.array_equal(pixels, full[top:bottom, left:right])


def test_boxes_are_in_the_oriented_image():
    im = noise(200, 100, 5)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    buf = io.BytesIO()
    im.save(buf, "PNG", exif=exif)
    out = decode(io.BytesIO(buf.getvalue()), tiles_spec(64, tiles=4))
    assert (out.width, out.height, out.oriented) == (200, 100, (100, 200))
    assert all(right <= 100 and bottom <= 200 for _, _, right, bottom in out.boxes)


def test_aggregate_rules():
    # Two classes (ai first): log-odds of the tiles 3, -1, 1, -5.
    logits = np.array([[3.0, 0.0], [0.0, 1.0], [1.0, 0.0], [-5.0, 0.0]])
    assert np.allclose(aggregate(logits, tiles_spec(tiles=4, tile_aggregate="mean"), 0), logits.mean(0))
    assert np.allclose(aggregate(logits, tiles_spec(tiles=4, tile_aggregate="max"), 0), [3.0, 0.0])
    assert np.allclose(aggregate(logits, tiles_spec(tiles=4, tile_aggregate="top2"), 0), [2.0, 0.0])
    assert np.allclose(aggregate(logits[:1], tiles_spec(tiles=4, tile_aggregate="top3"), 0), [3.0, 0.0])
    flat = aggregate_all(np.concatenate([logits, logits[:2]]), [4, 2], tiles_spec(tiles=4, tile_aggregate="max"), 0)
    assert np.allclose(flat, [[3.0, 0.0], [3.0, 0.0]])
    spec = ModelSpec(arch="convnext_atto", preprocess=tiles_spec(tiles=4, tile_aggregate="max"))
    score, tiles = score_file(spec, logits, [(0, 0, 64, 64), (64, 0, 128, 64), (0, 64, 64, 128), (64, 64, 128, 128)])
    assert score == pytest.approx(1 / (1 + np.exp(-3.0)))
    assert tiles.rule == "max" and tiles.top == 0 and tiles.top_box == [0, 0, 64, 64]
    assert tiles.scores[3] == pytest.approx(1 / (1 + np.exp(5.0)))


def test_the_measured_defaults_and_a_small_tile_count_alone_is_not_refused():
    spec = tiles_spec()
    assert (spec.tiles, spec.tile_placement, spec.tile_aggregate) == (9, "texture", "top3")
    assert [default_aggregate(n) for n in (1, 2, 3, 9)] == ["max", "top2", "top3", "top3"]

    class Options:
        size, resize, tile_placement, tile_aggregate, max_pixels = 64, "tiles", None, None, 1 << 20

    for tiles, rule in ((None, "top3"), (2, "top2"), (1, "max")):
        Options.tiles = tiles
        assert preprocess_for(Options).tile_aggregate == rule
