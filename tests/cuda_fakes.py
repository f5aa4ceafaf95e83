"""A stand-in for the parts of ``torch.cuda`` that runtime/cuda_feed.py uses, which defers device work.

Work queued on a fake stream (copies, kernels, event records) runs only when something waits for it: an
event's ``synchronize()`` (the host) or a stream's ``wait_event`` (another stream, when that stream's work
runs). A feed that read pinned memory before waiting for its event, or overwrote a staging buffer a queued
copy still reads, gets wrong logits here, as it would on a GPU. It checks our logic, never CUDA's.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable
from types import SimpleNamespace

import numpy as np

DTYPES = {"uint8": np.uint8, "float32": np.float32}


STREAMS: dict[int, Stream] = {}  # by handle (``cuda_stream``), as TensorRT is given them


class Stream:
    def __init__(self, device: str = "cuda:0"):
        self.device, self.queue = device, deque()
        self.cuda_stream = id(self)
        STREAMS[self.cuda_stream] = self

    def enqueue(self, op: Callable[[], None]) -> None:
        self.queue.append(op)

    def run_until(self, marker: object) -> None:
        while not marker.fired:
            self.queue.popleft()()

    def wait_event(self, event: Event) -> None:
        if event.stream is not None:
            target, stream = event.marker, event.stream
            self.enqueue(lambda: stream.run_until(target))


class Event:
    def __init__(self) -> None:
        self.stream, self.marker = None, None
        self.host_waits = 0

    def record(self, stream: Stream) -> None:
        marker = self.marker = SimpleNamespace(fired=False)
        self.stream = stream
        stream.enqueue(lambda: setattr(marker, "fired", True))

    def synchronize(self) -> None:
        self.host_waits += 1
        if self.stream is not None:
            self.stream.run_until(self.marker)


class Tensor:
    """A numpy array on 'cpu' (pinned or not) or 'cuda'; device work goes on the current stream."""

    def __init__(self, torch: FakeTorch, array: np.ndarray, device: str):
        self.torch, self.array, self.device = torch, array, device

    @property
    def shape(self) -> tuple[int, ...]:
        return self.array.shape

    def __getitem__(self, index) -> Tensor:
        return Tensor(self.torch, self.array[index], self.device)  # basic slicing: a view, as in torch

    def numpy(self) -> np.ndarray:
        assert self.device == "cpu", "a device tensor has no numpy view"
        return self.array

    def data_ptr(self) -> int:
        return self.array.__array_interface__["data"][0]

    def zero_(self) -> Tensor:
        self.array[...] = 0
        return self

    def copy_(self, src: Tensor, non_blocking: bool = False) -> Tensor:
        dst, source = self.array, src.array
        assert non_blocking, "every copy of the feed is asynchronous"
        self.torch.cuda.current.enqueue(lambda: dst.__setitem__(Ellipsis, source))
        return self


class _Cuda:
    def __init__(self) -> None:
        self.default = self.current = Stream()
        self.Stream, self.Event = Stream, Event

    @contextlib.contextmanager
    def stream(self, s: Stream):
        old, self.current = self.current, s
        try:
            yield
        finally:
            self.current = old


class FakeTorch:
    uint8, float32 = "uint8", "float32"

    def __init__(self) -> None:
        self.cuda = _Cuda()
        self.memory: dict[int, np.ndarray] = {}  # every buffer by its address, as TensorRT is given them

    def _new(self, shape, dtype, device, fill) -> Tensor:
        tensor = Tensor(self, np.full(shape, fill, DTYPES[dtype]), "cpu" if device is None else device)
        self.memory[tensor.data_ptr()] = tensor.array
        return tensor

    def zeros(self, shape, dtype, device=None, pin_memory=False) -> Tensor:
        return self._new(shape, dtype, device, 0)

    def empty(self, shape, dtype, device=None, pin_memory=False) -> Tensor:
        return self._new(shape, dtype, device, 7)  # not zero: reading it too early shows


def mean_model(torch: FakeTorch, log: list[int] | None = None) -> Callable[[Tensor, Stream], Tensor]:
    """A 'model' queued on the stream it is given: logits [mean pixel, -mean pixel] per row."""

    def run(x: Tensor, stream: Stream) -> Tensor:
        assert torch.cuda.current is stream, "the model runs on the compute stream"
        out = Tensor(torch, np.full((x.shape[0], 2), 7, np.float32), "cuda")
        src = x.array

        def kernel() -> None:
            m = src.reshape(len(src), -1).mean(1)
            out.array[...] = np.stack([m, -m], 1)
            if log is not None:
                log.append(len(src))

        stream.enqueue(kernel)
        return out

    return run


class FakeContext:
    """A TensorRT execution context over the fake memory: addresses, an input shape, work on a stream handle
    (logits [mean pixel, -mean pixel] per row, as mean_model)."""

    def __init__(self, torch: FakeTorch, max_rows: int):
        self.torch, self.max_rows = torch, max_rows
        self.addresses: dict[str, int] = {}
        self.rows = 0
        self.inputs: list[int] = []  # the input address of each execution

    def set_tensor_address(self, name: str, ptr: int) -> bool:
        self.addresses[name] = ptr
        return True

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        self.rows = shape[0]
        return shape[0] <= self.max_rows

    def execute_async_v3(self, handle: int) -> bool:
        src = self.torch.memory[self.addresses["pixels"]][: self.rows]
        out = self.torch.memory[self.addresses["logits"]][: self.rows]
        self.inputs.append(self.addresses["pixels"])

        def kernel() -> None:
            m = src.reshape(len(src), -1).mean(1)
            out[...] = np.stack([m, -m], 1)

        STREAMS[handle].enqueue(kernel)
        return True
