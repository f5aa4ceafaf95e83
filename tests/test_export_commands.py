"""`synthsight export`: file names, parity written into the metadata, TensorRT absent -> one line."""

from __future__ import annotations

import json
import subprocess
import sys

import onnx
import pytest

from synthsight.errors import BackendUnavailable
from synthsight.export.tensorrt import require_builder


def _trt_missing() -> bool:
    try:
        require_builder()
    except BackendUnavailable:
        return True
    return False


no_tensorrt = pytest.mark.skipif(not _trt_missing(), reason="TensorRT and a GPU are present here")


def _synthsight(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "synthsight", *args], capture_output=True, text=True, timeout=300, check=False
    )


@no_tensorrt
def test_engine_without_tensorrt_is_one_line_and_exit_2(tiny_bundle, tmp_path):
    done = _synthsight("export", str(tiny_bundle), "--format", "engine", "--out", str(tmp_path))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and ("tensorrt" in lines[0].lower() or "GPU" in lines[0]), done.stderr
    assert "Traceback" not in done.stderr and not any(tmp_path.iterdir())


@no_tensorrt
def test_all_writes_onnx_files_and_skips_engine(tiny_bundle, tmp_path):
    import synthsight.runtime as runtime

    if not hasattr(runtime, "open_backend"):
        pytest.skip("synthsight.runtime.open_backend (the parity check's runner) has not landed yet")
    done = _synthsight("export", str(tiny_bundle), "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "model.onnx").is_file() and (tmp_path / "model.fp16.onnx").is_file()
    assert not (tmp_path / "model.engine").exists()
    assert "engine skipped" in done.stdout
    assert done.stdout.count("parity ") == 2
    for name, bound in (("model.onnx", 1e-4), ("model.fp16.onnx", 0.02)):
        props = {p.key: p.value for p in onnx.load(str(tmp_path / name)).metadata_props}
        parity = json.loads(props["synthsight.spec"])["metrics"]["parity"]
        assert parity["n"] == 32 and parity["max_abs"] <= bound and parity["agreement"] == 1.0, (name, parity)


def test_bad_profile_is_a_usage_error(tiny_bundle, tmp_path):
    done = _synthsight("export", str(tiny_bundle), "--batch", "64", "--max-batch", "8", "--out", str(tmp_path))
    assert done.returncode == 2 and "--max-batch" in done.stderr
