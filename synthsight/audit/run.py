"""Walk a training folder, read every file's header facts, summarise them per split, class and generator,
and find the facts that alone separate the classes (:mod:`synthsight.audit.shortcuts`).

Files are found by the layouts training reads (:mod:`synthsight.datalayout`), so the audit sees the split
training will use. Headers are read in a process pool on big folders; nothing is decoded.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from synthsight.audit.facts import FileFacts, read_facts
from synthsight.audit.shortcuts import SHORTCUT_AUC, classify
from synthsight.datalayout import CLASSES, find_samples
from synthsight.errors import UsageError
from synthsight.machine import usable_cores

PARALLEL_FROM = 1000  # below this a process pool costs more than it saves (~600 headers/s per core)
CHUNK = 256


@dataclass
class Audit:
    """The audit of one folder: every file's facts, the summary and the findings."""

    root: str
    layout: str
    files: list[FileFacts]
    seconds: float
    shortcuts: dict = field(default_factory=dict)

    @property
    def readable(self) -> list[FileFacts]:
        return [f for f in self.files if not f.error]

    @property
    def bad(self) -> list[FileFacts]:
        return [f for f in self.files if f.error]

    @property
    def findings(self) -> list[dict]:
        return list(self.shortcuts.get("findings", []))

    def real_jpeg_qualities(self) -> list[int]:
        """The JPEG qualities of the real class's training files (what ``train --align format`` draws from)."""
        real = [f for f in self.readable if f.label == CLASSES[1] and f.split == "train"]
        return [f.jpeg_quality for f in real if f.jpeg_quality is not None]

    def summary(self) -> dict:
        """JSON data: counts and per-(split, class[, generator]) statistics, the AUCs, findings and bad files."""
        groups: dict[str, list[FileFacts]] = {}
        for f in self.readable:
            groups.setdefault(f"{f.split}/{f.label}", []).append(f)
            if f.generator:
                groups.setdefault(f"{f.split}/{f.label}/{f.generator}", []).append(f)
        return {
            "root": self.root,
            "layout": self.layout,
            "files": len(self.files),
            "readable": len(self.readable),
            "seconds": round(self.seconds, 3),
            "files_per_second": round(len(self.files) / self.seconds, 1) if self.seconds > 0 else None,
            "shortcut_auc": SHORTCUT_AUC,
            "groups": {name: describe(members) for name, members in sorted(groups.items())},
            "classifier": self.shortcuts,
            "bad_files": [{"path": f.path, "error": f.error} for f in self.bad],
        }

    def write(self, json_path: str | Path) -> Path:
        path = Path(json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.summary(), indent=2) + "\n", encoding="utf-8")
        return path


def audit(root: str | Path, seed: int = 42, val_fraction: float = 0.1, workers: int | None = None) -> Audit:
    """Audit the labelled images under ``root`` (the layouts of docs/training.md).

    Raises:
        UsageError: ``root`` is missing, holds no class folders, or not one file's header is readable.
    """
    base = Path(root)
    if not base.is_dir():
        raise UsageError(f"data folder not found: {base}")
    layout, train, val, _ = find_samples(base, seed, val_fraction)
    splits = (("train", train), ("val", val))
    jobs = [(s.path, CLASSES[s.label], split, s.generator) for split, samples in splits for s in samples]
    if not jobs:
        raise UsageError(f"{base}: no class folders with images found (expected e.g. train/ai + train/nature)")
    t0 = time.perf_counter()
    files = _read_all(jobs, workers)
    result = Audit(str(base.resolve()), layout, files, time.perf_counter() - t0)
    if not result.readable:
        raise UsageError(f"{base}: none of its {len(files)} image files has a readable header")
    result.shortcuts = classify(result.readable, (CLASSES[0], CLASSES[1]))
    return result


def _read_one(job: tuple[str, str, str, str]) -> FileFacts:
    return read_facts(*job)


def _read_all(jobs: list[tuple[str, str, str, str]], workers: int | None) -> list[FileFacts]:
    workers = workers if workers is not None else min(8, usable_cores())
    if workers > 1 and len(jobs) >= PARALLEL_FROM:
        with ProcessPoolExecutor(workers, initializer=_single_thread) as pool:
            return list(pool.map(_read_one, jobs, chunksize=CHUNK))
    return [_read_one(j) for j in jobs]


def _single_thread() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"


def describe(files: list[FileFacts]) -> dict:
    """One group's statistics: shares of each categorical fact, quartiles of each numeric one."""

    def shares(values) -> dict[str, float]:
        return {str(k): round(n / len(files), 4) for k, n in Counter(values).most_common(8)}

    def quartiles(values) -> list[float]:
        return [round(float(q), 4) for q in np.percentile(np.asarray(values, dtype=np.float64), (25, 50, 75))]

    jpeg = [f.jpeg_quality for f in files if f.jpeg_quality is not None]
    return {
        "n": len(files),
        "format": shares(f.format for f in files),
        "width": quartiles([f.width for f in files]),
        "height": quartiles([f.height for f in files]),
        "aspect_ratio": quartiles([f.aspect for f in files]),
        "megapixels": quartiles([f.megapixels for f in files]),
        "file_size": quartiles([f.file_bytes for f in files]),
        "jpeg_quality": quartiles(jpeg) if jpeg else [],
        "chroma_subsampling": shares(f.subsampling or "none" for f in files),
        "exif": round(sum(f.exif for f in files) / len(files), 4),
        "camera_make": shares(f.camera_make or "none" for f in files),
        "icc_profile": round(sum(f.icc for f in files) / len(files), 4),
        "bit_depth": shares(f.bit_depth for f in files),
        "mode": shares(f.mode for f in files),
    }


def console_lines(result: Audit) -> list[str]:
    """What ``audit`` and ``train`` print: a count line, one warning line per finding, the bad files."""
    shortcut = result.shortcuts
    lines = [
        f"audit: {len(result.files)} files ({len(result.bad)} unreadable) in {result.seconds:.1f} s; "
        + (shortcut["skipped"] if "skipped" in shortcut else f"all facts together AUC {shortcut['all']:.2f}")
    ]
    lines += [f"warning: {item['message']}" for item in result.findings]
    lines += [f"unreadable: {f.path}: {f.error}" for f in result.bad[:20]]
    if len(result.bad) > 20:
        lines.append(f"... and {len(result.bad) - 20} more unreadable files (listed in the JSON)")
    return lines
