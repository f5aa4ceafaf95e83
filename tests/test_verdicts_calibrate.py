"""`synthsight calibrate` end to end: what it stores where, what it refuses, and its report."""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path
from unittest import mock

import pytest

from synthsight.cli import main
from synthsight.model import read_spec
from synthsight.train.synthetic import make_synthetic

# Relaxed targets so ~60 images per class are enough (5 % / 10 % at 90 %: 45 real and 22 AI images).
RELAXED = ("--target-fpr", "0.05", "--target-miss", "0.1", "--confidence", "0.9")


def run(capsys, *args: str) -> tuple[int, str, str]:
    """The console entry point in this process: (exit code, stdout, stderr)."""
    with mock.patch.object(sys, "argv", ["synthsight", *map(str, args)]):
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def fresh_data(tmp_path_factory) -> Path:
    """120 synthetic images the trained model never saw (another seed), plus one corrupt file."""
    root = make_synthetic(tmp_path_factory.mktemp("calib") / "set", n=120, size=64, seed=5)
    (root / "train" / "nature" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return root


@pytest.fixture()
def family(reduced_export, trained_bundle, tiny_onnx, tmp_path) -> Path:
    """A bundle with model.onnx + model.int8.onnx beside it, an engine with its sidecar, an ONNX file made
    from other weights and a damaged one."""
    from synthsight.artifacts import file_sha256 as sha256
    from synthsight.runtime.engine_sidecar import make_sidecar, sidecar_path

    folder = Path(shutil.copytree(reduced_export["dir"], tmp_path / "bundle"))
    for name in ("model.safetensors", "model.json"):
        shutil.copy(trained_bundle / name, folder / name)
    spec = read_spec(folder)
    spec.weights_sha256 = sha256(folder / "model.safetensors")
    (folder / "model.engine").write_bytes(b"plan")
    sidecar = make_sidecar(spec, tensorrt_version="10.12.0", gpu_name="GPU", compute_capability=(9, 0), profile={})
    sidecar_path(folder / "model.engine").write_text(json.dumps(sidecar))
    shutil.copy(tiny_onnx["onnx"], folder / "other.onnx")
    (folder / "broken.onnx").write_bytes(b"not onnx")
    return folder


def test_calibrate_stores_in_the_bundle_and_every_export(capsys, family, fresh_data):
    from synthsight.artifacts import onnx_spec
    from synthsight.runtime.cpu.family import family as export_family
    from synthsight.runtime.engine_sidecar import read_sidecar

    code, out, err = run(capsys, "calibrate", family, fresh_data, *RELAXED, "--workers", "0")
    assert code == 1, err  # broken.onnx could not be updated: said, and the exit code says so
    calibration = read_spec(family).calibrated()
    assert calibration is not None and calibration.fitted_on["runtime"] == "torch"
    assert calibration.data["files"] == 120 and calibration.data["excluded"] == 1
    assert calibration.weights_sha256 == read_spec(family).calibration["weights_sha256"]
    for name in ("model.onnx", "model.int8.onnx"):
        exported = onnx_spec(family / name)
        assert exported.calibration == read_spec(family).calibration, name
        assert f"updated {name}" in out
    assert export_family(family / "model.onnx").int8 is not None  # the INT8 file still belongs to model.onnx
    assert read_sidecar(family / "model.engine")["spec"]["calibration"] == read_spec(family).calibration
    assert "left other.onnx alone: made from the bundle trained" in out
    assert onnx_spec(family / "other.onnx").calibration == {}
    assert f"could not update {family / 'broken.onnx'}" in out
    report = family / "calibration"
    rows = list(csv.DictReader((report / "calibration_scores.csv").read_text(encoding="utf-8").splitlines()))
    assert len(rows) == 120 and {r["verdict"] for r in rows} <= {"ai", "uncertain", "real"}
    assert "broken.jpg" in (report / "excluded_files.csv").read_text()
    assert (report / "reliability.png").stat().st_size > 5000
    assert json.loads((report / "calibration.json").read_text())["calibration"]["temperature"] > 0


def test_an_export_is_calibrated_on_its_own_logits(capsys, family, fresh_data):
    code, out, err = run(capsys, "calibrate", family / "model.int8.onnx", fresh_data, *RELAXED, "--workers", "0")
    assert code == 1, err
    fitted = read_spec(family).calibrated().fitted_on
    assert fitted["file"] == "model.int8.onnx" and fitted["precision"] == "int8"


def test_training_images_are_refused_unless_allowed(capsys, trained_bundle, tmp_path):
    bundle = Path(shutil.copytree(trained_bundle, tmp_path / "b"))
    data = trained_bundle.parent / "data"
    code, out, err = run(capsys, "calibrate", bundle, data, *RELAXED, "--workers", "0")
    assert code == 2 and "training images" in err and "--allow-training-data" in err
    assert len(err.strip().splitlines()) == 1 and read_spec(bundle).calibration == {}
    code, out, err = run(capsys, "calibrate", bundle, data, *RELAXED, "--allow-training-data", "--workers", "0")
    assert code == 0, err
    assert "bounds optimistic" in out and read_spec(bundle).calibrated() is not None


def test_one_class_or_too_few_images_is_one_line_and_exit_2(capsys, tiny_bundle, tmp_path):
    bundle = Path(shutil.copytree(tiny_bundle, tmp_path / "b"))
    data = make_synthetic(tmp_path / "few", n=100, size=64, seed=1)
    code, _, err = run(capsys, "calibrate", bundle, data)
    assert code == 2 and "50 real and 50 AI images" in err and "at least 299 real and 59 AI" in err
    assert len(err.strip().splitlines()) == 1
    shutil.rmtree(data / "train" / "ai")
    shutil.rmtree(data / "val" / "ai")
    code, _, err = run(capsys, "calibrate", bundle, data, *RELAXED)
    assert code == 2 and "real images only" in err and len(err.strip().splitlines()) == 1
    assert read_spec(bundle).calibration == {}


def test_an_export_without_its_bundle_is_refused(capsys, tiny_onnx, fresh_data, tmp_path):
    alone = Path(shutil.copy(tiny_onnx["onnx"], tmp_path / "model.onnx"))
    code, _, err = run(capsys, "calibrate", alone, fresh_data, *RELAXED)
    assert code == 2 and "no model bundle beside it" in err
