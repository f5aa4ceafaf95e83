"""Run a backend's batches on one worker thread, so that its caller prepares the next batch meanwhile.

The scan (scanner/overlap.py) submits batch k+1 before it makes and writes batch k's records; a backend whose
``submit`` computes at once (ONNX Runtime, OpenVINO, PyTorch on the CPU, ONNX Runtime's CUDA provider) would
then leave the cores or the GPU idle while the main thread works. ONNX Runtime, OpenVINO and PyTorch release
the GIL while they compute, so one thread is enough; batches stay in order because there is only one.
A backend with ``overlaps`` (runtime/cuda_feed.py: pinned staging, a copy stream, events) is used as it is.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from synthsight.runtime.base import Backend, Pending


class Background:
    """``submit(pixels)`` -> a handle whose ``result()`` is ``backend.infer(pixels)``, computed on one thread."""

    def __init__(self, backend: Backend):
        self.backend = backend
        self._thread = None if backend.overlaps else ThreadPoolExecutor(1, thread_name_prefix="synthsight-infer")

    def submit(self, pixels: np.ndarray) -> Pending:
        if self._thread is None:
            return self.backend.submit(pixels)
        pixels = self.backend.check_input(pixels)  # a wrong batch fails here, on the caller's thread
        return self._thread.submit(self.backend.infer, pixels)

    def close(self) -> None:
        """Waits for the batch being computed (the caller frees its pixels and the backend next) and drops
        the ones still queued (a stopped scan writes no records for them)."""
        if self._thread is not None:
            self._thread.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Background:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
