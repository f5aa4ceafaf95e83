"""The inventory of ``scan --ray``, fed to Ray Data in a bounded window while the driver lists it (issue 24 item 8).

A thread of the driver lists the entries (the walk or ``--files-from``, as a local scan does, ``--resume``'s
skip included) and packs those to decode into Arrow blocks of :data:`LIST_BLOCK_ROWS`; the blocks wait in a
small queue (a Ray actor on the driver's node, :data:`WINDOW_BLOCKS` deep) from which the dataset's one read
task takes them as the stages downstream ask for more. So neither the driver nor the object store holds the
whole list (before, every block was in the object store before the first decode: ~204 MB per 10⁶ entries): a
full window stops the listing until the cluster catches up, and so does having more than
:data:`MAX_AHEAD_BYTES` of listed entries out on the cluster (sent, their records not back: :meth:`returned`).
The read task and the queue reserve no CPU and run on the driver's node (lost only with the driver).

Entries whose record needs no reading (missing, unreadable, not an image and not hashed) never go to the
cluster: the listing thread writes their records as a part (``settle``) every :data:`LIST_BLOCK_ROWS` of them,
and the session merges every part by listing number, so they take their places in walk order.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from synthsight.reports.parts import Tally
from synthsight.scanner.ray.tasks import pack
from synthsight.scanner.session import StopFlag
from synthsight.scanner.walk import Entry
from synthsight.scanner.worker import ReadOptions

# Entries per block: big enough (~1.5 MB) to live in the shared object store, where Ray can spill it, not in the
# driver's own memory (Ray keeps objects under 100 KiB in their owner's heap).
LIST_BLOCK_ROWS = 8192
WINDOW_BLOCKS = 4  # blocks listed ahead of what the dataset has taken (~6 MB)
# Ray Data's read task gathers what its source yields into blocks of DataContext.target_max_block_size (128 MiB
# by default) before it hands one on, so the first decode would wait for ~800,000 listed entries (a block of 8192
# is ~1.3 MB). A scan sets it to this: ~24 list blocks (~200,000 entries) a read block, and a decode task's pixels
# (38.5 MB at --batch-size 32) still one block (Ray cuts only a block past 1.5 times the size).
MAX_BLOCK_BYTES = 32 << 20
# The listing waits while more than this many bytes of the entries it sent have not come back as records (Ray
# Data's own budget for a read op's output is a share of the object store: gigabytes, ~10^7 entries).
MAX_AHEAD_BYTES = 4 * MAX_BLOCK_BYTES
POLL_S = 0.25
CLOSE_WAIT_S = 10.0  # how long closing waits for a listing thread stuck in the walk (a hung file system)


class Listing:
    """Lists ``entries`` in a thread of its own into a window of blocks that :meth:`dataset` reads;
    ``settle(entries)`` writes the records of entries that need no reading and returns their tally."""

    def __init__(
        self,
        entries: Iterator[Entry],
        read: ReadOptions,
        stop: StopFlag,
        settle: Callable[[list[tuple[int, Entry]]], Tally],
    ):
        import ray
        from ray.util.queue import Queue
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self._here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        self.queue = Queue(maxsize=WINDOW_BLOCKS, actor_options={"num_cpus": 0, "scheduling_strategy": self._here})
        self.entries_in, self.read, self.stop, self.settle = entries, read, stop, settle
        self.entries = self.blocks = self.settled = 0
        self.sent_rows = self.sent_bytes = self.returned_rows = 0
        self.tallies: collections.deque[Tally] = collections.deque()  # the settled parts' tallies, not yet taken
        self.error: BaseException | None = None
        self._seen = 0
        self._started = threading.Event()  # a block was sent, or the listing ended
        self.done = threading.Event()
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._run, name="synthsight-ray-listing", daemon=True)
        self._thread.start()

    def wait_first(self) -> bool:
        """Wait until a block is on its way or the listing ended; whether there is anything to decode."""
        while not self._started.wait(POLL_S):
            if self.stop.signal is not None:
                return False
        return self.blocks > 0

    def returned(self, rows: int) -> None:
        """The records of ``rows`` sent entries came back (the driver's thread, per actor batch)."""
        self.returned_rows += rows

    def out_bytes(self) -> float:
        """About how many bytes of the entries sent are still out on the cluster."""
        sent = self.sent_rows
        return (sent - self.returned_rows) * self.sent_bytes / sent if sent else 0.0

    def take_tallies(self) -> list[Tally]:
        """The tallies of the settled parts written since the last call."""
        out = []
        while self.tallies:
            out.append(self.tallies.popleft())
        return out

    def progress(self) -> list[Tally] | None:
        """While the driver waits on the cluster: the settled tallies, or [] if the listing went on without
        any; None if it did not move (the stall clock keeps running)."""
        tallies, listed = self.take_tallies(), self.entries
        moved, self._seen = listed != self._seen, listed
        return tallies if tallies or moved else None

    def finish(self) -> None:
        """Wait for the listing's end (the cluster took its last block, or a signal stopped it); its error."""
        while not self.done.wait(POLL_S):
            if self.stop.signal is not None:
                raise KeyboardInterrupt
        if self.error is not None:
            raise self.error

    def describe(self) -> dict[str, int]:
        return {"list_blocks": self.blocks, "list_window_blocks": WINDOW_BLOCKS}

    def dataset(self) -> Any:
        """A Ray Data dataset of the listed blocks: one read task, on this node, taking them from the window."""
        import ray.data

        # Never retried: a second attempt would start where the first stopped, not at the list's start. No named
        # parameter of Ray 2.60 sets the retries or the node (ray_remote_args' deprecation notice, for a later
        # Ray, is not this scan's to print).
        remote = dict(num_cpus=0, max_retries=0, scheduling_strategy=self._here)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="`ray_remote_args` is deprecated")
            return ray.data.read_datasource(_Window(self.queue), override_num_blocks=1, ray_remote_args=remote)

    def close(self, wait: bool = True) -> None:
        """Stop listing (if it has not ended) and drop the window (``wait=False``: the node is gone, and so is
        the window; the listing thread, a daemon, is not waited for)."""
        self._cancelled.set()
        if not wait:
            return
        self._thread.join(CLOSE_WAIT_S)
        with contextlib.suppress(Exception):  # a cluster that is gone already took the queue with it
            self.queue.shutdown(force=True)

    def _run(self) -> None:
        try:
            self._list()
        except BaseException as exc:  # the walk's or a part's failure: raised in the driver's thread
            self.error = exc
        finally:
            self.done.set()
            self._started.set()
            self._put(None)  # the end: the read task returns

    def _list(self) -> None:
        needs_reading, rows = self.read.needs_reading, LIST_BLOCK_ROWS
        chunk: list[bytes] = []
        settled: list[tuple[int, Entry]] = []
        for seq, entry in enumerate(self.entries_in):
            self.entries = seq + 1
            if needs_reading(entry):
                chunk.append(pack(seq, entry))
                if len(chunk) == rows:
                    self._send(chunk)
                    chunk = []
            else:  # its record is known here: it never goes to the cluster
                settled.append((seq, entry))
                if len(settled) == rows:
                    self._settle(settled)
                    settled = []
            if self._cancelled.is_set() or ((seq + 1) % rows == 0 and self.stop.signal is not None):
                break
        if chunk and not self._cancelled.is_set():
            self._send(chunk)
        self._settle(settled)

    def _settle(self, settled: list[tuple[int, Entry]]) -> None:
        if settled and not self._cancelled.is_set():
            self.tallies.append(self.settle(settled))
            self.settled += len(settled)

    def _send(self, chunk: list[bytes]) -> None:
        import pyarrow as pa

        while self.out_bytes() > MAX_AHEAD_BYTES and not self._cancelled.wait(POLL_S / 5):
            if self.stop.signal is not None:
                break  # the block still goes (its entries were taken from the walk), the listing ends after it
        block = pa.table({"entry": pa.array(chunk, pa.binary())})
        self.blocks += 1
        self.sent_rows, self.sent_bytes = self.sent_rows + len(chunk), self.sent_bytes + block.nbytes
        self._started.set()
        self._put(block)

    def _put(self, item: Any) -> None:
        from ray.util.queue import Full

        while not self._cancelled.is_set():
            try:
                self.queue.put(item, timeout=POLL_S)
                return
            except Full:
                continue


def _window_reader(queue: Any) -> Iterator[Any]:
    """The read task: the listed blocks, as the driver puts them in the window, until its end mark."""
    while (block := queue.get()) is not None:
        yield block


def _Window(queue: Any) -> Any:
    """A datasource of one read task that takes its blocks from ``queue`` (defined here: Ray Data is optional)."""
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    class Window(Datasource):
        def estimate_inmemory_data_size(self) -> int | None:
            return None  # the listing's length is not known before it ends

        def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None, data_context: Any = None):
            meta = BlockMetadata(num_rows=None, size_bytes=None, exec_stats=None, input_files=None)
            return [ReadTask(lambda: _window_reader(queue), meta)]

        def get_name(self) -> str:
            return "SynthsightListing"

    return Window()
