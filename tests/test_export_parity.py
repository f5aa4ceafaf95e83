"""Exported files against PyTorch on the realworld corpus plus synthetic images (the export issue's bounds)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthsight.export.verify import compare_scores, decode_folder, synthetic_pixels
from synthsight.model import load_bundle
from synthsight.runtime.base import scores_from_logits


@pytest.fixture(scope="module")
def check_pixels(realworld_dir, tiny_spec) -> np.ndarray:
    real = decode_folder(realworld_dir, tiny_spec.preprocess)
    assert real.pixels.shape[0] == 300
    return np.concatenate([real.pixels, synthetic_pixels(tiny_spec.preprocess, 32)])


def _onnx_scores(path, pixels: np.ndarray, positive_index: int = 0) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits = np.concatenate([session.run(None, {"pixels": pixels[i : i + 64]})[0] for i in range(0, len(pixels), 64)])
    return scores_from_logits(logits, positive_index)


def test_fp32_onnx_matches_pytorch(tiny_bundle, tiny_onnx, check_pixels):
    model, spec = load_bundle(tiny_bundle)
    with torch.inference_mode():
        batches = [check_pixels[i : i + 64].copy() for i in range(0, len(check_pixels), 64)]
        logits = np.concatenate([model(torch.from_numpy(b)).numpy() for b in batches])
    ref = scores_from_logits(logits, spec.positive_index)
    assert ref.std() > 0.02, "a degenerate model would make agreement meaningless"
    parity = compare_scores(ref, _onnx_scores(tiny_onnx["onnx"], check_pixels), spec.threshold)
    assert parity.n == 332 and parity.agreement == 1.0 and parity.max_abs <= 1e-4, parity.report()
    print(parity.report(), "p(ai) spread", ref.min(), ref.max())


def test_fp16_onnx_close_to_fp32(tiny_onnx, tiny_spec, check_pixels):
    ref, half = _onnx_scores(tiny_onnx["onnx"], check_pixels), _onnx_scores(tiny_onnx["fp16"], check_pixels)
    parity = compare_scores(ref, half, tiny_spec.threshold)
    assert parity.agreement >= 0.995 and parity.max_abs <= 0.02, parity.report()
    print(parity.report())


def test_fp16_onnx_close_to_fp32_on_trained_weights(trained_bundle, tmp_path_factory, check_pixels):
    """Random weights hide FP16 drift (docs/design.md): judge it on a trained model."""
    from synthsight.export.fp16 import convert_fp16
    from synthsight.export.onnx import export_onnx

    model, spec = load_bundle(trained_bundle)
    out = tmp_path_factory.mktemp("trained_onnx")
    fp32 = export_onnx(model, spec, out / "model.onnx")
    half = convert_fp16(fp32, out / "model.fp16.onnx")
    i = spec.positive_index
    parity = compare_scores(_onnx_scores(fp32, check_pixels, i), _onnx_scores(half, check_pixels, i), spec.threshold)
    assert parity.agreement >= 0.995 and parity.max_abs <= 0.02, parity.report()
    print(parity.report())
