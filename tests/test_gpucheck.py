"""`make gpu-check` cannot pass with nothing run: the preflight, the component rows, the Makefile's order.

None of these needs a GPU (none is marked ``gpu``): a missing nvidia-smi, a fake one, and the real
packages of this machine (CPU onnxruntime, no tensorrt, a CUDA torch that sees no GPU) are the cases.
The preflight runs with ``python -S`` (no site-packages), as the system Python of a fresh machine would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synthsight import gpucheck

REPO = Path(__file__).resolve().parents[1]
SMI_OK = """#!/bin/sh
if [ "$1" = "--query-gpu=name,driver_version" ]; then echo "NVIDIA H200, 580.95.05"; exit 0; fi
echo "| NVIDIA-SMI 580.95.05    Driver Version: 580.95.05    CUDA Version: 13.0 |"
"""
SMI_NO_DRIVER = """#!/bin/sh
echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest \
NVIDIA driver is installed and running."
exit 9
"""


def _bin(tmp_path: Path, smi: str | None) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    if smi is not None:
        (folder / "nvidia-smi").write_text(smi)
        (folder / "nvidia-smi").chmod(0o755)
    return folder


def _gpucheck(*args: str, path: Path, site: bool = False, **env: str) -> tuple[subprocess.CompletedProcess, float]:
    cmd = [sys.executable, *([] if site else ["-S"]), "-m", "synthsight.gpucheck", *args]
    environment = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "GPU_ROWS")}
    environment.update(PATH=str(path), **env)
    start = time.monotonic()
    done = subprocess.run(cmd, cwd=REPO, env=environment, capture_output=True, text=True, timeout=90)
    return done, time.monotonic() - start


def test_preflight_without_nvidia_smi_is_one_line_and_exit_2(tmp_path):
    done, seconds = _gpucheck("device", path=_bin(tmp_path, None))
    assert done.returncode == 2 and seconds < 60
    assert done.stderr.strip() == "no CUDA device visible: nvidia-smi not found on PATH (no NVIDIA driver installed)"
    assert done.stdout == ""


def test_preflight_with_a_driver_that_does_not_answer_names_it(tmp_path):
    done, _ = _gpucheck("device", path=_bin(tmp_path, SMI_NO_DRIVER))
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1
    assert "nvidia-smi failed (NVIDIA-SMI has failed because it couldn't communicate" in lines[0]


def test_preflight_with_a_device_names_it_and_its_driver(tmp_path):
    done, _ = _gpucheck("device", path=_bin(tmp_path, SMI_OK))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "CUDA device visible: NVIDIA H200 (driver 580.95.05, driver CUDA 13.0)"


def test_hidden_devices_are_no_devices(tmp_path):
    done, _ = _gpucheck("device", path=_bin(tmp_path, SMI_OK), CUDA_VISIBLE_DEVICES="")
    assert done.returncode == 2
    assert "CUDA_VISIBLE_DEVICES='' hides every GPU (driver 580.95.05, driver CUDA 13.0)" in done.stderr


def test_device_present_components_missing_are_rows_not_run(tmp_path):
    done, _ = _gpucheck("components", path=_bin(tmp_path, SMI_OK), site=True)
    assert done.returncode == 2, done.stdout + done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines() if line.startswith("  ")}
    assert set(rows) == set(gpucheck.ROWS)
    assert all("not run: " in line for line in rows.values()), done.stdout
    assert "tensorrt is not installed" in rows["engine"]
    assert "does not list CUDAExecutionProvider" in rows["ort-cuda"]
    assert "wanted row(s) that cannot run here: engine, ort-trt, ort-cuda, torch" in done.stdout


def test_a_row_left_out_is_excluded_not_failed(tmp_path):
    done, _ = _gpucheck("components", "--rows", "torch", path=_bin(tmp_path, SMI_OK), site=True)
    rows = {line.split()[0]: line for line in done.stdout.splitlines() if line.startswith("  ")}
    assert "excluded (not in GPU_ROWS)" in rows["engine"] and "not run: " in rows["torch"]
    assert done.returncode == 2  # torch itself still cannot run here


def test_exit_status_follows_the_wanted_rows():
    ok = dict.fromkeys(gpucheck.ROWS)
    out: list[str] = []
    assert gpucheck.report_components(tuple(gpucheck.ROWS), ok, out.append) == 0
    assert all(line.rstrip().endswith("ok") for line in out)
    missing = {**ok, "engine": "tensorrt is not installed"}
    assert gpucheck.report_components(("ort-trt", "ort-cuda", "torch"), missing, out.append) == 0
    out.clear()
    assert gpucheck.report_components(tuple(gpucheck.ROWS), missing, out.append) == 2
    assert out[-1].endswith("or leave them out explicitly with GPU_ROWS=ort-trt,ort-cuda,torch")


def test_rows_parse_and_unknown_rows_are_refused(monkeypatch):
    monkeypatch.delenv("GPU_ROWS", raising=False)
    assert gpucheck.wanted_rows() == tuple(gpucheck.ROWS)
    assert gpucheck.wanted_rows(" torch, ort-cuda ") == ("torch", "ort-cuda")
    with pytest.raises(ValueError, match="unknown GPU row"):
        gpucheck.wanted_rows("torch,cudnn")


def test_a_driver_older_than_torchs_cuda_is_named():
    torch = pytest.importorskip("torch")
    if not torch.version.cuda:
        pytest.skip("this torch is a CPU-only build")
    old = gpucheck.Device(("NVIDIA T4",), "470.82", "11.4")
    why = gpucheck.torch_problem(old)
    assert f"needs CUDA {torch.version.cuda} but the driver supports CUDA 11.4 at most (driver 470.82)" in why


# ---- the Makefile: the preflight comes first, nothing is installed before it -------------------------


def _quiet_make_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a make the test runs itself: under `make test` it would be a sub-make that
    inherits MAKEFLAGS and MAKELEVEL and prints "Entering directory" lines."""
    env = dict(os.environ if env is None else env)
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
        env.pop(name, None)
    return env


