"""Progress: a tqdm bar (files/s, ETA) on a terminal, a plain line every few seconds otherwise, nothing with --quiet.

One rate, files/s of the whole scan (walk, decode, inference, records), shown once: the bar's own rate
(tqdm's ``16.21file/s``) stood beside a second images/s figure before. The precision line's images/s is
another thing, inference only, and says so (runtime/cpu/precision.py).

The total is what the walk has found, read from the scan's own walk (:class:`~synthsight.scanner.walk.Lookahead`),
which runs ahead of the scan: trees of up to its look-ahead are counted at once, larger ones as the walk
proceeds ("found so far"), and the ETA appears as soon as the walk is done. The tree is listed once.
"""

from __future__ import annotations

import sys
import time
from typing import Any

PLAIN_EVERY_S = 10.0
# tqdm's default bar shows its own rate; ours is the postfix, the same figure as the plain lines'.
BAR = "{l_bar}{bar}| {n_fmt}/{total_fmt} files [{elapsed}<{remaining}{postfix}]"
UNCOUNTED = "{n_fmt} files [{elapsed}{postfix}]"


class Progress:
    def __init__(self, walk: Any, quiet: bool = False, stream=None, every: float = PLAIN_EVERY_S):
        self.walk = walk  # has .found and .done
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.done = 0
        self.every = every
        self.t0 = self.last = time.perf_counter()
        self.bar = None
        if not quiet and self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=None, file=self.stream, dynamic_ncols=True, bar_format=UNCOUNTED)

    @property
    def total(self) -> int | None:
        return self.walk.found if self.walk.done else None

    def update(self, files: int) -> None:
        if self.quiet:
            return
        self.done += files
        now = time.perf_counter()
        rate = self.done / (now - self.t0) if now > self.t0 else 0.0
        if self.bar is not None:
            total = self.total
            if total is not None and self.bar.total != total:
                self.bar.total, self.bar.bar_format = total, BAR
            found = "" if total is not None else f", {self.walk.found} found so far"
            self.bar.set_postfix_str(f"{rate:.1f} files/s{found}", refresh=False)
            self.bar.update(files)
        elif now - self.last >= self.every:
            self.last = now
            self.stream.write(self._plain(rate, now) + "\n")
            self.stream.flush()

    def _plain(self, rate: float, now: float) -> str:
        total = self.total
        of = f"/{total}" if total is not None else f" ({self.walk.found} found so far)"
        eta = ""
        if total is not None and rate > 0:
            left = max(0.0, (total - self.done) / rate)
            eta = f", ETA {int(left // 60)}:{int(left % 60):02d}"
        return f"scanned {self.done}{of} files, {rate:.1f} files/s{eta}"

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
