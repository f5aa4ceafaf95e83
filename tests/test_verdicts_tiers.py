"""`eval --tiers`: clean / web / hard copies made in memory, with the calibrated verdict counts per tier."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner
from PIL import Image

from synthsight.calibrate.run import CalibrateConfig, calibrate
from synthsight.cli import cli
from synthsight.train.synthetic import make_synthetic
from synthsight.train.tiers import TIERS, copy_of, copy_size


def test_tier_copies_are_reduced_jpegs():
    web, hard = TIERS[1], TIERS[2]
    big = Image.new("RGB", (2000, 1000), (120, 30, 200))
    assert copy_of(web).apply(big).size == (768, 384) == copy_size(web, 2000, 1000)
    assert copy_of(hard).apply(big).size == (512, 256) == copy_size(hard, 2000, 1000)
    small = Image.new("RGB", (64, 64))
    assert copy_of(hard).apply(small).size == (64, 64) == copy_size(hard, 64, 64)


def test_eval_tiers_reports_each_tier_with_calibrated_verdicts(trained_bundle, tmp_path):
    bundle = Path(shutil.copytree(trained_bundle, tmp_path / "bundle"))
    calib = make_synthetic(tmp_path / "calib", n=120, size=64, seed=21)
    calibrate(CalibrateConfig(str(bundle), str(calib), 0.05, 0.1, 0.9, workers=0), echo=lambda line: None)
    held = make_synthetic(tmp_path / "held", n=80, size=64, seed=22) / "train"
    out, plots = tmp_path / "eval.json", tmp_path / "plots"
    result = CliRunner().invoke(
        cli, ["eval", str(bundle), str(held), "--tiers", "--json", str(out), "--plots", str(plots), "--workers", "0"],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    tiers = json.loads(out.read_text())["tiers"]
    assert list(tiers) == ["clean", "web", "hard"]
    for name, tier in tiers.items():
        counts = tier["verdicts"]
        assert sum(counts["ai"].values()) == sum(counts["real"].values()) == 32, name
        assert 0 <= tier["uncertain_share"] <= 1 and tier["balanced_accuracy"] is not None
    # JPEG 40 at 512 px erases the synthetic trace: the hard tier must show it
    assert tiers["hard"]["roc_auc"] < tiers["clean"]["roc_auc"] - 0.1
    assert tiers["clean"]["balanced_accuracy"] >= 0.9
    assert (plots / "tiers.png").stat().st_size > 5000
    assert "\nhard " in result.output
