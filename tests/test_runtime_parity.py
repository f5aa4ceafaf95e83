"""Acceptance: ONNX Runtime vs PyTorch fp32 on the CPU over the 300 realworld images.

Same verdicts on every image and max |dp(ai)| <= 1e-4, for the tiny random model and (when the
``trained_bundle`` fixture is there) a trained one. PyTorch bf16 vs fp32 agreement is reported.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
from cpu_kinds import needs_native

from synthsight.runtime import open_backend

MAX_ABS = 1e-4


@pytest.fixture(scope="session")
def realworld_pixels(realworld_dir, tiny_spec) -> np.ndarray:
    """The corpus decoded once per session at the tiny model's 64 px."""
    from synthsight.errors import DecodeError
    from synthsight.image.preprocess import decode

    with open(realworld_dir / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    pixels = []
    for row in rows:
        try:
            pixels.append(decode(realworld_dir / row["path"], tiny_spec.preprocess).pixels)
        except DecodeError:
            continue
    assert len(pixels) >= 0.95 * len(rows) >= 285
    return np.stack(pixels)


def _scores(model, pixels, **kwargs) -> tuple[np.ndarray, float]:
    with open_backend(model, device="cpu", max_batch=64, **kwargs) as backend:
        return backend.scores(pixels), backend.model_spec.threshold


def _compare(reference, candidate, threshold) -> tuple[float, float]:
    agreement = float(np.mean((reference >= threshold) == (candidate >= threshold)))
    return agreement, float(np.max(np.abs(reference - candidate)))


def _onnx_of(bundle, tmp_path):
    from synthsight.export.onnx import export_onnx
    from synthsight.model import load_bundle

    model, spec = load_bundle(bundle)
    return export_onnx(model, spec, tmp_path / "model.onnx")


@pytest.fixture(scope="session", params=["tiny", "trained"])
def model_pair(request, tiny_bundle, tiny_onnx, tmp_path_factory):
    if request.param == "tiny":
        return tiny_bundle, tiny_onnx["onnx"]
    bundle = request.getfixturevalue("trained_bundle")
    return bundle, _onnx_of(bundle, tmp_path_factory.mktemp("trained_onnx"))


@pytest.fixture(scope="session")
def reference(model_pair, realworld_pixels) -> tuple[np.ndarray, float]:
    """PyTorch fp32 scores: the baseline both tests compare against, computed once per model."""
    return _scores(model_pair[0], realworld_pixels, backend="torch", precision="fp32")


def test_onnxruntime_matches_torch_fp32(model_pair, realworld_pixels, reference):
    bundle, onnx_path = model_pair
    ref, threshold = reference
    got, _ = _scores(onnx_path, realworld_pixels, backend="onnxruntime")
    agreement, max_abs = _compare(ref, got, threshold)
    print(
        f"\n{bundle.name}: ORT vs torch fp32 over {len(ref)} images: agreement {agreement:.2%}, max|dp| {max_abs:.2e}"
    )
    assert agreement == 1.0 and max_abs <= MAX_ABS
    assert np.ptp(ref) > 0  # the model does tell the images apart: not a constant output


@needs_native("bf16")  # bf16 arithmetic itself: emulated kernels would measure something else, 10x slower
def test_torch_bf16_agreement_is_reported(model_pair, realworld_pixels, reference):
    bundle, _ = model_pair
    ref, threshold = reference
    bf16, _ = _scores(bundle, realworld_pixels, backend="torch", precision="bf16")
    agreement, max_abs = _compare(ref, bf16, threshold)
    print(
        f"\n{bundle.name}: torch bf16 vs fp32 over {len(bf16)} images: agreement {agreement:.2%}, max|dp| {max_abs:.2e}"
    )
    # bf16 keeps 8 mantissa bits: a loose bound, the figures above are the report.
    assert agreement >= 0.95 and max_abs <= 0.1
