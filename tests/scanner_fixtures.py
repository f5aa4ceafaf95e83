"""Fixtures of the scanner tests, loaded with ``pytest_plugins = ["scanner_fixtures"]``."""

from __future__ import annotations

import pytest
from scanner_support import MeanBackend


@pytest.fixture(scope="session")
def backend(tiny_bundle, tmp_path_factory):
    """The tiny model through ONNX Runtime when the runtime is there, else the numpy stand-in."""
    try:
        from synthsight.runtime import open_backend
    except ImportError:
        from synthsight.model import read_spec

        yield MeanBackend(read_spec(tiny_bundle), source=str(tiny_bundle))
        return
    from synthsight.export.onnx import export_onnx
    from synthsight.model import load_bundle

    model, spec = load_bundle(tiny_bundle)
    onnx = export_onnx(model, spec, tmp_path_factory.mktemp("onnx") / "tiny.onnx")
    with open_backend(str(onnx), backend="onnxruntime", device="cpu", threads=1) as b:
        yield b
