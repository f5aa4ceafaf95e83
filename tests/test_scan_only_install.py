"""The scan-only install, for real: the wheel built from this checkout, installed without extras into a fresh
venv (from the package registry, pip's cache under this run's temporary folder), scans an ONNX file exported
in the full install, with the same records, builds the review page, has no PyTorch, and each command that
needs an extra says which in one line, exit 2.

One venv per run (55-93 s on 2 shared cores with packages from local mirrors, most of it pip; longer from a
remote registry); every check runs in it.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from scanner_support import image_bytes, random_pngs

from synthsight.reports.writers import read_records

REPO = Path(__file__).resolve().parents[1]
# the venv must see nothing of this checkout or of the full install
CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
PACKAGE_DATA = {"synthsight/review/static": ("*.html", "*.css", "*.js"), "synthsight/provenance/data": ("*.pem",
                                                                                                        "*.json")}


def _run(cmd: list[str], timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """`pip wheel` of a copy of the checkout (the build's egg-info and build/ stay out of the tree)."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    shutil.copytree(REPO / "synthsight", src / "synthsight", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    # this venv's setuptools when it has one (no registry needed); else pip fetches it for an isolated build
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
    done = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q", "-w", str(root / "dist"),
                 str(src)])  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (found,) = (root / "dist").glob("synthsight-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel and its base dependencies only."""
    root = tmp_path_factory.mktemp("scan-only")
    env = root / "venv"
    done = _run([sys.executable, "-m", "venv", str(env)], env=CLEAN_ENV)
    assert done.returncode == 0, done.stderr
    pip = [str(env / "bin" / "python"), "-m", "pip", "install", "-q", "--cache-dir", str(root / "pip-cache")]
    done = _run([*pip, str(wheel)], env=CLEAN_ENV, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return env


def _synthsight(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return _run([str(venv / "bin" / "synthsight"), *args], env=CLEAN_ENV, cwd=cwd)


def test_the_wheel_carries_the_review_page_and_the_trust_lists(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    want = {str(p.relative_to(REPO)) for folder, globs in PACKAGE_DATA.items() for g in globs
            for p in (REPO / folder).glob(g)}  # fmt: skip
    assert want and want <= names, sorted(want - names)


@pytest.fixture(scope="module")
def export_folder(tiny_bundle, tiny_onnx, tmp_path_factory) -> Path:
    """The bundle with its model.onnx beside it, as `synthsight export` leaves it (exported in the full install)."""
    folder = tmp_path_factory.mktemp("export") / "model"
    shutil.copytree(tiny_bundle, folder)
    shutil.copy(tiny_onnx["onnx"], folder / "model.onnx")
    return folder


def test_the_scan_only_venv_scans_like_the_full_install_and_has_no_torch(venv, export_folder, tmp_path):
    images = random_pngs(tmp_path / "images", 4)
    (images / "photo.jpg").write_bytes(image_bytes("JPEG", 120, 90, seed=3))
    (images / "broken.jpg").write_text("not an image")
    onnx = str(export_folder / "model.onnx")
    py = str(venv / "bin" / "python")

    done = _run([py, "-c", "import torch"], env=CLEAN_ENV)
    assert done.returncode == 1 and "ModuleNotFoundError: No module named 'torch'" in done.stderr
    done = _run([py, "-c", "import synthsight, sys; print(synthsight.__file__)"], env=CLEAN_ENV, cwd=tmp_path)
    assert done.stdout.startswith(str(venv)), done.stdout  # the wheel, not this checkout
    assert _synthsight(venv, "--help", cwd=tmp_path).returncode == 0
    info = _synthsight(venv, "info", onnx, cwd=tmp_path)
    assert info.returncode == 0 and "onnxruntime  cpu   yes" in info.stdout, info.stdout + info.stderr

    light = tmp_path / "light.csv"
    done = _synthsight(venv, "scan", str(images), "-m", onnx, "--out", str(light), "--html",
                       str(tmp_path / "review.html"), "--workers", "2", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "review page:" in done.stderr and (tmp_path / "review_files").is_dir()
    full = tmp_path / "full.csv"
    done = _run([sys.executable, "-m", "synthsight", "scan", str(images), "-m", onnx, "--out", str(full),
                 "--backend", "onnxruntime", "--precision", "fp32", "--workers", "0", "-q"], cwd=REPO)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    got, want = read_records(light)[0], read_records(full)[0]
    assert len(got) == 6 and sum(r.verdict == "error" for r in got) == 1
    assert sorted(r.path for r in got) == sorted(r.path for r in want)
    for a, b in zip(sorted(got, key=lambda r: r.path), sorted(want, key=lambda r: r.path), strict=True):
        same = dataclasses.asdict(a) | {"score": None, "raw_score": None}
        assert same == dataclasses.asdict(b) | {"score": None, "raw_score": None}, a.path
        assert (a.score is None and b.score is None) or abs(a.score - b.score) <= 1e-5, a.path


def test_each_command_that_needs_an_extra_says_which_in_one_line_in_the_scan_only_venv(venv, export_folder,
                                                                                       tmp_path):
    images = random_pngs(tmp_path / "images", 2)
    image, onnx, bundle = str(next(images.iterdir())), str(export_folder / "model.onnx"), str(export_folder)
    out = tmp_path / "not-written"
    scan = ["scan", str(images), "--out", str(out / "r.csv")]
    cases = {
        "train": (["train", str(images), "--out", str(out)], "training needs PyTorch", "train"),
        "eval": (["eval", bundle, str(images)], "evaluating needs PyTorch", "train"),
        "calibrate": (["calibrate", onnx, str(images)], "calibrating needs PyTorch", "train"),
        "export": (["export", bundle, "--out", str(out)], "exporting needs PyTorch", "export"),
        "explain": (["explain", image, "-m", onnx], "explaining (Grad-CAM) needs PyTorch", "explain"),
        "--gradcam": ([*scan, "-m", onnx, "--gradcam", str(out)], "--gradcam needs PyTorch", "explain"),
        "--ray": ([*scan, "-m", onnx, "--ray", "local"], "--ray needs Ray Data", "cluster"),
        "bundle": ([*scan, "-m", bundle], "a model bundle needs PyTorch", "train"),
        "--backend torch": ([*scan, "-m", bundle, "--backend", "torch"], "a model bundle needs PyTorch", "train"),
        "--backend openvino": ([*scan, "-m", onnx, "--backend", "openvino"], "--backend openvino needs OpenVINO",
                               "openvino"),
        "--precision bf16": (["scan", str(images), "-m", onnx, "--out", str(tmp_path / "bf16.csv"), "--precision",
                              "bf16"], "--precision bf16: openvino is not installed", "openvino"),
        "info BUNDLE": (["info", bundle], "a model bundle needs PyTorch", "train"),
    }
    for name, (args, start, extra) in cases.items():
        done = _synthsight(venv, *args, cwd=tmp_path)
        lines = done.stderr.splitlines()
        assert done.returncode == 2 and len(lines) == 1, (name, done.stderr[-3000:])
        assert lines[0].startswith(f"error: {start}") and f"pip install 'synthsight[{extra}]'" in lines[0], name
    assert not out.exists() and not (tmp_path / "bf16.csv").exists()
