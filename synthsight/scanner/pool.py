"""Decode pool: worker processes turn files into uint8 pixels written straight into shared memory.

Why a small pool of our own (multiprocessing + shared_memory) rather than torch's DataLoader or
concurrent.futures: a forensic scan must survive a decoder that segfaults or is OOM-killed on one
hostile file. DataLoader aborts the whole loader when a worker dies and ProcessPoolExecutor marks
itself broken (every pending future fails, and it cannot tell which file killed it). Here each
worker has its own pipe and the parent knows exactly which file each worker holds, so a dead
worker costs a replacement process and one more read of the file it held, by a fresh worker on its own
(the file may be innocent: the machine ran out of memory, the process was preempted); only a file that
kills a worker twice gets an error record (``worker-died``, retried by ``--resume``).

Memory is bounded: pixels live in a fixed ring of ``slots`` batch slots (one SharedMemory block);
only small metadata crosses the pipes, never arrays. An image takes ``spec.rows`` rows of a slot (its
tiles with ``resize: tiles``, else one), and a batch holds as many images as fit in ``batch_size`` rows
(at least one), so the model's batch stays ``batch_size`` inputs and a batch mixes tiles of several
images. Batches are formed in walk order whatever the
number of workers, so results do not depend on it. A dispatcher thread keeps the workers fed while
the caller runs inference on earlier batches (decode overlaps inference). ``workers=0`` decodes in
the calling thread with the same code and the same batches.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing import connection, get_context
from multiprocessing.shared_memory import SharedMemory

import numpy as np

from synthsight.errors import TIMED_OUT, WORKER_DIED, SynthsightError
from synthsight.machine import parse_device, usable_cores
from synthsight.scanner.batch import Batch, Batcher, Item
from synthsight.scanner.options import BATCH_SIZE, DECODE_TIMEOUT
from synthsight.scanner.ring import check_ring
from synthsight.scanner.walk import Entry
from synthsight.scanner.worker import FileMeta, ReadOptions, read_file, worker_main

MAX_STARTUP_DEATHS = 5
MAX_ATTEMPTS = 2  # a file whose reading kills a decode worker is read once more, by a fresh worker
STARTUP_HINT = (
    "see the messages above (a script that calls synthsight.scanner.scan must do so under "
    '`if __name__ == "__main__":`, because each decode process imports it)'
)


@dataclass(frozen=True)
class CorePlan:
    """How a scan shares the CPUs this process may use between decode processes and inference threads."""

    cpu_workers: int  # decode processes when inference runs on the CPU
    gpu_workers: int  # decode processes when a GPU runs inference
    threads: int  # CPU inference threads

    def workers_for(self, device: str) -> int:
        return self.gpu_workers if parse_device(device).kind == "cuda" else self.cpu_workers


def plan_cores(workers: int | None = None, threads: int | None = None, cores: int | None = None) -> CorePlan:
    """Decode processes and inference threads for a scan (explicit values win).

    On a GPU every core but one decodes (the one feeds the GPU). On a CPU, half the cores are set aside
    for decoding and inference gets the rest plus one shared with them; one decode process more than
    that half fills the moments inference waits, and costs no CPU otherwise (a worker blocks when the
    slot ring is full). Measured on 2 cores (Xeon, convnext_tiny 224 px, 48 files, half 12 MP JPEG,
    half 512x512 PNG; medians of 5-7 interleaved runs), 2 workers + 2 threads against 1 + 2: fp32 ONNX
    Runtime 12.8 vs 12.1 images/s (1.06x), int8 OpenVINO 21.8 vs 17.4 (1.25x: the faster inference is,
    the more a second decoder helps); 2 + 1 was slower than both (9.5 fp32). For convnext_atto at 64 px
    (decode-bound) 2 + 2 and 1 + 2 ran alike (~770 images/s).
    """
    cores = cores or usable_cores()
    half = max(1, cores // 2)
    cpu = (half + 1 if cores > 1 else 1) if workers is None else workers
    gpu = max(1, cores - 1) if workers is None else workers
    return CorePlan(cpu, gpu, threads or max(1, cores - (half if workers is None else workers) + 1))


class DecodePool:
    """Iterate ready :class:`Batch` objects in order; call :meth:`release` when done with one."""

    def __init__(
        self,
        entries: Iterator[Entry],
        options: ReadOptions,
        batch_size: int = BATCH_SIZE,
        workers: int = 1,
        slots: int | None = None,
        decode_timeout: float = DECODE_TIMEOUT,
        start_method: str = "forkserver",
    ):
        self.options, self.batch_size, self.workers = options, batch_size, workers
        self.decode_timeout = decode_timeout
        spec = self.spec = options.spec
        self.rows = options.rows  # model inputs per image: a tiles model's tiles, or the image and its views
        self.images = max(1, batch_size // self.rows)  # images per batch: the model sees <= batch_size inputs
        self.batcher = Batcher(entries, self.images, self.rows, max_items=8 * batch_size)
        self.slots = slots or (2 if workers == 0 else max(3, workers + 2))
        self.image_bytes = self.rows * spec.size * spec.size * 3
        self.slot_bytes = self.images * self.image_bytes
        check_ring(batch_size, self.slots, spec.size, shared=workers > 0)  # before any allocation
        shape = (self.slots, self.images * self.rows, spec.size, spec.size, 3)
        self.deaths = 0
        self._startup_deaths = 0
        self._stop = threading.Event()
        self._ready: queue.Queue = queue.Queue()
        self._free: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._procs: list[_Worker] = []
        if workers == 0:
            self.shm = None
            self.buffer = np.zeros(shape, np.uint8)
        else:
            self.shm = SharedMemory(create=True, size=self.slots * self.slot_bytes)
            self.buffer = np.ndarray(shape, dtype=np.uint8, buffer=self.shm.buf)
            self.ctx = get_context(start_method)
            if start_method == "forkserver":
                self.ctx.set_forkserver_preload(["synthsight.scanner.worker"])
        for slot in range(self.slots):
            self._free.put(slot)

    # -- consumer side -------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Batch]:
        if self.workers == 0:
            return self._inline()
        # Started here, not on the first next(): decoding begins while the caller gets ready.
        self._thread = threading.Thread(target=self._run_safely, name="synthsight-dispatch", daemon=True)
        self._thread.start()
        return self._consume()

    def _consume(self) -> Iterator[Batch]:
        while True:
            try:
                got = self._ready.get(timeout=0.2)
            except queue.Empty:
                continue
            if got is None:
                return
            if isinstance(got, BaseException):
                raise got
            yield got

    def release(self, batch: Batch) -> None:
        batch.pixels = None  # drop the view into shared memory
        self._free.put(batch.slot)

    def ready(self) -> bool:
        """Whether the next batch (or the end) is there: taking it will not wait for the decode processes."""
        return self.workers == 0 or not self._ready.empty()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for w in self._procs:
            w.stop()
        self._procs = []
        if self.shm is not None:
            self.buffer = None
            with contextlib.suppress(BufferError):  # a caller still holds a view; unlink frees it at exit
                self.shm.close()
            self.shm.unlink()
            self.shm = None

    def __enter__(self) -> DecodePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- workers=0 -----------------------------------------------------------------------------
    def _inline(self) -> Iterator[Batch]:
        index = 0
        while not self.batcher.done:
            slot = self._free.get()
            batch = self.batcher.cut(index, slot, self.buffer[slot])
            if batch is None:
                self._free.put(slot)
                break
            for item in batch.items:
                meta, pixels = self._read(item)
                item.meta = meta
                if pixels is not None:
                    rows = pixels.reshape((-1, *pixels.shape[-3:]))
                    batch.pixels[item.row * self.rows : item.row * self.rows + len(rows)] = rows
            index += 1
            yield batch

    def _read(self, item: Item) -> tuple[FileMeta, np.ndarray | None]:
        if not self.options.needs_reading(item.entry):
            return FileMeta(), None
        return read_file(item.entry.path, self.options, item.row is not None)

    # -- dispatcher thread ---------------------------------------------------------------------
    def _run_safely(self) -> None:
        try:
            self._run()
            self._ready.put(None)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._ready.put(exc)

    def _run(self) -> None:
        self._procs = [self._spawn() for _ in range(self.workers)]
        tasks: deque = deque()  # items waiting for a worker, in walk order
        open_batches: dict[int, Batch] = {}
        next_out, index = 0, 0
        while not self._stop.is_set():
            while not self.batcher.done and len(tasks) < 4 * self.workers * self.batch_size:
                try:
                    slot = self._free.get_nowait()
                except queue.Empty:
                    break
                batch = self.batcher.cut(index, slot, self.buffer[slot])
                if batch is None:
                    self._free.put(slot)
                    break
                open_batches[index], index = batch, index + 1
                for item in batch.items:
                    if self.options.needs_reading(item.entry):
                        batch.pending += 1
                        tasks.append(item)
                    else:
                        item.meta = FileMeta()
            self._feed(tasks, open_batches)
            while next_out in open_batches and open_batches[next_out].pending == 0:
                self._ready.put(open_batches.pop(next_out))
                next_out += 1
            if self.batcher.done and not open_batches and not tasks:
                return
            self._collect(tasks, open_batches)

    def _feed(self, tasks: deque, open_batches: dict[int, Batch]) -> None:
        for w in self._procs:
            while tasks and len(w.held) < 2 and not w.broken:  # two in hand: a worker never waits for our round trip
                item = tasks.popleft()
                w.give(item, self._offset(item, open_batches))

    def _offset(self, item: Item, open_batches: dict[int, Batch]) -> int:
        if item.row is None:
            return -1
        batch = open_batches[item.batch]
        return (batch.slot * self.images + item.row) * self.image_bytes

    def _collect(self, tasks: deque, open_batches: dict[int, Batch]) -> None:
        by_conn = {w.conn: w for w in self._procs}
        by_sentinel = {w.proc.sentinel: w for w in self._procs}
        ready = connection.wait(list(by_conn) + list(by_sentinel), timeout=0.02)
        for obj in ready:
            if obj in by_conn:
                self._drain(by_conn[obj], open_batches)
        for obj in ready:
            if obj in by_sentinel:
                self._replace(by_sentinel[obj], tasks, open_batches)
        now = time.monotonic()
        for w in list(self._procs):
            if w.held and now - w.since > self.decode_timeout:
                w.timed_out = True
                w.proc.kill()

    def _drain(self, w: _Worker, open_batches: dict[int, Batch]) -> None:
        try:
            while w.conn.poll():
                task_id, meta = w.conn.recv()
                self._finish(w.take(task_id), meta, open_batches)
                self._startup_deaths = 0
        except (EOFError, OSError):
            pass  # the worker died; its sentinel says so

    def _finish(self, item: Item, meta: FileMeta, open_batches: dict[int, Batch]) -> None:
        item.meta = meta
        open_batches[item.batch].pending -= 1

    def _replace(self, w: _Worker, tasks: deque, open_batches: dict[int, Batch]) -> None:
        self._drain(w, open_batches)
        w.proc.join(timeout=1)
        code = w.proc.exitcode
        self._procs.remove(w)
        w.stop()
        self.deaths += 1
        tasks.extendleft(reversed(w.unsent))
        if w.fresh:
            # Died before answering anything: maybe it never started. Give its files one more chance.
            self._startup_deaths += 1
            if self._startup_deaths > MAX_STARTUP_DEATHS:
                raise SynthsightError(f"decode workers die at startup (exit code {code}); {STARTUP_HINT}")
        if w.held:
            # The file being read when the worker died may be innocent (the machine ran out of memory, the
            # process was preempted): it is read once more, first, by a fresh worker; only a file that kills a
            # worker twice (or hangs one) gets the record. The others go back, in order, to another worker.
            culprit = w.held.popleft()
            culprit.attempts += 1
            tasks.extendleft(reversed(w.held))
            if w.timed_out or culprit.attempts >= MAX_ATTEMPTS:
                self._finish(culprit, FileMeta(error=self._death_message(w, code)), open_batches)
            else:
                fresh = self._spawn()
                fresh.give(culprit, self._offset(culprit, open_batches))
                self._procs.append(fresh)
                return
        self._procs.append(self._spawn())

    def _death_message(self, w: _Worker, code: int | None) -> str:
        if w.timed_out:
            return f"{TIMED_OUT}: decode took longer than {self.decode_timeout:g} s; the worker was stopped"
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return f"{WORKER_DIED}: decode workers died twice while reading this file (the second time: {how})"

    def _spawn(self) -> _Worker:
        parent, child = self.ctx.Pipe(duplex=True)
        proc = self.ctx.Process(
            target=worker_main,
            args=(child, self.shm.name, self.options),
            name="synthsight-decode",
            daemon=True,
        )
        try:
            proc.start()
        except BrokenPipeError:
            # The new process exited before reading its arguments: the fork server writes them after the fork,
            # and past a pipe's 64 KiB (the reader's trust anchors) the write waits for a reader that died
            # while importing the caller's main module.
            parent.close()
            child.close()
            raise SynthsightError(f"a decode worker died at startup, before reading its task; {STARTUP_HINT}") from None
        child.close()
        return _Worker(proc, parent)


class _Worker:
    def __init__(self, proc, conn):
        self.proc, self.conn = proc, conn
        self.held: deque[Item] = deque()
        self.since = time.monotonic()
        self.timed_out = False
        self.fresh = True
        self.broken = False  # its pipe is closed: it died, and its sentinel will say so at the next collect
        self.unsent: list[Item] = []  # given after it died: never read, so never the culprit

    def give(self, item: Item, offset: int) -> None:
        if not self.held:
            self.since = time.monotonic()
        self.held.append(item)
        try:
            self.conn.send((item.seq, item.entry.path, offset, item.row is not None))
        except OSError:  # killed since the last collect (OOM, a signal): the item goes back with the others
            self.broken = True
            self.unsent.append(self.held.pop())

    def take(self, task_id: int) -> Item:
        item = self.held.popleft()
        assert item.seq == task_id, "decode results arrive in the order sent"
        self.since = time.monotonic()
        self.fresh = False
        return item

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(timeout=2)
        self.conn.close()
