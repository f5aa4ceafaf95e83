"""Feed a CUDA device with two batches in flight: pinned staging, a copy stream, events instead of syncs.

One batch at a time, a CUDA backend copied the batch from pageable memory (the decode ring: there
``non_blocking=True`` is a synchronous copy), ran the model, and waited for the result before the next
batch could even be copied, so the GPU idled during every copy and while the scan made records. Here
``submit`` copies the batch into a pinned staging buffer of its own (a host memcpy: the caller's memory is
free when ``submit`` returns), queues the host-to-device copy on a copy stream, makes the compute stream
wait for it with an event, queues the model and the device-to-host copy of its logits into pinned memory,
and records a second event; ``result()`` waits for that event only. The copy of batch k+1 overlaps the
compute of batch k, and the host never waits for a batch it does not need yet.

``SLOTS`` staging slots (pinned input, device input, pinned output) are used in turn. Before a slot is
reused its previous batch's logits are fetched (kept by its handle): that waits for its last event, so
no buffer is overwritten while a copy or a kernel still reads it. ``run(x, stream)`` is the backend's own
step (the PyTorch model, or a TensorRT execution context) on a device batch, queued on ``stream``; it
returns the device logits. Every buffer is torch's (pinned host memory, device memory from its caching
allocator), as the TensorRT backend's always were.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

SLOTS = 2  # the scan keeps two batches in flight (scanner/overlap.py)


class FeedHandle:
    """One submitted batch (or chunk): ``result()`` waits for its event and returns its float32 logits."""

    def __init__(self, feed: CudaFeed, slot: int, n: int):
        self.feed, self.slot, self.n = feed, slot, n
        self._logits: np.ndarray | None = None

    def result(self) -> np.ndarray:
        if self._logits is None:
            self.feed._done[self.slot].synchronize()
            self._logits = self.feed._out_host[self.slot][: self.n].numpy().copy()
            self.feed._busy[self.slot] = None
        return self._logits


class Joined:
    """A batch larger than the feed's buffers, submitted as chunks: their logits, in order."""

    def __init__(self, parts: list[FeedHandle]):
        self.parts = parts

    def result(self) -> np.ndarray:
        return np.concatenate([p.result() for p in self.parts])


class CudaFeed:
    """``submit(uint8 [N, S, S, 3])`` -> a handle; up to ``rows`` rows a chunk, each padded to ``pad(n)`` rows."""

    def __init__(
        self,
        torch: Any,
        device: str,
        shape: tuple[int, int, int],
        classes: int,
        rows: int,
        run: Callable[[Any, Any], Any],
        pad: Callable[[int], int] = lambda n: n,
        slots: int = SLOTS,
    ):
        self.torch, self.device, self.rows, self.run, self.pad = torch, device, rows, run, pad
        cuda = torch.cuda
        self.copy_stream = cuda.Stream(device=device)
        self.compute_stream = cuda.Stream(device=device)
        self._in_host = [torch.zeros((rows, *shape), dtype=torch.uint8, pin_memory=True) for _ in range(slots)]
        self._in_dev = [torch.empty((rows, *shape), dtype=torch.uint8, device=device) for _ in range(slots)]
        self._out_host = [torch.empty((rows, classes), dtype=torch.float32, pin_memory=True) for _ in range(slots)]
        self._copied = [cuda.Event() for _ in range(slots)]
        self._done = [cuda.Event() for _ in range(slots)]
        self._busy: list[FeedHandle | None] = [None] * slots
        self._next = 0

    def submit(self, pixels: np.ndarray) -> FeedHandle | Joined:
        if len(pixels) <= self.rows:
            return self._submit(pixels)
        return Joined([self._submit(pixels[i : i + self.rows]) for i in range(0, len(pixels), self.rows)])

    def _submit(self, pixels: np.ndarray) -> FeedHandle:
        torch, n = self.torch, len(pixels)
        rows = self.pad(n)
        slot, self._next = self._next, (self._next + 1) % len(self._busy)
        if self._busy[slot] is not None:  # its previous batch still owns the buffers: fetch its logits first
            self._busy[slot].result()
        host, dev = self._in_host[slot], self._in_dev[slot]
        host[:n].numpy()[...] = pixels
        if rows > n:
            host[n:rows].zero_()
        copy, compute = self.copy_stream, self.compute_stream
        with torch.cuda.stream(copy):
            dev[:rows].copy_(host[:rows], non_blocking=True)
            self._copied[slot].record(copy)
        compute.wait_event(self._copied[slot])
        with torch.cuda.stream(compute):
            logits = self.run(dev[:rows], compute)
            self._out_host[slot][:rows].copy_(logits[:rows], non_blocking=True)
            self._done[slot].record(compute)
        handle = self._busy[slot] = FeedHandle(self, slot, n)
        return handle

    def close(self) -> None:
        """Waits for every queued batch (their buffers are freed next)."""
        for event in self._done:
            event.synchronize()
        self._in_host = self._in_dev = self._out_host = []
