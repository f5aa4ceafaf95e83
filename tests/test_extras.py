"""The extras: what each job needs is installed by the extra its refusal names; without it, one line and exit 2
before any work; the scan path of an exported file imports no PyTorch (in the full install too).

The real scan-only install (a wheel in a fresh venv) is tests/test_scan_only_install.py; here the absent
packages are hidden in a subprocess (``sys.modules[name] = None``: neither found nor importable)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from scanner_support import random_pngs

from synthsight.extras import JOBS, NAMES, install_hint, missing
from synthsight.reports.writers import read_records

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "RAY_USAGE_STATS_ENABLED": "0"}
# what the base install lacks: every import some job needs
EXTRA_IMPORTS = sorted({m for job in JOBS.values() for m in job.imports})
HIDE = "import sys\nfor name in {names!r}: sys.modules[name] = None\nfrom synthsight.cli import main\nmain()"
WATCH = """import json, sys
sys.argv = ["synthsight", *sys.argv[1:]]
from synthsight.cli import main
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print(json.dumps({"code": code, "loaded": sorted(m for m in %r if m in sys.modules)}))
"""


def _extras() -> dict[str, set[str]]:
    """pyproject.toml's extras -> the distribution names each installs (self-references resolved)."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11+")
    table = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]

    def names(extra: str) -> set[str]:
        out: set[str] = set()
        for req in table[extra]:
            name = re.match(r"[A-Za-z0-9_.\-]+(\[[^\]]*\])?", req)
            assert name, req
            if name.group(0).startswith("synthsight["):
                for inner in name.group(1)[1:-1].split(","):
                    out |= names(inner.strip())
            else:
                out.add(re.sub(r"[-_.]+", "-", name.group(0).split("[")[0]).lower())
        return out

    return {extra: names(extra) for extra in table}


def test_each_job_s_imports_are_installed_by_the_extra_its_line_names():
    extras, provides = _extras(), packages_distributions()
    wrong = []
    for job, spec in JOBS.items():
        assert spec.extra in extras, job
        for module in spec.imports:
            dists = {re.sub(r"[-_.]+", "-", d).lower() for d in provides.get(module, [])}
            # scipy comes with scikit-learn: a dependency of the extra's package, not named in it
            if not dists & extras[spec.extra] and not (module == "scipy" and "scikit-learn" in extras[spec.extra]):
                wrong.append(f"{job}: {module} ({sorted(dists)}) is not in [{spec.extra}]")
        assert all(m in NAMES for m in spec.imports), job
    assert not wrong, wrong
    assert "all" in extras and extras["all"] >= extras["train"] | extras["openvino"] | extras["cluster"]
    assert not extras["all"] & {"onnxruntime-gpu", "tensorrt"}  # gpu excludes the base's onnxruntime


def test_the_refusal_names_the_first_missing_package_and_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    assert missing("train") == "training needs PyTorch: pip install 'synthsight[train]'"
    assert missing("bundle").startswith("a model bundle needs PyTorch: pip install 'synthsight[train]' (")
    assert missing("ray") == "" or missing("ray") == f"--ray needs Ray Data: {install_hint('cluster')}"


def _run(args: list[str], hidden: list[str]) -> subprocess.CompletedProcess:
    code = HIDE.format(names=hidden)
    return subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, env=ENV, capture_output=True, text=True)


