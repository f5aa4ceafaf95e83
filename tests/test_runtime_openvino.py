"""OpenVINO backend: FP32 really is f32 and matches ONNX Runtime; bf16 only where native; batch splitting."""

from __future__ import annotations

import gc
import subprocess
import sys

import numpy as np
import pytest
from cpu_kinds import NO_BF16_KINDS, needs_native

from synthsight.errors import BackendUnavailable, UsageError
from synthsight.runtime import open_backend, scores_from_logits
from synthsight.runtime.cpu.features import CpuFeatures

pytest.importorskip("openvino", reason="openvino is not installed")
from synthsight.runtime.openvino import OpenVinoBackend  # noqa: E402

NO_BF16 = CpuFeatures("test CPU without bf16", frozenset({"avx2", "avx512f", "avx512_vnni"}), "given")
# OpenVINO computes in bf16 only on real bf16 hardware: a simulated CPU cannot stand in for it.
native_bf16 = needs_native("bf16")


def _pixels(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)


def test_fp32_forces_f32_and_matches_onnxruntime(tiny_onnx):
    x = _pixels(9)
    with (
        open_backend(tiny_onnx["onnx"], backend="onnxruntime", device="cpu", precision="fp32") as ort,
        OpenVinoBackend(tiny_onnx["onnx"], precision="fp32") as ov,
    ):
        # The CPU plugin's default on bf16-capable CPUs is bf16: the hint must be set, and obeyed.
        assert ov.config["INFERENCE_PRECISION_HINT"] == "f32"
        assert ov._compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name() == "f32"
        a, b = ort.infer(x), ov.infer(x)
    assert b.dtype == np.float32 and b.shape == (9, 2)
    dp = np.abs(scores_from_logits(a, 0) - scores_from_logits(b, 0)).max()
    assert dp <= 1e-5, dp


def test_trained_model_fp32_matches_onnxruntime(reduced_export):
    from synthsight.artifacts import read_props
    from synthsight.export.calibration import certificate_set
    from synthsight.spec import ModelSpec

    spec = ModelSpec.from_onnx_metadata(read_props(reduced_export["onnx"]))
    check, _ = certificate_set(spec, None)
    with (
        open_backend(reduced_export["onnx"], backend="onnxruntime", device="cpu", precision="fp32") as ort,
        open_backend(reduced_export["onnx"], backend="openvino", precision="fp32") as ov,
    ):
        assert ov.name == "openvino" and ov.precision == "fp32"
        dp = np.abs(ort.scores(check.pixels) - ov.scores(check.pixels)).max()
    assert dp <= 1e-5, dp


def test_splitting_a_batch_across_streams_changes_no_score(tiny_onnx):
    x = _pixels(7)
    with OpenVinoBackend(tiny_onnx["onnx"], precision="fp32", threads=2) as ov:
        whole = ov.infer(x)
        one_by_one = np.concatenate([ov.infer(x[i : i + 1]) for i in range(len(x))])
        assert ov.streams == 2 and ov.config["ENABLE_CPU_PINNING"] is False  # sized threads: no pinning
    np.testing.assert_allclose(whole, one_by_one, atol=1e-6)


def test_static_request_shapes_pad_short_parts_without_changing_scores(tiny_onnx):
    x = _pixels(7)
    with (
        OpenVinoBackend(tiny_onnx["onnx"], precision="fp32", threads=2) as dynamic,
        OpenVinoBackend(tiny_onnx["onnx"], precision="fp32", threads=2, max_batch=8) as static,
    ):
        assert static.part == 4 and dynamic.part is None  # 8 images over 2 streams: [4, 64, 64, 3] requests
        with OpenVinoBackend(tiny_onnx["onnx"], precision="fp32", threads=2, max_batch=32) as big:
            assert big.part == 4  # never more than MAX_PART per request
            np.testing.assert_allclose(big.infer(_pixels(13)), dynamic.infer(_pixels(13)), atol=1e-5)
        np.testing.assert_allclose(static.infer(x), dynamic.infer(x), atol=1e-5)  # 4 + 3 (padded to 4)
        np.testing.assert_allclose(static.infer(x[:1]), dynamic.infer(x[:1]), atol=1e-5)
        assert static.infer(_pixels(20)).shape == (20, 2)  # Backend.infer chunks to max_batch


