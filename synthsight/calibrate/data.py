"""The calibration images: found in any layout `train` reads, checked against the training files, hashed,
decoded exactly as a scan decodes them (``scanner.worker.read_file``), failures listed and never fatal.

The file list's SHA-256 (``data.files_sha256`` of a calibration) is over the lines
``"<file sha256>  <class>  <path relative to DATA>\\n"`` of the images used, sorted by path: anyone holding
the folder can recompute it, and a changed, added or removed image changes it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from synthsight.datalayout import CLASSES, find_samples
from synthsight.errors import UsageError
from synthsight.image.read_window import DEFAULT_MAX_PIXELS
from synthsight.machine import usable_cores
from synthsight.scanner.worker import FileMeta, ReadOptions, read_file
from synthsight.spec import ModelSpec, PreprocessSpec

PARALLEL_FROM = 256  # below this, a process pool costs more than it saves
CHUNK = 512  # files decoded before they are run: the pixels of one chunk at most are held


@dataclass
class CalibrationImages:
    """The decoded calibration images (in path order) and the files left out, with why."""

    root: Path
    layout: str
    paths: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)  # index into CLASSES
    metas: list[FileMeta] = field(default_factory=list)
    logits: np.ndarray | None = None  # [N, classes], in the order of ``paths``
    excluded: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {c: sum(label == i for label in self.labels) for i, c in enumerate(CLASSES)}

    def files_sha256(self) -> str:
        lines = sorted(
            f"{m.sha256}  {CLASSES[label]}  {Path(p).relative_to(self.root).as_posix()}\n"
            for p, label, m in zip(self.paths, self.labels, self.metas, strict=True)
        )
        return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()

    def describe(self) -> dict:
        return {
            "folder": str(self.root), "layout": self.layout, "files": len(self.paths),
            "files_sha256": self.files_sha256(), "excluded": len(self.excluded), "per_class": self.counts(),
        }  # fmt: skip


def find_images(root: str | Path) -> tuple[str, list[tuple[str, int]]]:
    """(layout, [(path, label)]) of every labelled image under ``root``: all splits, nothing opened."""
    base = Path(root).resolve()
    if not base.is_dir():
        raise UsageError(f"calibration data not found: {root}")
    layout, train, val, _ = find_samples(base, 0, 0.0)
    found = sorted({(s.path, s.label) for s in train + val})
    if not found:
        raise UsageError(
            f"{root}: no class folders found (expected e.g. ai/ + real/, or train/fake + train/real: any layout "
            "`synthsight train` reads)"
        )
    return layout, found


def training_overlap(spec: ModelSpec, files: list[str]) -> tuple[list[str], list[str], str]:
    """(calibration files among the bundle's training files, among its validation files, why unchecked)."""
    from synthsight.export.calibration import bundle_images

    recorded = bundle_images(spec)
    if recorded.missing:
        return [], [], recorded.missing
    train = {os.path.realpath(p) for p in recorded.train}
    val = {os.path.realpath(p) for p in recorded.val}
    real = [(p, os.path.realpath(p)) for p in files]
    return [p for p, r in real if r in train], [p for p, r in real if r in val], ""


def _read(args: tuple[str, ReadOptions]) -> tuple[FileMeta, np.ndarray | None]:
    return read_file(*args)


def _single_thread() -> None:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"


def score_images(
    root: str | Path,
    found: list[tuple[str, int]],
    layout: str,
    spec: PreprocessSpec,
    infer: Callable[[np.ndarray], np.ndarray],
    batch_size: int = 64,
    workers: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> CalibrationImages:
    """Hash, decode (as a scan would) and run every file, CHUNK at a time; failures land in ``excluded``."""
    options = ReadOptions(spec, max_pixels=max_pixels, hash_files=True, provenance=None)
    workers = min(8, usable_cores()) if workers is None else workers
    parallel = workers > 1 and len(found) >= PARALLEL_FROM
    pool = ProcessPoolExecutor(workers, initializer=_single_thread) if parallel else None
    images = CalibrationImages(Path(root).resolve(), layout)
    logits = []
    try:
        for start in range(0, len(found), CHUNK):
            part = found[start : start + CHUNK]
            jobs = [(path, options) for path, _ in part]
            results = list(pool.map(_read, jobs, chunksize=16)) if pool else [_read(job) for job in jobs]
            arrays = []
            for (path, label), (meta, pixels) in zip(part, results, strict=True):
                if pixels is None:
                    images.excluded.append((path, meta.error or "no pixels"))
                    continue
                images.paths.append(path)
                images.labels.append(label)
                images.metas.append(meta)
                arrays.append(pixels)
            for i in range(0, len(arrays), batch_size):
                logits.append(np.asarray(infer(np.stack(arrays[i : i + batch_size])), dtype=np.float64))
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    images.logits = np.concatenate(logits) if logits else np.zeros((0, 2))
    return images