def _make_n(*args: str) -> list[str]:
    command = ["make", "--no-print-directory", "-n", "gpu-check", *args]
    done = subprocess.run(command, cwd=REPO, env=_quiet_make_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_gpu_check_starts_with_the_preflight_and_removes_cpu_onnxruntime_first():
    lines = _make_n()
    assert lines[0] == "python3 -m synthsight.gpucheck device"
    text = "\n".join(lines)
    swap = text.index("pip uninstall --yes --quiet onnxruntime")
    assert swap < text.index("install --quiet --force-reinstall --no-deps 'onnxruntime-gpu")
    assert text.index("pip install --quiet -e '.[gpu,dev]'") < text.index("lists no CUDAExecutionProvider")
    assert "SYNTHSIGHT_GPU_CHECK=1 GPU_ROWS='engine,ort-trt,ort-cuda,torch'" in text
    assert "benchmarks/bench_gpu.py --rows 'engine,ort-trt,ort-cuda,torch'" in text


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_offline_gpu_check_builds_over_the_given_python_without_a_registry():
    lines = _make_n("OFFLINE=1", "PYTHON=/opt/lab/bin/python3", "GPU_ROWS=torch,ort-cuda")
    assert lines[0] == "/opt/lab/bin/python3 -m synthsight.gpucheck device"
    text = "\n".join(lines)
    assert "/opt/lab/bin/python3 -m venv --system-site-packages .venv-offline" in text
    assert "/opt/lab/bin/python3 -m synthsight.gpucheck site > " in text  # PYTHON's site folders, even a venv's
    assert f"echo '{REPO}' > " in text  # synthsight from the checkout: no build backend needed
    assert "pip install" not in text  # nothing installed without WHEELS, nothing from a registry
    wheels = "\n".join(_make_n("OFFLINE=1", "PYTHON=/opt/lab/bin/python3", "WHEELS=/media/wheels", "GPU_ROWS=torch"))
    assert "-m synthsight.gpucheck needs --rows 'torch'" in wheels  # only what the wanted rows lack
    assert "pip install --no-index --find-links '/media/wheels' $needs" in wheels
    assert "-e ." not in wheels
    assert ".venv-offline/" in (REPO / ".gitignore").read_text().split()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_gpu_check_without_a_gpu_stops_within_a_minute_and_installs_nothing(tmp_path):
    """The real target, in a copy holding only the Makefile and the preflight, with no nvidia-smi on PATH."""
    copy = tmp_path / "repo"
    (copy / "synthsight").mkdir(parents=True)
    shutil.copy(REPO / "Makefile", copy / "Makefile")
    for name in ("__init__.py", "gpucheck.py"):
        shutil.copy(REPO / "synthsight" / name, copy / "synthsight" / name)
    bin_dir = _bin(tmp_path, None)
    (bin_dir / "make").symlink_to(shutil.which("make"))
    env = _quiet_make_env({**os.environ, "PATH": str(bin_dir), "PIP_NO_INDEX": "1"})  # no registry either
    start = time.monotonic()
    done = subprocess.run(
        ["make", "--no-print-directory", "gpu-check", f"PYTHON={sys.executable} -S"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode != 0 and time.monotonic() - start < 60
    ours = [line for line in done.stderr.splitlines() if not line.startswith("make")]
    assert ours == ["no CUDA device visible: nvidia-smi not found on PATH (no NVIDIA driver installed)"], done.stderr
    assert sorted(p.name for p in copy.iterdir()) == ["Makefile", "synthsight"]  # no .venv, nothing installed


# ---- under gpu-check a GPU test that skips is a failure (tests/conftest.py) --------------------------


def _pytest_gpu(**env: str) -> subprocess.CompletedProcess:
    target = "tests/test_runtime_tensorrt.py"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "gpu", target]
    environment = {k: v for k, v in os.environ.items() if k not in (gpucheck.STRICT_ENV, gpucheck.ROWS_ENV)}
    return subprocess.run(cmd, cwd=REPO, env={**environment, **env}, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(not gpucheck.tensorrt_problem(), reason="TensorRT is installed: the engine test would run")
def test_gpu_tests_fail_instead_of_skipping_under_gpu_check():
    plain = _pytest_gpu()
    assert plain.returncode == 0 and "1 skipped" in plain.stdout, plain.stdout
    strict = _pytest_gpu(**{gpucheck.STRICT_ENV: "1"})
    assert strict.returncode == 1 and "1 error" in strict.stdout, strict.stdout  # a skip at setup: an error
    assert "GPU test skipped under make gpu-check, which counts as a failure: needs tensorrt" in strict.stdout
    left_out = _pytest_gpu(**{gpucheck.STRICT_ENV: "1", gpucheck.ROWS_ENV: "torch,ort-cuda"})
    assert left_out.returncode == 0 and "1 skipped" in left_out.stdout, left_out.stdout
