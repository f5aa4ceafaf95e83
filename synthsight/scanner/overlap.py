"""Keep inference busy: batch k+1 is submitted before batch k's records are made, written and its slot freed.

One batch at a time, the backend idled while the main thread judged a batch, wrote its records and took the
next one from the decode pool (or, with ``workers=0``, decoded it). Here ``depth`` batches are in flight:
the main thread submits the next decoded batch, then waits for the oldest one's logits, makes its records and
releases its slot, while the backend computes the newer one. Records come out in batch order, unchanged: the
same batches meet the same model; only when their records are made moves. With ``depth`` 2 at most one
submitted batch is unfinished when the pool is asked for the next, so a ring of 2 slots (``workers=0``)
never waits on itself. Stopping (Ctrl-C, an error) drops the batches still in flight: they have no records
yet, so the reports stay valid and ``--resume`` reads them again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

B = TypeVar("B")  # a batch
H = TypeVar("H")  # its handle (what submit returned)
R = TypeVar("R")  # its records

DEPTH = 2  # batches submitted and not yet finished: one computing, one queued behind it


def in_flight(
    batches: Iterable[B],
    submit: Callable[[B], H],
    finish: Callable[[B, H], R],
    depth: int = DEPTH,
    ready: Callable[[], bool] = lambda: True,
) -> Iterator[R]:
    """``finish(batch, submit(batch))`` for each batch, in order, with up to ``depth`` batches submitted ahead.

    ``ready()`` says whether the next batch is there; when it is not, the submitted batches are finished
    rather than held: waiting for the decoders would only delay their records (a file that takes a minute to
    read would keep the batch before it unwritten all that time), and the backend has nothing next anyway."""
    pending: deque[tuple[B, H]] = deque()
    for batch in batches:
        pending.append((batch, submit(batch)))
        while pending and (len(pending) >= depth or not ready()):
            yield finish(*pending.popleft())
    while pending:
        yield finish(*pending.popleft())
