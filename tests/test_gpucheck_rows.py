"""gpu-check's rows are decided by what really loads and imports, not by what is listed or installed.

Stand-in ``onnxruntime`` / ``tensorrt`` modules play the GPU machine: a provider that is listed but whose
libraries do not load (ORT then falls back to the CPU in silence), onnxruntime-gpu 1.31.1 (CUDA 13, TensorRT 10
libraries, per ``readelf -d`` of its wheel) beside TensorRT 11, and the packages each row needs besides them.
"""

from __future__ import annotations

import sys
import types

import pytest

from synthsight import gpucheck

TRT, CUDA, CPU = "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"
H200 = gpucheck.Device(("NVIDIA H200",), "580.95.05", "13.0")


def _fake_ort(version: str, listed: list[str], gets: list[str]) -> types.ModuleType:
    """onnxruntime that lists ``listed`` and whose sessions get ``gets`` (what ORT does when a provider's
    libraries are missing: the session falls back and only says so in a warning)."""
    ort = types.ModuleType("onnxruntime")
    ort.__version__, ort.__file__ = version, "/venv/site-packages/onnxruntime/__init__.py"
    ort.asked = []

    class SessionOptions:
        log_severity_level = 2

    class InferenceSession:
        def __init__(self, model, sess_options=None, providers=()):
            assert isinstance(model, bytes) and model  # a real ONNX graph, made by gpucheck
            ort.asked.append(list(providers))

        def run(self, names, feeds):
            return [feeds["x"]]

        def get_providers(self):
            return list(gets)

    ort.SessionOptions, ort.InferenceSession = SessionOptions, InferenceSession
    ort.get_available_providers = lambda: list(listed)
    return ort


def test_a_listed_provider_whose_session_falls_back_is_not_run(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", _fake_ort("1.30.0", [TRT, CUDA, CPU], [CPU]))
    why = gpucheck.ort_problem(CUDA, H200)
    assert why and f"lists {CUDA} but a session on it got ['{CPU}']" in why
    assert sys.modules["onnxruntime"].asked == [[CUDA, CPU]]


def test_a_provider_whose_session_gets_it_is_ok(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", _fake_ort("1.30.0", [CUDA, CPU], [CUDA, CPU]))
    assert gpucheck.ort_problem(CUDA, H200) is None


def test_tensorrt_11_beside_onnxruntime_gpu_1_31_is_named_with_the_pairing(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", _fake_ort("1.31.1", [TRT, CUDA, CPU], [TRT, CUDA, CPU]))
    monkeypatch.setitem(sys.modules, "tensorrt", types.SimpleNamespace(__version__="11.4.0.106"))
    why = gpucheck.ort_problem(TRT, H200)
    assert "TensorRT EP links libnvinfer.so.10 and this venv has tensorrt 11.4.0.106" in why
    assert "'tensorrt>=10.12,<11'" in why
    monkeypatch.setitem(sys.modules, "tensorrt", types.SimpleNamespace(__version__="10.14.1.48"))
    assert gpucheck.ort_problem(TRT, H200) is None  # TensorRT 10: both rows in one venv


def test_onnxruntime_gpu_built_for_a_newer_cuda_than_the_driver_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", _fake_ort("1.31.1", [CUDA, CPU], [CUDA, CPU]))
    old = gpucheck.Device(("NVIDIA A100",), "550.54", "12.4")
    assert "built for CUDA 13 but the driver supports CUDA 12.4 at most" in gpucheck.ort_problem(CUDA, old)


def test_the_conflict_is_decided_by_what_imports(monkeypatch):
    import synthsight.machine as machine

    versions = {"onnxruntime": "1.32.0", "onnxruntime-gpu": "1.31.1"}
    monkeypatch.setattr(machine, "installed", versions.get)
    # the venv's onnxruntime-gpu is what imports (the image's CPU package sits in the system site): no conflict
    assert machine.onnxruntime_conflict([CUDA, CPU]) is None
    assert "both onnxruntime 1.32.0 and onnxruntime-gpu 1.31.1" in machine.onnxruntime_conflict([CPU])


def test_each_row_needs_its_test_and_benchmark_modules(monkeypatch):
    absent = {"psutil", "sklearn", "onnxslim"}
    monkeypatch.setattr(gpucheck, "importable", lambda name: name not in absent)
    assert gpucheck.missing_modules(("torch",)) == {"psutil": "psutil", "sklearn": "scikit-learn"}
    assert "onnxslim" in gpucheck.missing_modules(("torch", "ort-cuda"))
    lines: list[str] = []
    gpucheck.report_missing(gpucheck.missing_modules(("torch",)), ("torch",), lines.append)
    assert lines == [
        "gpu-check: missing psutil (import psutil), needed by every row: put its wheel in WHEELS, "
        "or pip install psutil",
        "gpu-check: missing scikit-learn (import sklearn), needed by the torch row(s): put its wheel in WHEELS, "
        "or pip install scikit-learn",
    ]


def test_needs_prints_only_the_pip_names_that_do_not_import(monkeypatch, capsys):
    monkeypatch.setattr(gpucheck, "importable", lambda name: name not in {"psutil", "matplotlib"})
    assert gpucheck.main(["needs", "--rows", "torch"]) == 0
    assert capsys.readouterr().out.split() == ["matplotlib", "psutil"]
    monkeypatch.setattr(gpucheck, "importable", lambda name: name != "tensorrt")
    assert gpucheck.main(["needs", "--rows", "ort-trt"]) == 0  # this onnxruntime is the CPU build
    assert capsys.readouterr().out.split() == ["tensorrt>=10.12,<11", "onnxruntime-gpu"]


def test_a_venv_or_conda_python_is_detected():
    assert gpucheck.base_python_problem("/usr", "/usr", conda=False) is None
    why = gpucheck.base_python_problem("/opt/lab/venv", "/usr", conda=False)
    assert why == "PYTHON is itself a virtual environment (/opt/lab/venv; its base is /usr)"
    assert "conda environment" in gpucheck.base_python_problem("/opt/conda/envs/gpu", "/opt/conda/envs/gpu", True)


def test_site_lists_this_pythons_site_folders(capsys):
    assert gpucheck.report_site() == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and all(line.startswith("import site; site.addsitedir('") for line in lines)
    folders = [line.split("'")[1] for line in lines]
    import torch

    assert any(torch.__file__.startswith(f) for f in folders), folders  # what the offline venv must see


@pytest.mark.parametrize("row", list(gpucheck.ROWS))
def test_every_row_names_its_modules(row):
    assert set(gpucheck.BASE_MODULES) <= set(gpucheck.needed_modules((row,)))