def test_bf16_is_refused_on_a_cpu_without_it(tiny_onnx):
    with pytest.raises(UsageError, match="no native bf16.*emulate"):
        OpenVinoBackend(tiny_onnx["onnx"], precision="bf16", features=NO_BF16)


@pytest.mark.parametrize("simulated_cpu", NO_BF16_KINDS, indirect=True)
def test_bf16_is_refused_in_one_line_on_every_cpu_kind_without_it(tiny_onnx, simulated_cpu):
    with pytest.raises(UsageError, match=r"^--precision bf16: this CPU \(.+\) has no native bf16") as refused:
        OpenVinoBackend(tiny_onnx["onnx"], precision="bf16")
    assert "\n" not in str(refused.value)


@native_bf16
def test_bf16_runs_natively_and_stays_close(tiny_onnx):
    x = _pixels(8)
    with (
        OpenVinoBackend(tiny_onnx["onnx"], precision="fp32") as f32,
        OpenVinoBackend(tiny_onnx["onnx"], precision="bf16") as bf16,
    ):
        assert bf16._compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name() == "bf16"
        a, b = f32.infer(x), bf16.infer(x)
    assert not np.array_equal(a, b)  # bf16 really ran
    np.testing.assert_allclose(a, b, atol=0.1)


def test_gpu_and_fp16_files_are_refused_in_one_line(tiny_onnx):
    with pytest.raises(BackendUnavailable, match="CPU only"):
        OpenVinoBackend(tiny_onnx["onnx"], device="cuda")
    with pytest.raises(UsageError, match="fp16 file"):
        open_backend(tiny_onnx["fp16"], backend="openvino")


OVERLAPPING_BACKENDS_THEN_CTRL_C = """
import gc, signal, sys
# A parent that ignores SIGINT (something earlier in a pytest run leaves it so) hands that on through exec, and
# Python then installs no KeyboardInterrupt handler: this test is about the signal stack, so ask for it.
signal.signal(signal.SIGINT, signal.default_int_handler)
from synthsight.runtime.openvino import OpenVinoBackend
a = OpenVinoBackend(sys.argv[1], threads=1)
b = OpenVinoBackend(sys.argv[1], threads=1)  # as `--precision auto` times its options side by side
a.close(); del a; gc.collect()
b.close(); del b; gc.collect()
try:
    # raise_signal delivers SIGINT to this (the main) thread, whose signal stack OpenVINO swapped: os.kill on the
    # process may hand it to one of OpenVINO's threads, and the main thread then leaves the try before it lands.
    signal.raise_signal(signal.SIGINT)
except KeyboardInterrupt:
    print("stopped cleanly")
"""


def test_ctrl_c_after_two_openvino_backends_is_a_clean_stop_not_a_crash(tiny_onnx, tmp_path):
    # OpenVINO's CPU plugin left the thread an unmapped signal stack (signal_stack.py): SIGSEGV on Ctrl-C.
    script = tmp_path / "two_backends.py"
    script.write_text(OVERLAPPING_BACKENDS_THEN_CTRL_C)
    done = subprocess.run(
        [sys.executable, str(script), str(tiny_onnx["onnx"])], capture_output=True, text=True, timeout=300
    )
    assert (done.returncode, done.stdout.strip()) == (0, "stopped cleanly"), done.stderr[-2000:]


def test_an_openvino_backend_leaves_this_threads_signal_stack_as_it_found_it(tiny_onnx):
    from synthsight.runtime import signal_stack

    before = signal_stack.current()
    a, b = OpenVinoBackend(tiny_onnx["onnx"], threads=1), OpenVinoBackend(tiny_onnx["onnx"], threads=1)
    a.infer(_pixels(1))
    a.close(), b.close()
    del a, b
    gc.collect()
    assert signal_stack.current() == before
