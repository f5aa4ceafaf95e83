"""An external merge: items ``(key, ...)`` that arrive in any order, given back in key order in bounded memory.

``synthsight merge`` and the final report of a ``scan --ray`` both need their records in walk order, and
neither may hold them all: 10^8 records are ~180 GB in memory. So the items of a source are cut into
*runs* that are each in key order on disk, and the runs are merged with :func:`heapq.merge`:

- a source already in order (a shard report as its scan wrote it, a Ray part file) is one run read in place,
  nothing copied; when a source goes out of order, its rest is sorted ``RUN_ITEMS`` at a time and each
  sorted chunk is written to a temporary *spill* file (pickled frames, in a private folder of this process
  that is removed afterwards);
- runs whose key ranges do not overlap are read one after the other (a chain), not merged: the parts of a
  Ray scan cover disjoint stretches of the walk, so their merge is a concatenation;
- at most ``FAN_IN`` chains are merged at once (open files, one frame of each in memory); beyond that the
  chains are merged ``FAN_IN`` at a time into new spill files first.

Memory is one chunk being sorted plus one frame per merged chain: it does not grow with the item count.
Items with equal keys keep their order (the sources' order, then the order within a source).
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import pickle
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

RUN_ITEMS = 20_000  # items sorted in memory at once (~20 MB of report lines)
FAN_IN = 64  # chains merged at once
FRAME = 256  # items per pickled frame of a spill file

Item = tuple  # (key, ...payload); ordered by item[0]
_KEY = itemgetter(0)


@dataclass
class Run:
    """Items in key order from ``first`` to ``last``: ``open()`` reads them again, as often as needed."""

    open: Callable[[], Iterator[Item]]
    first: Any
    last: Any
    count: int


@dataclass
class Spill:
    """The temporary folder of one merge; use as a context manager (the folder is removed on exit)."""

    near: Path  # the folder is made beside this file (the output: a file system with room for it)
    run_items: int = 0  # 0: RUN_ITEMS
    fan_in: int = 0  # 0: FAN_IN
    folder: Path | None = None
    _names: Iterator[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.run_items, self.fan_in = self.run_items or RUN_ITEMS, max(2, self.fan_in or FAN_IN)

    def __enter__(self) -> Spill:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def runs(self, items: Iterable[Item], reopen: Callable[[int], Iterator[Item]]) -> list[Run]:
        """The runs of one source: its in-order prefix read in place (``reopen(n)`` gives its first n items
        again), the rest as sorted spill runs. ``items`` is read once, to its end."""
        items = iter(items)
        first = last = None
        count = 0
        tail: list[Item] = []
        for item in items:
            if count and item[0] < last:
                tail.append(item)
                break
            if not count:
                first = item[0]
            last, count = item[0], count + 1
        runs = [Run(lambda n=count: reopen(n), first, last, count)] if count else []
        if tail:
            runs += self.spill(itertools.chain(tail, items))
        return runs

    def spill(self, items: Iterable[Item]) -> list[Run]:
        """Sorted spill runs of ``items`` (any order), ``run_items`` at a time."""
        runs = []
        items = iter(items)
        while chunk := list(itertools.islice(items, self.run_items)):
            chunk.sort(key=_KEY)
            runs.append(self._write(chunk))
        return runs

    def merged(self, runs: list[Run]) -> Iterator[Item]:
        """Every item of ``runs`` in key order (stable: equal keys in the order of ``runs``)."""
        chains = _chains(runs)
        while len(chains) > self.fan_in:
            groups = [chains[i : i + self.fan_in] for i in range(0, len(chains), self.fan_in)]
            chains = [[self._write(heapq.merge(*map(_read_chain, g), key=_KEY))] for g in groups]
        if len(chains) == 1:
            return _read_chain(chains[0])
        return heapq.merge(*map(_read_chain, chains), key=_KEY)

    def _write(self, items: Iterable[Item]) -> Run:
        if self.folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix=f".{self.near.name}.merge-", dir=self.near.parent))
        path = self.folder / f"run{next(self._names):06d}"
        first = last = None
        count = 0
        items = iter(items)
        with open(path, "wb") as fh:
            while frame := list(itertools.islice(items, FRAME)):
                if not count:
                    first = frame[0][0]
                last, count = frame[-1][0], count + len(frame)
                pickle.dump(frame, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return Run(lambda: _read_spill(path), first, last, count)


def _read_spill(path: Path) -> Iterator[Item]:
    # A file this process wrote, in a folder only it may read (mkdtemp: mode 0700): safe to unpickle.
    with open(path, "rb") as fh:
        while True:
            try:
                frame = pickle.load(fh)
            except EOFError:
                return
            yield from frame


def _chains(runs: list[Run]) -> list[list[Run]]:
    """Runs grouped into chains whose key ranges follow each other (each chain is read as one run).

    Each run, by its first key, joins the chain that ends latest strictly before it (equal keys are merged,
    not chained, so that they keep the order of ``runs``); the chains come out in the order of their first runs.
    """
    chains: list[list[Run]] = []
    ends: list[tuple[Any, int]] = []  # (last key, chain index), sorted
    order = {id(r): i for i, r in enumerate(runs)}
    for run in sorted((r for r in runs if r.count), key=lambda r: (r.first, order[id(r)])):
        at = bisect.bisect_left(ends, (run.first,)) - 1  # the latest end strictly before run.first
        if at >= 0:
            _, index = ends.pop(at)
            chains[index].append(run)
        else:
            index = len(chains)
            chains.append([run])
        bisect.insort(ends, (run.last, index))
    return sorted(chains, key=lambda c: order[id(c[0])])


def _read_chain(chain: list[Run]) -> Iterator[Item]:
    for run in chain:
        yield from run.open()
