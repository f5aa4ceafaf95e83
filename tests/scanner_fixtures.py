"""Fixtures of the scanner tests, loaded with ``pytest_plugins = ["scanner_fixtures"]``."""

from __future__ import annotations

import pytest
from scanner_support import MeanBackend


@pytest.fixture(scope="session")
def backend(tiny_bundle, tiny_onnx):
    """The tiny model through ONNX Runtime (the numpy stand-in only while the runtime is absent)."""
    try:
        from synthsight.runtime import open_backend
    except ImportError:
        from synthsight.model import read_spec

        yield MeanBackend(read_spec(tiny_bundle), source=str(tiny_bundle))
        return
    with open_backend(str(tiny_onnx["onnx"]), backend="onnxruntime", device="cpu", threads=1) as b:
        yield b
