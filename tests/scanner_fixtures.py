"""Fixtures of the scanner tests, loaded with ``pytest_plugins = ["scanner_fixtures"]``."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def backend(tiny_onnx):
    """The tiny model through ONNX Runtime, one inference thread (a decode worker gets the other core)."""
    from synthsight.runtime import open_backend

    with open_backend(str(tiny_onnx["onnx"]), backend="onnxruntime", device="cpu", threads=1) as b:
        yield b
