"""What the decode pool hands the scan: batches of walk entries, cut in walk order, their pixels in a ring slot.

A batch holds as many images as fit in ``batch_size`` slot rows (an image takes ``rows`` rows: its tiles, or
itself and its ``--stability`` views) and any non-image entries met on the way, so records come out in walk
order whatever the number of decode workers. Its own module so that the pool (which fills batches) and the
pipeline and overlap (which consume them) share the shape without the consumers importing the pool.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from synthsight.scanner.walk import Entry
from synthsight.scanner.worker import FileMeta


@dataclass(eq=False)
class Item:
    """One entry in a batch; ``meta`` is filled when its file has been read."""

    seq: int
    entry: Entry
    row: int | None = None  # row in the batch slot, for images
    batch: int = -1
    attempts: int = 0
    meta: FileMeta | None = None


@dataclass(eq=False)
class Batch:
    index: int
    slot: int
    items: list[Item]
    pixels: np.ndarray  # [images * rows, S, S, 3] view of the slot (rows: model inputs per image: tiles or views)
    pending: int = 0
    rows: int = 1

    def decoded(self) -> list[Item]:
        return [i for i in self.items if i.row is not None and i.meta is not None and not i.meta.error]

    def inputs(self, items: list[Item]) -> tuple[np.ndarray, list[int]]:
        """The model inputs of ``items`` (decoded ones), image after image, and how many each has."""
        counts = [item.meta.inputs for item in items]
        index = [item.row * self.rows + k for item, n in zip(items, counts, strict=True) for k in range(n)]
        contiguous = index == list(range(len(index)))
        return (self.pixels[: len(index)] if contiguous else self.pixels[index]), counts


class Batcher:
    """Cuts the entry stream into batches of at most ``images`` images (``rows`` slot rows each), in walk order."""

    def __init__(self, entries: Iterator[Entry], images: int, rows: int = 1, max_items: int | None = None):
        self.entries = iter(entries)
        self.images, self.rows = images, rows
        self.max_items = max_items or images * 8  # bounds a batch made of non-images
        self.seq = 0
        self.done = False

    def cut(self, index: int, slot: int, pixels: np.ndarray) -> Batch | None:
        items: list[Item] = []
        images = 0
        while images < self.images and len(items) < self.max_items:
            entry = next(self.entries, None)
            if entry is None:
                self.done = True
                break
            item = Item(self.seq, entry, images if entry.kind == "image" else None, index)
            self.seq += 1
            images += item.row is not None
            items.append(item)
        return Batch(index, slot, items, pixels, rows=self.rows) if items else None
