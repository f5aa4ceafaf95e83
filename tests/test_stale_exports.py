"""A bundle retrained in place never scans with its old exports: each export names the weights it was made
from, a mismatch beside the bundle is one line and exit 2 (scan, info, the Python API), `export` removes what
it leaves stale, and `train` into a non-empty folder needs --overwrite, which removes the old exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from synthsight.artifacts import file_sha256, read_props
from synthsight.errors import ModelFileError, UsageError
from synthsight.runtime import open_backend
from synthsight.spec import ONNX_METADATA_KEY, ModelSpec

REPO = Path(__file__).resolve().parents[1]


def _export(bundle: Path, fmt: str = "onnx") -> None:
    from synthsight.export.pipeline import ExportConfig, export_model

    export_model(ExportConfig(model=bundle, format=fmt, check=False), echo=lambda line: None)


def _retrain(bundle: Path, seed: int, created: str = "") -> None:
    """What `train --out BUNDLE` into the same folder did before: new weights, the exports left in place."""
    import torch

    from synthsight.model import build, read_spec, save_bundle

    spec = read_spec(bundle)
    spec.created = created
    torch.manual_seed(seed)
    save_bundle(build(spec, "random").eval(), spec, bundle)


@pytest.fixture(scope="module")
def exported(tiny_bundle, tmp_path_factory) -> Path:
    """tiny_bundle with model.onnx and model.fp16.onnx exported beside it, once."""
    folder = tmp_path_factory.mktemp("exported") / "m"
    shutil.copytree(tiny_bundle, folder)
    _export(folder, "fp16")
    return folder


@pytest.fixture
def bundle(exported, tmp_path) -> Path:
    """A copy of ``exported`` this test may retrain."""
    copy = tmp_path / "m"
    shutil.copytree(exported, copy)
    return copy


def test_every_export_names_the_weights_it_was_made_from(bundle):
    weights = file_sha256(bundle / "model.safetensors")
    for name in ("model.onnx", "model.fp16.onnx"):
        spec = ModelSpec.from_json(read_props(bundle / name)[ONNX_METADATA_KEY])
        assert spec.weights_sha256 == weights, name
    assert ModelSpec.from_json((bundle / "model.json").read_text()).weights_sha256 == ""  # the bundle's own: empty


def test_an_export_of_the_old_weights_is_refused_in_one_line(bundle, tmp_path):
    from synthsight.runtime.info import describe_model

    with open_backend(bundle / "model.onnx", device="cpu"):
        pass  # made from these weights: runs
    _retrain(bundle, seed=1)
    with pytest.raises(ModelFileError, match=r"model\.onnx: stale export, made from weights [0-9a-f]{12}, not"):
        open_backend(bundle / "model.onnx", device="cpu")
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(images / "a.png")
    args = ("scan", str(images), "--model", str(bundle / "model.fp16.onnx"), "--out", str(tmp_path / "r.csv"))
    done = subprocess.run([sys.executable, "-m", "synthsight", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "model.fp16.onnx: stale export" in lines[0], done.stderr
    assert f"synthsight export {bundle}" in lines[0] and not (tmp_path / "r.csv").exists()
    with pytest.raises(ModelFileError, match="stale export"):  # `info`
        describe_model(bundle / "model.onnx")
    with open_backend(bundle, device="cpu"):  # the bundle itself still scans
        pass


def test_an_export_from_before_the_mark_is_judged_by_the_training_time(bundle):
    path = bundle / "model.onnx"
    _strip_mark(path)  # what synthsight wrote before exports were marked
    with open_backend(path, device="cpu"):
        pass  # the same training run (the same `created` in both specs): nothing says otherwise
    spec = json.loads((bundle / "model.json").read_text())
    made = spec["created"]
    (bundle / "model.json").write_text(json.dumps({**spec, "created": "2099-01-01T00:00:00+00:00"}))  # retrained
    why = f"made from the bundle trained {made}, not that of model.safetensors"
    with pytest.raises(ModelFileError, match=re.escape(why)):
        open_backend(path, device="cpu")


def _rewrite_spec(bundle: Path, **changes) -> None:
    spec = json.loads((bundle / "model.json").read_text())
    (bundle / "model.json").write_text(json.dumps({**spec, **changes}))


def test_an_unmarked_export_needs_the_same_training_time_arch_and_preprocessing(bundle):
    """One rule (runtime/made_from.mismatch) for scan and calibrate: an export that names no weights is made
    from this bundle only when the training time, architecture and preprocessing all match."""
    path = bundle / "model.onnx"
    _strip_mark(path)
    spec = json.loads((bundle / "model.json").read_text())
    _rewrite_spec(bundle, preprocess={**spec["preprocess"], "size": spec["preprocess"]["size"] * 2})
    with pytest.raises(ModelFileError, match="stale export, made with other preprocessing than the bundle of"):
        open_backend(path, device="cpu")
    _rewrite_spec(bundle, preprocess=spec["preprocess"], created="")
    with pytest.raises(ModelFileError, match="stale export, it names no weights and the bundle of model.safetensors"):
        open_backend(path, device="cpu")


def test_calibrate_refuses_a_stale_export_in_the_same_one_line(bundle, tmp_path, capsys):
    from unittest import mock

    from synthsight.cli import main

    _retrain(bundle, seed=1)
    data = tmp_path / "data"
    data.mkdir()
    argv = ["synthsight", "calibrate", str(bundle / "model.onnx"), str(data)]
    with mock.patch.object(sys, "argv", argv), pytest.raises(SystemExit) as stopped:
        main()
    lines = capsys.readouterr().err.strip().splitlines()
    assert stopped.value.code == 2 and len(lines) == 1, lines
    assert re.search(r"model\.onnx: stale export, made from weights [0-9a-f]{12}, not those of", lines[0]), lines
    assert f"synthsight export {bundle}) or calibrate the bundle itself" in lines[0]


def _strip_mark(path: Path) -> None:
    import onnx

    proto = onnx.load(str(path))
    for prop in proto.metadata_props:
        if prop.key == ONNX_METADATA_KEY:
            data = json.loads(prop.value)
            data.pop("weights_sha256")
            prop.value = json.dumps(data)
    onnx.save(proto, str(path))


def test_export_removes_the_exports_it_leaves_stale(bundle):
    _retrain(bundle, seed=1)
    said: list[str] = []
    from synthsight.export.pipeline import ExportConfig, export_model

    export_model(ExportConfig(model=bundle, format="onnx", check=False), echo=said.append)
    assert not (bundle / "model.fp16.onnx").exists()
    assert any(line.startswith(f"removed {bundle / 'model.fp16.onnx'}: made from other weights") for line in said)
    with open_backend(bundle / "model.onnx", device="cpu"):  # the new one
        pass


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    from synthsight.train.synthetic import make_synthetic

    return make_synthetic(tmp_path_factory.mktemp("data") / "d", n=16, size=32, seed=2)


def _train_args(data: Path, out: Path) -> list[str]:
    return ["train", str(data), "--out", str(out), "--arch", "convnext_atto", "--size", "32", "--init", "random",
            "--epochs", "1", "--batch-size", "8", "--workers", "0", "--quiet"]  # fmt: skip


def test_train_into_a_non_empty_folder_needs_overwrite_which_removes_the_exports(bundle, tiny_data):
    from synthsight.cli import cli
    from synthsight.train.loop import TrainConfig, fit

    before = (bundle / "model.safetensors").read_bytes()
    with pytest.raises(UsageError, match=r"--out .* is not empty \(.*model\.fp16\.onnx.*\): add --overwrite"):
        fit(TrainConfig(data=str(tiny_data), out=str(bundle), arch="convnext_atto", size=32, init="random"))
    assert (bundle / "model.safetensors").read_bytes() == before and (bundle / "model.onnx").exists()
    done = CliRunner().invoke(cli, [*_train_args(tiny_data, bundle), "--overwrite"])
    assert done.exit_code == 0, done.output
    assert not (bundle / "model.onnx").exists() and not (bundle / "model.fp16.onnx").exists()
    assert f"removed {bundle / 'model.onnx'}: an export of the weights this training replaces" in done.stderr
    assert (bundle / "model.safetensors").read_bytes() != before
