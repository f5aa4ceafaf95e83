"""train --augment / --align: recipes, refusals, what a training image goes through, what the bundle records."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from synthsight.errors import UsageError
from synthsight.train.augment import NONE, RECIPES, Degrade, Recipe, recipe_for
from synthsight.train.loop import TrainConfig, degrade_for
from synthsight.train.synthetic import make_synthetic


def _pixels(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (64, 64, 3), dtype=np.uint8)


def test_named_recipes_and_a_json_recipe(tmp_path):
    assert recipe_for("none") == NONE and recipe_for("web") == RECIPES["web"] == Recipe()
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"jpeg_p": 1.0, "jpeg_quality": [60, 70]}))
    recipe = recipe_for(str(path))
    assert recipe.jpeg_p == 1.0 and recipe.jpeg_quality == (60, 70) and recipe.blur_p == Recipe().blur_p


@pytest.mark.parametrize(
    "content, match",
    [
        ({"jpeg_p": 1.5}, "probability"),
        ({"jpeg_quality": [90, 30]}, "low <= high"),
        ({"jpeg_quality": [0, 30]}, r"\[1, 100\]"),
        ({"sharpen_p": 0.1}, "unknown recipe fields"),
        ("not json", "not a readable JSON recipe"),
    ],
)
def test_bad_recipes_are_refused(tmp_path, content, match):
    path = tmp_path / "r.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(UsageError, match=match):
        recipe_for(str(path))


def test_an_unknown_recipe_name_is_refused():
    with pytest.raises(UsageError, match="none or web or a recipe JSON file"):
        recipe_for("strong")


def test_degradation_is_seeded_and_keeps_the_input_shape():
    degrade = Degrade(Recipe(crop_p=1, resize_p=1, blur_p=1, thumbnail_p=1, jpeg_p=1))
    a = degrade(_pixels(), np.random.default_rng(5))
    b = degrade(_pixels(), np.random.default_rng(5))
    c = degrade(_pixels(), np.random.default_rng(6))
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert not Degrade(NONE).active and np.array_equal(Degrade(NONE)(_pixels(), np.random.default_rng(0)), _pixels())


def _trace(pixels: np.ndarray) -> float:
    """The synthetic ai trace's relative amplitude in an image (its correlation with the checkerboard)."""
    from synthsight.train.synthetic import FINGERPRINT

    luma = pixels.astype(np.float64).mean(axis=2)
    tile = np.tile(FINGERPRINT, (luma.shape[0] // 2, luma.shape[1] // 2))
    return float((luma * tile).mean() / luma.mean() / (tile * tile).mean())


def test_web_keeps_a_faint_trace_that_the_issues_recipe_erased():
    """Why web is JPEG alone at U(60, 100): the resampling steps and low qualities wipe a faint trace out."""
    from synthsight.train.synthetic import render

    rng = np.random.default_rng(0)
    ai = [render(rng, 64, fake=True, amplitude=0.04) for _ in range(20)]
    issue = Recipe(crop_p=0.25, resize_p=0.25, blur_p=0.2, thumbnail_p=0.1, jpeg_p=0.5, jpeg_quality=(30, 100))

    def erased(recipe: Recipe) -> float:
        degrade, draws = Degrade(recipe), np.random.default_rng(1)
        return float(np.mean([abs(_trace(degrade(im, draws))) < 0.01 for im in ai for _ in range(5)]))

    assert all(_trace(im) > 0.03 for im in ai)
    assert erased(RECIPES["web"]) <= 0.25 and erased(issue) >= 0.6


def test_align_format_re_encodes_every_image_at_a_measured_quality():
    degrade = Degrade(NONE, align_qualities=(40,))
    out = degrade(_pixels(), np.random.default_rng(0))
    buf = io.BytesIO()
    Image.fromarray(_pixels()).save(buf, format="JPEG", quality=40)
    assert np.array_equal(out, np.asarray(Image.open(buf).convert("RGB")))
    assert degrade.describe()["align_format"] == {"files": 1, "quality_quartiles": [40, 40, 40], "qualities": [40]}


def test_align_refusals():
    with pytest.raises(UsageError, match="use it with --resize tiles"):
        degrade_for(TrainConfig(data="d", out="o", align="size"))
    assert degrade_for(TrainConfig(data="d", out="o", align="size", resize="tiles")).align_qualities == ()
    with pytest.raises(UsageError, match="none was measured"):
        degrade_for(TrainConfig(data="d", out="o", align="format"))


def test_the_dataset_degrades_training_images_per_epoch():
    from synthsight.datalayout import Sample
    from synthsight.image.preprocess import PreprocessSpec
    from synthsight.train.data import ImageDataset

    spec = PreprocessSpec(size=64)
    cache = {"x.png": _pixels()}
    ds = ImageDataset([Sample("x.png", 0)], spec, cache, augment=Degrade(Recipe(jpeg_p=1.0)), seed=3)
    first, again = ds[0][0].numpy(), ds[0][0].numpy()
    ds.epoch = 1
    assert np.array_equal(first, again) and not np.array_equal(first, ds[0][0].numpy())
    assert not np.array_equal(first, _pixels())


def test_train_audits_first_and_records_the_default_augmentation(tmp_path):
    from synthsight.cli import cli

    data = make_synthetic(tmp_path / "data", n=40, size=64, seed=2, confound="format")
    out = tmp_path / "bundle"
    args = ["train", str(data), "--out", str(out), "--arch", "convnext_atto", "--size", "64", "--init", "random",
            "--epochs", "1", "--device", "cpu", "--workers", "0", "--align", "format", "--quiet"]  # web: the default
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "warning: format separates the classes (AUC 1.00)" in result.output
    spec = json.loads((out / "model.json").read_text())
    augmentation = spec["data"]["augmentation"]
    assert augmentation["recipe"] == Recipe().to_dict()
    qualities = augmentation["align_format"]["qualities"]  # the real class's measured qualities: U(75, 95)
    assert len(qualities) > 1 and min(qualities) >= 75 and max(qualities) <= 95
    assert spec["data"]["train_config"]["augment"] == "web" and spec["data"]["train_config"]["align"] == "format"
    assert "format" in {f["feature"] for f in spec["data"]["audit_findings"]}
    report = json.loads((out / "data_report.json").read_text())
    assert report["audit"]["classifier"]["findings"][0]["auc"] >= 0.95
