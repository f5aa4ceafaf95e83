"""Thumbnails and Grad-CAM overlays brought into the review page's folder.

A thumbnail is made from the scanned file with the project's own decoder
(:func:`synthsight.image.preprocess.thumbnail`: the scan's pixel cap, EXIF orientation, the same mode
rules), at most :data:`THUMB_SIDE` pixels on its long side, saved as JPEG and named by the file's
SHA-256, so a picture held under several names is made once and a later page reuses it. The file
is read once into memory, hashed, and decoded from those bytes: when its hash is no longer the one
the record holds, the file changed since the scan and gets no preview (the page would show another
picture than the one judged). Scanned files are only ever opened for reading.

An overlay path comes from the report, which anyone may have edited: it is copied only when it is a
regular PNG file of bounded size that Pillow reads as PNG, and named by its own SHA-256.

Work runs in a pool of processes (forkserver: the caller may hold inference threads). A decoder
that crashes its process costs only that file: after a crash the remaining files are done one at
a time, so the file that crashes again is the one named.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from synthsight.atomic import Atomic
from synthsight.errors import DecodeError
from synthsight.image.read_window import DEFAULT_MAX_PIXELS

THUMB_SIDE = 160  # px, long side; shown at 80 CSS px, sharp on 2x screens
THUMB_QUALITY = 82
MAX_SOURCE_BYTES = 512 << 20  # a file is read whole to hash and decode the same bytes
MAX_OVERLAY_BYTES = 32 << 20
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Job:
    """One record's media: the scanned file, the SHA-256 the record holds ('' if none), its overlay path."""

    path: str
    sha256: str
    overlay: str = ""


@dataclass
class Media:
    """What was made for one job: file stems (64 hex digits) inside the folder, or why not."""

    thumb: str = ""
    thumb_note: str = ""
    overlay: str = ""
    overlay_note: str = ""


def make_media(job: Job, folder: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> Media:
    """Thumbnail (and overlay copy) for ``job`` into ``folder``/thumbs and ``folder``/gradcam; never raises."""
    media = Media()
    try:
        media.thumb = _thumbnail(job, Path(folder) / "thumbs", max_pixels)
    except _NoPreview as why:
        media.thumb_note = str(why)
    except Exception as exc:  # one file's surprise must not cost the page
        media.thumb_note = f"no preview ({type(exc).__name__}: {exc})"
    if job.overlay:
        try:
            media.overlay = _overlay(job.overlay, Path(folder) / "gradcam")
        except _NoPreview as why:
            media.overlay_note = str(why)
        except Exception as exc:
            media.overlay_note = f"overlay not copied ({type(exc).__name__}: {exc})"
    return media


class _NoPreview(Exception):
    """Why a file gets a placeholder; its message is shown on the page."""


def _read(path: str, limit: int) -> bytes:
    try:
        # non-blocking: a report may name a FIFO, whose open would wait for a writer forever
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise _NoPreview("file not found (moved or deleted since the scan)") from None
    except OSError as exc:
        raise _NoPreview(f"cannot read: {exc.strerror or type(exc).__name__}") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _NoPreview("not a regular file")
        try:
            data = fh.read(limit + 1)
        except OSError as exc:
            raise _NoPreview(f"cannot read: {exc.strerror or type(exc).__name__}") from None
    if len(data) > limit:
        raise _NoPreview(f"larger than {limit >> 20} MiB")
    return data


def _thumbnail(job: Job, out: Path, max_pixels: int) -> str:
    from PIL import Image

    from synthsight.image.preprocess import thumbnail

    data = _read(job.path, MAX_SOURCE_BYTES)
    digest = hashlib.sha256(data).hexdigest()
    if job.sha256 and digest != job.sha256.lower():
        raise _NoPreview("the file changed since the scan (its SHA-256 differs from the record's)")
    target = out / f"{digest}.jpg"
    if target.is_file():
        return digest
    try:
        decoded = thumbnail(io.BytesIO(data), THUMB_SIDE, max_pixels)
    except DecodeError as exc:
        raise _NoPreview(str(exc)) from None
    _write(target, lambda fh: Image.fromarray(decoded.pixels).save(fh, "JPEG", quality=THUMB_QUALITY))
    return digest


def _overlay(path: str, out: Path) -> str:
    from PIL import Image

    if not os.path.isfile(path) or os.path.islink(path):
        raise _NoPreview("overlay file missing or not a regular file")
    data = _read(path, MAX_OVERLAY_BYTES)
    if not data.startswith(PNG_SIGNATURE):
        raise _NoPreview("overlay is not a PNG file")
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format != "PNG":
                raise _NoPreview("overlay is not a PNG file")
            im.verify()
    except _NoPreview:
        raise
    except Exception as exc:  # Pillow raises many kinds on damaged files
        raise _NoPreview(f"overlay unreadable ({type(exc).__name__})") from None
    digest = hashlib.sha256(data).hexdigest()
    target = out / f"{digest}.png"
    if not target.is_file():
        _write(target, lambda fh: fh.write(data))
    return digest


def _write(target: Path, save: Callable) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with Atomic(target) as tmp, open(tmp, "wb") as fh:
            save(fh)
    except OSError as exc:
        raise _NoPreview(f"cannot write the preview: {exc.strerror or exc}") from None


def make_all(
    jobs: list[Job],
    folder: Path,
    workers: int,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: Callable[[int], None] | None = None,
    work: Callable[[Job, str, int], Media] = make_media,
) -> list[Media]:
    """``work`` (:func:`make_media`) for every job, in ``workers`` processes (0: in this one), in job order."""
    done: dict[int, Media] = {}
    tick = progress or (lambda n: None)
    if workers <= 0 or len(jobs) <= 1:
        for k, job in enumerate(jobs):
            done[k] = work(job, str(folder), max_pixels)
            tick(1)
        return [done[k] for k in range(len(jobs))]
    crashed = _pooled(work, jobs, range(len(jobs)), folder, workers, max_pixels, done, tick)
    _one_by_one(work, jobs, crashed, folder, max_pixels, done, tick)
    return [done[k] for k in range(len(jobs))]


def _pooled(
    work: Callable,
    jobs: list[Job],
    ks: Iterable[int],
    folder: Path,
    workers: int,
    max_pixels: int,
    done: dict,
    tick: Callable,
) -> list[int]:
    """Run jobs ``ks``; returns those left unfinished when a worker process died."""
    ks = list(ks)
    pool = _pool(workers)
    try:
        futures = {k: pool.submit(work, jobs[k], str(folder), max_pixels) for k in ks}
        for k, future in futures.items():
            try:
                done[k] = future.result()
                tick(1)
            except BrokenProcessPool:
                return [j for j in ks if j not in done]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return []


def _one_by_one(
    work: Callable, jobs: list[Job], ks: list[int], folder: Path, max_pixels: int, done: dict, tick: Callable
) -> None:
    """After a crash: one file at a time in one process, so the file that crashes it again is the one named."""
    todo = list(ks)
    while todo:
        pool = _pool(1)
        try:
            while todo:
                k = todo.pop(0)
                try:
                    done[k] = pool.submit(work, jobs[k], str(folder), max_pixels).result()
                except BrokenProcessPool:
                    done[k] = Media(thumb_note="the decoder crashed on this file", overlay_note="not copied")
                    break
                finally:
                    tick(1)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _pool(workers: int) -> ProcessPoolExecutor:
    import multiprocessing

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])  # not '__main__' (the default): the CLI's main module runs a command
    return ProcessPoolExecutor(workers, mp_context=ctx)
