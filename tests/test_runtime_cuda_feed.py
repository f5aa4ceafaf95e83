"""runtime/cuda_feed.py against a stand-in torch.cuda that defers device work until it is waited for
(tests/cuda_fakes.py): two batches in flight, no host wait at submit, slots reused only when free."""

from __future__ import annotations

import numpy as np
import pytest
from cuda_fakes import FakeContext, FakeTorch, mean_model

from synthsight.image.preprocess import PreprocessSpec
from synthsight.runtime.base import Backend
from synthsight.runtime.cuda_feed import CudaFeed
from synthsight.runtime.tensorrt import TensorRTBackend
from synthsight.spec import ModelSpec

SHAPE = (8, 8, 3)


def _batch(n: int, value: int) -> np.ndarray:
    return np.full((n, *SHAPE), value, np.uint8)


def _expected(batch: np.ndarray) -> np.ndarray:
    m = batch.reshape(len(batch), -1).mean(1).astype(np.float32)
    return np.stack([m, -m], 1)


def _feed(rows: int = 8, pad=lambda n: n, log=None) -> tuple[FakeTorch, CudaFeed]:
    torch = FakeTorch()
    return torch, CudaFeed(torch, "cuda:0", SHAPE, 2, rows, mean_model(torch, log), pad)


def test_two_batches_in_flight_without_a_host_wait_and_in_order():
    torch, feed = _feed()
    batches = [_batch(8, 10), _batch(8, 200)]
    handles = [feed.submit(b) for b in batches]
    assert sum(e.host_waits for e in feed._done + feed._copied) == 0  # submit never waits for the device
    assert feed.compute_stream.queue and feed.copy_stream.queue  # nothing has run yet: it is all queued
    for b, h in zip(batches, handles, strict=True):
        np.testing.assert_array_equal(h.result(), _expected(b))


def test_the_callers_memory_is_free_when_submit_returns():
    _, feed = _feed()
    batch = _batch(8, 50)
    handle = feed.submit(batch)
    batch[...] = 0  # the decode ring's slot, reused by the decoders
    np.testing.assert_array_equal(handle.result(), _expected(_batch(8, 50)))


def test_a_third_batch_waits_for_the_slot_it_reuses_and_nothing_is_overwritten():
    _, feed = _feed()
    batches = [_batch(8, v) for v in (10, 100, 250)]
    handles = [feed.submit(b) for b in batches]  # the third reuses slot 0 while batch 0 is unfetched
    assert feed._done[0].host_waits == 1 and feed._done[1].host_waits == 0
    for b, h in zip(batches, handles, strict=True):
        np.testing.assert_array_equal(h.result(), _expected(b))


def test_padding_and_chunks():
    log: list[int] = []
    _, feed = _feed(rows=4, pad=lambda n: max(n, 3), log=log)  # a TensorRT profile starting at 3 rows
    small = _batch(1, 90)
    np.testing.assert_array_equal(feed.submit(small).result(), _expected(small))
    big = np.concatenate([_batch(4, 10), _batch(4, 20), _batch(2, 30)])  # larger than the buffers: 3 chunks
    np.testing.assert_array_equal(feed.submit(big).result(), _expected(big))
    assert log == [3, 4, 4, 3]  # rows run: padded to the profile's minimum, never above the buffers


def test_close_waits_for_what_is_queued():
    torch, feed = _feed()
    feed.submit(_batch(8, 10))
    feed.close()
    assert not feed.compute_stream.queue


def test_tensorrt_backend_through_the_feed():
    """TensorRTBackend._bind/_execute on the fake memory: each slot's input address in turn, padded to the
    profile's minimum, logits of each batch in order, a batch the context refuses is one line."""
    torch = FakeTorch()
    trt = TensorRTBackend.__new__(TensorRTBackend)
    Backend.__init__(trt, ModelSpec(arch="x", preprocess=PreprocessSpec(size=8)), max_batch=8, source="m.engine")
    trt.device, trt._low, trt._torch = "cuda:0", 2, torch
    context = FakeContext(torch, max_rows=8)
    trt._bind(torch, context, classes=2, low=2)
    batches = [_batch(8, 10), _batch(8, 60), _batch(1, 200)]
    handles = [trt.submit(b) for b in batches]
    for b, h in zip(batches, handles, strict=True):
        np.testing.assert_array_equal(h.result(), _expected(b))
    slots = [t.data_ptr() for t in trt._feed._in_dev]
    assert context.inputs == [slots[0], slots[1], slots[0]] and context.rows == 2  # 1 image padded to 2 rows
    np.testing.assert_array_equal(trt.infer(np.concatenate(batches)), _expected(np.concatenate(batches)))
    context.max_rows = 4  # an engine whose profile stops below the feed's rows
    with pytest.raises(Exception, match="TensorRT refused batch 8"):
        trt.submit(_batch(8, 1))
    trt.close()


@pytest.mark.gpu("torch")
def test_torch_cuda_scan_keeps_two_batches_in_flight_and_matches_one_at_a_time(tmp_path):
    """On a GPU: the torch backend's submit() queues and returns; its logits equal infer()'s, in order."""
    from test_gpu_parity import _need

    _need("torch")
    import torch

    from synthsight.model import build, save_bundle
    from synthsight.runtime import open_backend
    from synthsight.spec import ModelSpec, PreprocessSpec

    spec = ModelSpec(arch="convnext_atto", preprocess=PreprocessSpec(size=64))
    torch.manual_seed(0)
    save_bundle(build(spec, "random").eval(), spec, tmp_path / "bundle")
    rng = np.random.default_rng(0)
    batches = [rng.integers(0, 256, (16, 64, 64, 3), dtype=np.uint8) for _ in range(3)]
    with open_backend(str(tmp_path / "bundle"), backend="torch", device="cuda", precision="fp32", max_batch=16) as b:
        assert b.overlaps and torch.backends.cudnn.benchmark
        one_by_one = [b.infer(x) for x in batches]
        handles = [b.submit(x) for x in batches]
        for want, h in zip(one_by_one, handles, strict=True):
            np.testing.assert_allclose(h.result(), want, atol=1e-4)
        tail = batches[0][:5]  # the last, partial batch of a scan
        np.testing.assert_allclose(b.submit(tail).result(), one_by_one[0][:5], atol=1e-4)
