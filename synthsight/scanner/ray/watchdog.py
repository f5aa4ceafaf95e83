"""The driver's stall watchdog of ``scan --ray``, and signals honoured while the driver waits on the cluster.

Ray Data's iterator can wait forever in native code (a lost node whose tasks are never rescheduled, a hung
actor), where no Python signal handler runs: Ctrl-C and SIGTERM were only seen at the next batch, if any.
So a feeder thread takes the batches from Ray and the main thread waits on it a quarter second at a time:
a signal stops the wait at once (the scan then ends as interrupted: 130 or 143, valid reports), and a wait
longer than ``--stall-timeout`` stops the scan in one line (exit 1; the reports keep every record so far and
``--resume`` continues them). While the session writes a batch, signals only set the flag, as in a local scan.
The driver's own node going away (its raylet stopped: the node's Ray killed or out of memory, while this
process lives on) ends the wait within PROBE_S too, before Ray ends the process (which it did 15 s later with
exit 1 and no line): one line, exit 1, the reports made from the parts so far and their manifest interrupted.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from synthsight.errors import ScanInterrupted, SynthsightError

POLL_S = 0.25  # how often the waiting driver looks at the stop flag and the clock


class Stalled(SynthsightError):
    """No batch came from the cluster for ``--stall-timeout`` seconds."""


class NodeLost(ScanInterrupted):
    """The Ray node of this driver went away (its raylet stopped): Ray ends this process seconds later."""

    end_process = True


NODE_LOST = (
    "the Ray node this driver runs on went away (its raylet stopped): the scan stopped; the reports keep every "
    "record so far: run the same command with --resume"
)
CLOSE_WAIT_S = 10.0  # how long a stopped scan waits for Ray's iterator to close before Ray is shut down
PROBE_S = 1.0  # how often the waiting driver looks for its node's raylet


def watched(
    batches: Iterator[Any],
    stop: Any,
    stall_s: float,
    idle: Callable[[], Any] | None = None,
    node_gone: Callable[[], bool] | None = None,
) -> Iterator[Any]:
    """``batches`` in order; a signal while waiting raises KeyboardInterrupt, a wait past ``stall_s`` raises
    :class:`Stalled` (``stop``: the session's StopFlag). One batch at most waits in memory.

    ``idle``, called while no batch came: what the driver can yield meanwhile (yielded when not empty), or
    None when nothing moved; anything else (the listing went on) restarts the stall clock. ``node_gone``,
    called every PROBE_S while waiting: True raises :class:`NodeLost`."""
    handed: queue.Queue = queue.Queue(maxsize=1)
    cancelled = threading.Event()

    def put(item: tuple[str, Any]) -> None:
        while not cancelled.is_set():
            try:
                handed.put(item, timeout=POLL_S)
                return
            except queue.Full:
                continue

    def feed() -> None:
        try:
            for batch in batches:
                if cancelled.is_set():
                    break
                put(("batch", batch))
            put(("end", None))
        except BaseException as exc:  # handed to the driver's thread, which raises it
            put(("error", exc))
        finally:
            close = getattr(batches, "close", None)
            if cancelled.is_set() and close is not None:
                close()  # the driver stopped waiting: Ray's executor stops too (once its current wait ends)

    feeder = threading.Thread(target=feed, name="synthsight-ray-feed", daemon=True)
    feeder.start()
    try:
        since = probed = time.monotonic()
        while True:
            try:
                kind, item = handed.get(timeout=POLL_S)
            except queue.Empty:
                if stop.signal is not None:
                    raise KeyboardInterrupt from None
                if node_gone is not None and time.monotonic() - probed > PROBE_S:
                    probed = time.monotonic()
                    if node_gone():
                        raise NodeLost(NODE_LOST) from None
                meanwhile = idle() if idle is not None else None
                if meanwhile is not None:
                    since = time.monotonic()
                    if meanwhile:
                        yield meanwhile
                    continue
                if time.monotonic() - since > stall_s:
                    raise Stalled(
                        f"no records came from the Ray cluster for {stall_s:g} s (a lost node or a hung task): "
                        "stopped; the reports keep every record so far: run the same command with --resume "
                        "(--stall-timeout sets the wait)"
                    ) from None
                continue
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
            since = time.monotonic()
    finally:
        cancelled.set()
        # The feeder closes Ray's iterator once its current wait ends: let that happen before the caller shuts Ray
        # down, since a close after ray.shutdown() made Ray's core worker end the process with status 1 instead of
        # the scan's 130 (seen once in CI after a Ctrl-C). A feeder still waiting on a stalled task is left behind.
        feeder.join(CLOSE_WAIT_S)