def test_each_command_that_needs_an_extra_says_so_in_one_line_exit_2_before_any_work(tiny_bundle, tiny_onnx,
                                                                                       tmp_path):
    images = random_pngs(tmp_path / "images", 2)
    out = tmp_path / "nothing-here"
    onnx, bundle = str(tiny_onnx["onnx"]), str(tiny_bundle)
    scan = ["scan", str(images), "--out", str(out / "r.csv")]
    cases = {
        "training needs PyTorch: pip install 'synthsight[train]'": ["train", str(images), "--out", str(out)],
        "evaluating needs PyTorch: pip install 'synthsight[train]'": ["eval", bundle, str(images)],
        "calibrating needs PyTorch: pip install 'synthsight[train]'": ["calibrate", bundle, str(images)],
        "auditing a dataset needs scikit-learn: pip install 'synthsight[train]'": ["audit", str(images)],
        "exporting needs PyTorch: pip install 'synthsight[export]'": ["export", bundle, "--out", str(out)],
        "explaining (Grad-CAM) needs PyTorch: pip install 'synthsight[explain]'": [
            "explain", str(next(images.iterdir())), "-m", bundle, "--out", str(out / "x.png")],
        "a model bundle needs PyTorch: pip install 'synthsight[train]' (an exported .onnx file runs without it)": [
            *scan, "-m", bundle],
        "--gradcam needs PyTorch: pip install 'synthsight[explain]'": [*scan, "-m", onnx, "--gradcam", str(out)],
        "--ray needs Ray Data: pip install 'synthsight[cluster]'": [*scan, "-m", onnx, "--ray", "local"],
        "--backend openvino needs OpenVINO: pip install 'synthsight[openvino]'": [
            *scan, "-m", onnx, "--backend", "openvino"],
    }
    for line, args in cases.items():
        done = _run(args, EXTRA_IMPORTS)
        assert (done.returncode, done.stderr) == (2, f"error: {line}\n"), (args, done.stderr)
    assert not out.exists()  # refused before anything was written
    # grad-cam alone missing: its own name
    done = _run(["explain", str(next(images.iterdir())), "-m", bundle], ["pytorch_grad_cam"])
    assert done.stderr == "error: explaining (Grad-CAM) needs grad-cam: pip install 'synthsight[explain]'\n"
    # --precision bf16 without OpenVINO: the precision choice's own line names the same extra
    report = tmp_path / "bf16.csv"
    done = _run(["scan", str(images), "-m", onnx, "--out", str(report), "--precision", "bf16"], EXTRA_IMPORTS)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
    assert "pip install 'synthsight[openvino]'" in done.stderr and not report.exists()


def test_the_cli_and_the_scan_path_of_an_exported_file_import_no_torch(tiny_onnx, tmp_path):
    """In the full install: --help, info, a scan (with its review page), report and merge load none of the
    extras' packages but what the base install has (onnx, onnxruntime, the provenance readers)."""
    images = random_pngs(tmp_path / "images", 4)
    onnx = str(tiny_onnx["onnx"])
    runs = {
        "help": ["--help"],
        "info": ["info", onnx],
        "scan": ["scan", str(images), "-m", onnx, "--out", str(tmp_path / "r.csv"), "--workers", "0",
                 "--html", str(tmp_path / "r.html"), "-q", "--precision", "fp32", "--shard", "0/1"],
        "report": ["report", str(tmp_path / "r.csv"), "--html", str(tmp_path / "again.html")],
        "merge": ["merge", str(tmp_path / "merged.csv"), str(tmp_path / "r.csv"), "-q"],
    }
    heavy = [m for m in EXTRA_IMPORTS if m != "openvino"]  # OpenVINO is a CPU runtime the scan may measure
    for name, args in runs.items():
        done = subprocess.run([sys.executable, "-c", WATCH % heavy, *args], cwd=REPO, env=ENV,
                              capture_output=True, text=True)  # fmt: skip
        result = json.loads(done.stdout.splitlines()[-1])
        assert result == {"code": 0, "loaded": []}, (name, done.stderr[-2000:])


def test_a_scan_opens_its_model_without_importing_onnx(tiny_bundle, tiny_onnx, tmp_path):
    """onnx takes about 1 s to import: a scan reads the file's metadata and weight types (precision, --precision
    auto, the stale-export check of a file in its bundle folder) without it; info and the export load it."""
    images = random_pngs(tmp_path / "images", 2)
    folder = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, folder)
    shutil.copy(tiny_onnx["onnx"], folder / "model.onnx")
    for name, model in {"fp32": folder / "model.onnx", "fp16": tiny_onnx["fp16"]}.items():
        args = ["scan", str(images), "-m", str(model), "--out", str(tmp_path / f"{name}.csv"), "-q"]
        done = subprocess.run([sys.executable, "-c", WATCH % ["onnx"], *args], cwd=REPO, env=ENV,
                              capture_output=True, text=True)  # fmt: skip
        assert json.loads(done.stdout.splitlines()[-1]) == {"code": 0, "loaded": []}, (name, done.stderr[-2000:])
        assert len(read_records(tmp_path / f"{name}.csv")) == 2
