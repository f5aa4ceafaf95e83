"""Progress: a tqdm bar (images/s, ETA) on a terminal, a plain line every few seconds otherwise, nothing with --quiet.

The total comes from a second, cheap walk in a background thread, so the scan starts at once and
the ETA appears as soon as the count is known.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

PLAIN_EVERY_S = 10.0


class Progress:
    def __init__(self, walker: Any, quiet: bool = False, skip=None, stream=None, every: float = PLAIN_EVERY_S):
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.done = 0
        self.images = 0
        self.total: int | None = None
        self.every = every
        self.t0 = self.last = time.perf_counter()
        self.bar = None
        if quiet:
            return
        threading.Thread(target=self._count, args=(walker, skip), daemon=True, name="synthsight-count").start()
        if self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=None, unit="file", file=self.stream, dynamic_ncols=True, smoothing=0.1)

    def _count(self, walker: Any, skip) -> None:
        try:
            n = sum(1 for e in walker.copy() if skip is None or not skip(e))
        except Exception:  # counting is a nicety; the scan itself reports every problem
            return
        self.total = n

    def update(self, files: int, images: int) -> None:
        if self.quiet:
            return
        self.done += files
        self.images += images
        now = time.perf_counter()
        rate = self.images / (now - self.t0) if now > self.t0 else 0.0
        if self.bar is not None:
            if self.total is not None and self.bar.total != self.total:
                self.bar.total = self.total
            self.bar.set_postfix_str(f"{rate:.1f} images/s", refresh=False)
            self.bar.update(files)
        elif now - self.last >= self.every:
            self.last = now
            self.stream.write(self._plain(rate, now) + "\n")
            self.stream.flush()

    def _plain(self, rate: float, now: float) -> str:
        of = f"/{self.total}" if self.total is not None else ""
        eta = ""
        files_rate = self.done / (now - self.t0)
        if self.total is not None and files_rate > 0:
            left = max(0.0, (self.total - self.done) / files_rate)
            eta = f", ETA {int(left // 60)}:{int(left % 60):02d}"
        return f"scanned {self.done}{of} files, {rate:.1f} images/s{eta}"

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
