"""Input checks at the Backend boundary, the same on every backend: a clear error, never a native crash."""

from __future__ import annotations

import numpy as np
import pytest

from synthsight.errors import UsageError
from synthsight.runtime import open_backend, scores_from_logits


@pytest.fixture(scope="module", params=["torch", "onnxruntime"])
def backend(request, tiny_bundle, tiny_onnx):
    path = tiny_bundle if request.param == "torch" else tiny_onnx["onnx"]
    with open_backend(path, backend=request.param, device="cpu", threads=1) as b:
        yield b


@pytest.mark.parametrize(
    "pixels, words",
    [
        (np.zeros((2, 64, 64, 3), np.float32), "expected uint8 pixels, got float32"),
        (np.zeros((64, 64, 3), np.uint8), r"expected pixels of shape \[N, 64, 64, 3\], got \[64, 64, 3\]"),
        (np.zeros((2, 3, 64, 64), np.uint8), r"got \[2, 3, 64, 64\]"),
        (np.zeros((2, 224, 224, 3), np.uint8), r"got \[2, 224, 224, 3\]"),
        (np.zeros((0, 64, 64, 3), np.uint8), "empty batch"),
        ([[1, 2, 3]], "expected a numpy uint8 array, got list"),
    ],
)
def test_bad_input_is_a_clear_usage_error(backend, pixels, words):
    with pytest.raises(UsageError, match=words):
        backend.infer(pixels)


def test_non_contiguous_input_works(backend):
    x = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    view = x[::2]
    np.testing.assert_allclose(backend.infer(view), backend.infer(np.ascontiguousarray(view)), atol=1e-5)


def test_closed_backend_refuses(tiny_onnx):
    b = open_backend(tiny_onnx["onnx"], device="cpu")
    b.close()
    with pytest.raises(UsageError, match="closed"):
        b.infer(np.zeros((1, 64, 64, 3), np.uint8))


def test_scores_are_softmax_of_the_positive_class(backend):
    x = np.random.default_rng(2).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    logits = backend.infer(x)
    p = backend.scores(x)
    assert p.shape == (3,) and np.all((p >= 0) & (p <= 1))
    np.testing.assert_allclose(p, 1 / (1 + np.exp(logits[:, 1] - logits[:, 0])), rtol=1e-5)
    np.testing.assert_allclose(scores_from_logits(np.array([[1000.0, 0.0]]), 1), [0.0], atol=1e-12)
