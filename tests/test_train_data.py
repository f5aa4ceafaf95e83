"""Dataset discovery: the layouts users have, class aliases, generators, seeded split, bad files, no skew."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from synthsight.errors import UsageError
from synthsight.image.preprocess import PreprocessSpec, load_image
from synthsight.train import data as data_mod
from synthsight.train.data import ImageDataset, collate, discover

SPEC = PreprocessSpec(size=16)


def _images(folder: Path, n: int, prefix: str = "img", size=(20, 14)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(folder)) + n)
    paths = []
    for i in range(n):
        path = folder / f"{prefix}_{i:03d}.{'png' if i % 2 else 'jpg'}"
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def _per_class(samples) -> dict[int, int]:
    out: dict[int, int] = {}
    for s in samples:
        out[s.label] = out.get(s.label, 0) + 1
    return out


def test_genimage_layout(tmp_path):
    _images(tmp_path / "train" / "ai", 5)
    _images(tmp_path / "train" / "nature", 4)
    _images(tmp_path / "val" / "ai", 2)
    _images(tmp_path / "val" / "nature", 3)
    (tmp_path / "train" / "ai" / "notes.txt").write_text("not an image")
    index = discover(tmp_path, SPEC)
    assert index.layout == "split"
    assert _per_class(index.train) == {0: 5, 1: 4}  # logit order: ai, real
    assert _per_class(index.val) == {0: 2, 1: 3}
    assert index.classes == ["ai", "real"] and not index.bad and not index.generators


def test_kaggle_layout_uses_test_as_validation(tmp_path):
    _images(tmp_path / "train" / "FAKE", 3)
    _images(tmp_path / "train" / "REAL", 3)
    _images(tmp_path / "test" / "fake", 2)
    _images(tmp_path / "test" / "real", 1)
    index = discover(tmp_path, SPEC)
    assert _per_class(index.train) == {0: 3, 1: 3}
    assert _per_class(index.val) == {0: 2, 1: 1}
    assert all("/test/" in s.path for s in index.val)


def test_parent_of_generator_roots_keeps_generator_names(tmp_path):
    adm = tmp_path / "ADM" / "imagenet_ai_0508_adm"
    for split, n in (("train", 3), ("val", 1)):
        _images(adm / split / "ai", n)
        _images(adm / split / "nature", n)
        _images(tmp_path / "BigGAN" / split / "ai", n + 1)
        _images(tmp_path / "BigGAN" / split / "nature", n + 1)
    (tmp_path / "README.txt").write_text("x")
    index = discover(tmp_path, SPEC)
    assert index.layout == "generators"
    assert index.generators == ["ADM", "BigGAN"]
    summary = index.summary()
    assert summary["train"]["per_generator"] == {"ADM": 6, "BigGAN": 8}
    assert summary["val"]["per_generator"] == {"ADM": 2, "BigGAN": 4}
    assert summary["train"]["per_class"] == {"ai": 7, "real": 7}


def test_unsplit_folder_gets_a_seeded_stratified_split(tmp_path):
    _images(tmp_path / "generated", 20)
    _images(tmp_path / "authentic", 10)
    _images(tmp_path / "cats", 2)
    a = discover(tmp_path, SPEC, seed=1)
    assert a.layout == "unsplit-90/10"
    assert _per_class(a.val) == {0: 2, 1: 1} and _per_class(a.train) == {0: 18, 1: 9}
    assert not {s.path for s in a.train} & {s.path for s in a.val}
    assert [s.path for s in discover(tmp_path, SPEC, seed=1).val] == [s.path for s in a.val]
    assert {s.path for s in discover(tmp_path, SPEC, seed=2).val} != {s.path for s in a.val}
    assert any(p.endswith("cats") for p in a.ignored_dirs)


@pytest.mark.parametrize("parallel", [False, True])
def test_bad_files_are_listed_and_excluded_never_crash(tmp_path, monkeypatch, parallel):
    good = _images(tmp_path / "train" / "ai", 4) + _images(tmp_path / "train" / "real", 4)
    _images(tmp_path / "val" / "ai", 2)
    _images(tmp_path / "val" / "real", 2)
    (tmp_path / "train" / "ai" / "empty.jpg").write_bytes(b"")
    (tmp_path / "train" / "real" / "text.png").write_text("this is not a png")
    trunc = tmp_path / "val" / "real" / "trunc.jpg"
    trunc.write_bytes(good[0].read_bytes()[:200])
    if parallel:
        monkeypatch.setattr(data_mod, "PARALLEL_FROM", 2)
    index = discover(tmp_path, SPEC, workers=2 if parallel else 1)
    bad = dict(index.bad)
    assert set(bad) == {str(tmp_path / "train/ai/empty.jpg"), str(tmp_path / "train/real/text.png"), str(trunc)}
    assert bad[str(trunc)].startswith(("truncated", "corrupt"))
    assert len(index.train) == 8 and len(index.val) == 4
    report = index.write_report(tmp_path / "out")
    with open(tmp_path / "out" / "excluded_files.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["path"] for r in rows} == set(bad) and all(r["error"] for r in rows)
    assert '"excluded_files": 3' in report.read_text()


def test_missing_or_empty_folders_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="not found"):
        discover(tmp_path / "nope", SPEC)
    (tmp_path / "dogs").mkdir()
    with pytest.raises(UsageError, match="no class folders"):
        discover(tmp_path, SPEC)


def test_eval_dataset_serves_exactly_what_preprocess_gives(tmp_path):
    """No train/serve skew: dataset pixels == preprocess.load_image pixels, cached or not."""
    folder = tmp_path / "val" / "ai"
    _images(tmp_path / "train" / "ai", 1)
    _images(tmp_path / "train" / "real", 1)
    paths = _images(folder, 2, size=(300, 200))  # a JPEG large enough for DCT-scaled decoding
    Image.new("CMYK", (50, 70), (10, 200, 30, 5)).save(folder / "cmyk.jpg")
    Image.new("RGBA", (33, 17), (1, 2, 3, 100)).save(folder / "rgba.png")
    _images(tmp_path / "val" / "real", 1)
    index = discover(tmp_path, SPEC)
    assert index.cache is not None
    for cache in (index.cache, None):
        dataset = ImageDataset(index.val, SPEC, cache)
        for i, sample in enumerate(index.val):
            pixels, label = dataset[i]
            assert pixels.dtype == torch.uint8 and label == sample.label
            assert np.array_equal(pixels.numpy(), load_image(sample.path, SPEC)), sample.path
    assert len(paths) == 2


def test_collate_drops_files_that_went_bad_instead_of_substituting(tmp_path):
    _images(tmp_path / "train" / "ai", 2)
    _images(tmp_path / "train" / "real", 2)
    _images(tmp_path / "val" / "ai", 1)
    _images(tmp_path / "val" / "real", 1)
    index = discover(tmp_path, SPEC)
    dataset = ImageDataset(index.train, SPEC, cache=None)
    Path(index.train[0].path).write_bytes(b"gone bad")
    pixels, labels = collate([dataset[i] for i in range(len(dataset))])
    assert pixels.shape == (3, 16, 16, 3)
    assert labels.tolist() == [s.label for s in index.train[1:]]


def test_max_per_class_is_a_seeded_sample_per_class_and_generator(tmp_path):
    """The seeds' dataset tool sampled N per class and generator into a small balanced set; this does it in place."""
    for gen, n_ai, n_real in (("sdv4", 9, 7), ("biggan", 2, 8)):
        _images(tmp_path / gen / "train" / "ai", n_ai, prefix=f"{gen}a")
        _images(tmp_path / gen / "train" / "nature", n_real, prefix=f"{gen}r")
        _images(tmp_path / gen / "val" / "ai", 5, prefix=f"{gen}va")
        _images(tmp_path / gen / "val" / "nature", 5, prefix=f"{gen}vr")
    before = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    index = discover(tmp_path, SPEC, seed=1, max_per_class=3)
    counts = {(s.generator, s.label): 0 for s in index.train}
    for s in index.train:
        counts[(s.generator, s.label)] += 1
    assert counts == {("sdv4", 0): 3, ("sdv4", 1): 3, ("biggan", 0): 2, ("biggan", 1): 3}
    assert len(index.val) == 4 * 3 and index.summary()["max_per_class"] == 3
    again = discover(tmp_path, SPEC, seed=1, max_per_class=3)
    other = discover(tmp_path, SPEC, seed=2, max_per_class=3)
    assert [s.path for s in again.train] == [s.path for s in index.train]
    assert [s.path for s in other.train] != [s.path for s in index.train]
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == before, "nothing copied or moved"


def test_datasets_are_listed_by_extension_alone_unlike_the_scan(tmp_path):
    """formats.image_files: training, calibration and benchmarks list images by extension (no file opened), each
    folder's files by name then its sub-folders; a renamed PNG is left out there, while the scan's walk sniffs it."""
    from synthsight.image.formats import image_files
    from synthsight.scanner.walk import walk

    png = tmp_path / "b.png"
    Image.new("RGB", (8, 8)).save(png)
    (tmp_path / "renamed.dat").write_bytes(png.read_bytes())
    (tmp_path / "a.JPG").write_bytes(b"not opened")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.webp").write_bytes(b"x")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "d.png").write_bytes(png.read_bytes())
    assert [p.relative_to(tmp_path).as_posix() for p in image_files(tmp_path)] == ["a.JPG", "b.png", "sub/c.webp"]
    assert "renamed.dat" in {Path(e.path).name for e in walk([tmp_path])}
