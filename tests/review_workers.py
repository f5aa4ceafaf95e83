"""Work functions for the thumbnail pool's fault tests (module level: the pool's processes import them)."""

from __future__ import annotations

import os
import signal

from synthsight.review.thumbs import Job, Media, make_media


def crash_on_poison(job: Job, folder: str, max_pixels: int) -> Media:
    """Like make_media, but the process dies (SIGKILL, as a segfaulting decoder would) on files named poison*."""
    if os.path.basename(job.path).startswith("poison"):
        os.kill(os.getpid(), signal.SIGKILL)
    return make_media(job, folder, max_pixels)
