"""Scanning with a tiles model: tiles travel the decode ring as rows, batches mix tiles of several images,
records come out whole and in order with their tile fields, one decode per image, the same scores through
ONNX Runtime, OpenVINO and PyTorch, shards + merge, Grad-CAM of the top tile, and bad settings refused."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scanner_support import records_by_path, tiled_tree

from synthsight.errors import UsageError
from synthsight.reports.merge import merge
from synthsight.reports.writers import COLUMNS, read_records
from synthsight.runtime import open_backend
from synthsight.runtime.base import Backend
from synthsight.scanner import scan

IMAGES = ("big.jpg", "a.png", "b.png", "small.png", "c.webp", "broken.jpg")


@pytest.fixture(scope="module")
def tiled(tmp_path_factory) -> Path:
    return tiled_tree(tmp_path_factory.mktemp("tiled"))


@pytest.fixture(scope="module")
def ort(tiles_model):
    with open_backend(str(tiles_model["onnx"]), backend="onnxruntime", device="cpu", threads=1) as b:
        yield b


@pytest.fixture(scope="module")
def reference(tiled, ort, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "ref.jsonl"
    scan([str(tiled)], ort, [out], workers=1, batch_size=8, all_files=True, quiet=True)
    return out


class Spy(Backend):
    """Runs another backend and keeps the shape of every batch it was given."""

    def __init__(self, backend: Backend):
        super().__init__(backend.model_spec, source=backend.source)
        self.name, self.device, self.precision = backend.name, backend.device, backend.precision
        self.backend, self.shapes = backend, []

    def _infer(self, pixels):
        self.shapes.append(pixels.shape)
        return self.backend.infer(pixels)


def by_name(path: Path) -> dict:
    return {Path(r.path).name: r for r in read_records(path)[0]}


def test_records_carry_tiles_the_rule_the_top_box_and_per_tile_scores(tiled, reference, tmp_path, ort):
    recs = by_name(reference)
    big = recs["big.jpg"]
    assert big.tiles == 4 and big.aggregate == "max" and len(big.tile_scores) == len(big.tile_boxes) == 4
    assert big.top_tile in big.tile_boxes
    assert big.score == pytest.approx(max(big.tile_scores), abs=1e-6)  # max: the image is its top tile
    assert big.tile_scores[big.tile_boxes.index(big.top_tile)] == pytest.approx(max(big.tile_scores), abs=1e-6)
    assert all(r - le == 64 and b - t == 64 for le, t, r, b in big.tile_boxes)
    small = recs["small.png"]
    assert small.tiles == 1 and small.tile_boxes == [[0, 0, 40, 30]] and "reflect-padded to 64x64" in small.notes
    assert recs["a.png"].tiles == 4 and recs["b.png"].tiles == 4  # 4 x 4 and 4 x 3 windows cover them: 4 kept
    assert recs["broken.jpg"].verdict == "error" and recs["broken.jpg"].tiles is None
    assert recs["notes.txt"].tiles is None and recs["notes.txt"].aggregate == ""
    csv_out = tmp_path / "r.csv"
    scan([str(tiled)], ort, [csv_out, tmp_path / "r.json"], workers=0, batch_size=8, all_files=True, quiet=True)
    header = csv_out.read_text().splitlines()[0].split(",")
    assert header == list(COLUMNS) and {"tiles", "aggregate", "top_tile"} <= set(header)
    row = next(line for line in csv_out.read_text().splitlines() if "big.jpg" in line)
    assert ',4,max,"' + ",".join(map(str, big.top_tile)) + '"' in row
    from_csv, from_json = by_name(csv_out)["big.jpg"], by_name(tmp_path / "r.json")["big.jpg"]
    assert (from_csv.tiles, from_csv.aggregate, from_csv.top_tile) == (4, "max", big.top_tile)
    assert from_csv.tile_scores is None  # per-tile detail lives in the JSON formats
    assert from_json.tile_boxes == big.tile_boxes and from_json.tile_scores == pytest.approx(big.tile_scores)
    manifest = json.loads((tmp_path / "r.json").read_text())["manifest"]
    assert manifest["preprocess"]["resize"] == "tiles" and manifest["preprocess"]["tile_aggregate"] == "max"


def test_batches_mix_tiles_of_several_images_and_records_stay_whole_and_in_order(tiled, reference, ort, tmp_path):
    want = records_by_path(read_records(reference)[0])
    for workers, batch_size in ((0, 8), (2, 8), (1, 3), (2, 64)):
        spy = Spy(ort)
        out = tmp_path / f"w{workers}b{batch_size}.jsonl"
        scan([str(tiled)], spy, [out], workers=workers, batch_size=batch_size, all_files=True, quiet=True)
        got = records_by_path(read_records(out)[0])
        assert list(got) == list(want)
        for path, r in got.items():
            w = want[path]
            assert (r.verdict, r.tiles, r.tile_boxes, r.top_tile, r.notes) == (w.verdict, w.tiles, w.tile_boxes,
                                                                               w.top_tile, w.notes)  # fmt: skip
            assert (r.score is None) == (w.score is None) and (r.score is None or abs(r.score - w.score) < 1e-5)
        assert sum(s[0] for s in spy.shapes) == 4 * 4 + 1  # every tile of the 5 decoded images scored once
        assert max(s[0] for s in spy.shapes) <= max(batch_size, 4)  # the model batch stays --batch-size inputs
        if batch_size == 8:
            assert 8 in [s[0] for s in spy.shapes]  # two images' tiles in one batch


@pytest.fixture
def decodes(monkeypatch) -> list:
    """(format, size) of every image opened for decoding in this process, in order."""
    import synthsight.image.preprocess as preprocess

    opened = []
    real = preprocess._decode_open

    def counting(im, *args, **kwargs):
        opened.append((im.format, im.size))
        return real(im, *args, **kwargs)

    monkeypatch.setattr(preprocess, "_decode_open", counting)
    return opened


def test_each_image_is_decoded_once_for_all_its_tiles(tiled, ort, tmp_path, decodes):
    opened = decodes
    scan([str(tiled)], ort, [tmp_path / "r.csv"], workers=0, batch_size=8, quiet=True)
    assert sorted(opened) == sorted(
        [("JPEG", (700, 500)), ("PNG", (256, 256)), ("PNG", (200, 130)), ("PNG", (40, 30)), ("WEBP", (150, 150)),
         ("JPEG", (300, 200))]  # fmt: skip
    )


def test_onnxruntime_openvino_and_the_pytorch_bundle_agree_on_the_aggregate(tiled, tiles_model, reference, tmp_path):
    pytest.importorskip("openvino")
    want = by_name(reference)
    runs = {
        "openvino": (str(tiles_model["onnx"]), dict(backend="openvino", precision="fp32")),
        "torch": (str(tiles_model["bundle"]), dict(backend="torch", precision="fp32")),
    }
    for name, (model, options) in runs.items():
        out = tmp_path / f"{name}.jsonl"
        scan([str(tiled)], model, [out], workers=1, batch_size=8, all_files=True, quiet=True, **options)
        got = by_name(out)
        assert set(got) == set(want)
        for key, r in got.items():
            w = want[key]
            assert (r.verdict, r.tiles, r.tile_boxes) == (w.verdict, w.tiles, w.tile_boxes), (name, key)
            if r.score is not None:
                assert abs(r.score - w.score) <= 1e-4, (name, key)
                assert np.max(np.abs(np.subtract(r.tile_scores, w.tile_scores))) <= 1e-4, (name, key)


def test_shards_merge_to_the_whole_tiles_report(tiled, ort, reference, tmp_path):
    outs = [tmp_path / f"s{k}.jsonl" for k in range(2)]
    for k, out in enumerate(outs):
        scan([str(tiled)], ort, [out], workers=1, batch_size=8, shard=f"{k}/2", all_files=True, quiet=True)
    merge(tmp_path / "merged.jsonl", outs)
    got, want = read_records(tmp_path / "merged.jsonl")[0], read_records(reference)[0]
    assert [(r.path, r.tiles, r.top_tile, r.tile_boxes) for r in got] == [
        (r.path, r.tiles, r.top_tile, r.tile_boxes) for r in want
    ]
    assert all(a.score == b.score or abs(a.score - b.score) < 1e-5 for a, b in zip(got, want, strict=True))


def test_gradcam_shows_the_top_tile_beside_the_whole_picture(tiled, tiles_model, tmp_path):
    cams = tmp_path / "cams"
    out = tmp_path / "r.jsonl"
    scan([str(tiled)], str(tiles_model["onnx"]), [out], workers=0, batch_size=8, gradcam_dir=str(cams),
         gradcam_for="all", quiet=True)  # fmt: skip
    big = by_name(out)["big.jpg"]
    with Image.open(big.gradcam) as im:
        width, height = im.size
    assert height >= 256 and width > 2 * height - 100  # the picture (700 x 500 shown at 512 x 366) | the tile
    manifest = json.loads(Path(f"{out}.manifest.json").read_text())
    assert "the tile ranked first" in manifest["gradcam"]["target"]


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    from synthsight.cli import main

    monkeypatch.setattr(sys, "argv", ["synthsight", *args])
    with pytest.raises(SystemExit) as stop:
        main()
    return stop.value.code, capsys.readouterr().err


def test_a_tile_above_the_pixel_cap_and_bad_tile_options_are_one_line_and_exit_2(
    tiled, tiles_model, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "r.csv"
    code, err = run_main(monkeypatch, capsys, "scan", str(tiled), "--model", str(tiles_model["onnx"]),
                         "--out", str(out), "--max-pixels", "4000", "--quiet")  # fmt: skip
    assert code == 2 and err.strip().count("\n") == 0 and "smaller than one 64x64 tile" in err
    assert not out.exists()
    code, err = run_main(monkeypatch, capsys, "scan", str(tiled), "--model", str(tiles_model["onnx"]),
                         "--out", str(out), "--stability", "2", "--quiet")  # fmt: skip
    assert code == 2 and err.strip().count("\n") == 0 and "does not combine with a tiles model" in err, err
    assert not out.exists()
    data = tmp_path / "data"
    (data / "ai").mkdir(parents=True)
    (data / "real").mkdir()
    for bad, says in ((["--tiles", "0"], "--tiles must be an integer from 1 to 64"),
                      (["--tiles", "4", "--tile-aggregate", "top5"], "topK with 2 <= K <= tiles (4)"),
                      (["--resize", "squash", "--tiles", "4"], "--tiles: only with --resize tiles")):  # fmt: skip
        args = ["--resize", "tiles", *bad] if "--resize" not in bad else bad
        code, err = run_main(monkeypatch, capsys, "train", str(data), "--out", str(tmp_path / "m"), *args)
        assert code == 2 and err.strip().count("\n") == 0 and says in err, err
    assert not (tmp_path / "m").exists()
    with pytest.raises(UsageError, match="smaller than one 64x64 tile"):
        scan([str(tiled)], str(tiles_model["onnx"]), [out], ray="local", max_pixels=100, quiet=True)


def test_resume_keeps_the_tile_fields_of_the_records_already_written(tiled, ort, reference, tmp_path):
    import shutil

    out = tmp_path / "r.jsonl"
    lines = reference.read_text(encoding="utf-8").splitlines(keepends=True)
    out.write_text("".join(lines[:3]) + lines[3][:25], encoding="utf-8")  # 3 whole records, then a torn line
    shutil.copy(f"{reference}.manifest.json", f"{out}.manifest.json")
    scan([str(tiled)], ort, [out], workers=1, batch_size=8, all_files=True, quiet=True, resume=True)
    got, want = read_records(out)[0], read_records(reference)[0]
    assert [r.path for r in got] == [r.path for r in want]
    for r, w in zip(got, want, strict=True):
        assert (r.verdict, r.tiles, r.aggregate, r.top_tile, r.tile_boxes) == (w.verdict, w.tiles, w.aggregate,
                                                                                w.top_tile, w.tile_boxes)  # fmt: skip
        assert (r.tile_scores is None) == (w.tile_scores is None)
        assert r.tile_scores is None or np.allclose(r.tile_scores, w.tile_scores, atol=1e-5)


def test_eval_scores_a_tiles_bundle_as_the_scan_does(tiles_model, tmp_path, monkeypatch):
    import synthsight.train.evaluate as evaluate
    from synthsight.runtime.base import scores_from_logits

    data = tmp_path / "data"
    for label, seed in (("ai", 0), ("real", 50)):
        (data / label).mkdir(parents=True)
        for k, (w, h) in enumerate([(300, 200), (64, 64), (130, 90), (40, 30), (256, 256), (200, 150)]):
            Image.fromarray(np.random.default_rng(seed + k).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
                data / label / f"{k}.png"
            )
    seen = []
    real_metrics = evaluate.compute_metrics

    def keep(labels, logits, *args, **kwargs):
        seen.append(scores_from_logits(logits, 0))
        return real_metrics(labels, logits, *args, **kwargs)

    monkeypatch.setattr(evaluate, "compute_metrics", keep)
    result = evaluate.evaluate_model(evaluate.EvalConfig(model=str(tiles_model["bundle"]), data=str(data),
                                                         device="cpu", workers=0, tiers=True))  # fmt: skip
    out = tmp_path / "r.jsonl"
    scan([str(data)], str(tiles_model["bundle"]), [out], workers=0, batch_size=8, quiet=True, backend="torch",
         precision="fp32")  # fmt: skip
    records = read_records(out)[0]
    assert sorted(r.tiles for r in records) == [1] * 4 + [4] * 8  # tiles were scored, one for the small files
    assert np.allclose(np.sort(seen[0]), np.sort([r.score for r in records]), atol=1e-5)  # eval's scores: the scan's
    # eval --tiers scores the web and hard copies as tiles too (each copy's own tiles at its own pixels)
    assert set(result.tiers) >= {"clean", "web", "hard"}
    assert all(0 <= result.tiers[t]["balanced_accuracy"] <= 1 for t in ("clean", "web", "hard")), result.tiers


def test_a_12mp_jpeg_is_decoded_once_and_a_decompression_bomb_is_refused_in_a_tiles_scan(
    tiles_model, ort, tmp_path, decodes
):
    import hostile

    folder = tmp_path / "photos"
    folder.mkdir()
    hostile.noise(4000, 3000, 5).save(folder / "camera.jpg", "JPEG", quality=85)  # 12 MP
    (folder / "bomb.png").write_bytes(hostile.png(30000, 30000, hostile.zeros_zlib(64)))  # 900 MP in ~100 bytes
    out = tmp_path / "r.jsonl"
    scan([str(folder)], ort, [out], workers=0, batch_size=8, quiet=True)
    records = by_name(out)
    # One full-resolution decode for all its tiles (no DCT draft: the tiles are the file's own pixels); the
    # bomb never reaches a decode and gets its record.
    assert decodes == [("JPEG", (4000, 3000))]
    camera = records["camera.jpg"]
    assert camera.verdict in ("ai", "real", "uncertain") and camera.tiles == ort.model_spec.preprocess.tiles
    assert all(right - left == bottom - top == 64 and right <= 4000 and bottom <= 3000
               for left, top, right, bottom in camera.tile_boxes)  # fmt: skip
    bomb = records["bomb.png"]
    assert bomb.verdict == "error" and bomb.error.startswith("too-large: decompression bomb"), bomb
    assert bomb.tiles is None
