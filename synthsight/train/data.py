"""Find labelled images in the folder layouts users already have, check they decode, serve them.

The layouts and the seeded train/val split live in :mod:`synthsight.datalayout` (the export finds
the same split there to calibrate and certify reduced precisions).

Every candidate file is decoded once with :func:`synthsight.image.preprocess.decode` (the same call the
dataset makes), in parallel for large sets. Files that fail are listed with their reason and
excluded; they never stop a run. Small sets keep the decoded pixels in memory.
"""

from __future__ import annotations

import csv
import functools
import json
import os
import random
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from synthsight.datalayout import CLASSES, Sample, find_samples
from synthsight.errors import DecodeError, UsageError
from synthsight.image.preprocess import PreprocessSpec, decode, decode_with
from synthsight.image.read_window import DEFAULT_MAX_PIXELS
from synthsight.machine import usable_cores

PARALLEL_FROM = 256  # below this, a process pool costs more than it saves
DEFAULT_CACHE_BYTES = 1 << 30


@dataclass
class DataIndex:
    """The checked samples of one dataset, and what was left out and why."""

    root: str
    layout: str
    train: list[Sample]
    val: list[Sample]
    classes: list[str] = field(default_factory=lambda: list(CLASSES))
    bad: list[tuple[str, str]] = field(default_factory=list)  # (path, "reason: message")
    ignored_dirs: list[str] = field(default_factory=list)
    cache: dict[str, np.ndarray] | None = None
    max_per_class: int | None = None

    @property
    def generators(self) -> list[str]:
        return sorted({s.generator for s in self.train + self.val if s.generator})

    def summary(self) -> dict:
        """Counts per split, class and generator, for the bundle's ``spec.data`` and the run log."""
        out: dict = {"roots": [self.root], "layout": self.layout, "excluded_files": len(self.bad)}
        if self.max_per_class is not None:
            out["max_per_class"] = self.max_per_class  # a sample: per class and generator, seeded
        for name, samples in (("train", self.train), ("val", self.val)):
            out[name] = {
                "n": len(samples),
                "per_class": {c: sum(s.label == i for s in samples) for i, c in enumerate(self.classes)},
            }
            if self.generators:
                out[name]["per_generator"] = dict(sorted(Counter(s.generator for s in samples).items()))
        return out

    def found_line(self) -> str:
        """What `train` found, in one line before epoch 1: counts per split and class (and generator)."""
        summary = self.summary()
        parts = []
        for name in ("train", "val"):
            counts = ", ".join(f"{c} {n}" for c, n in summary[name]["per_class"].items())
            gens = summary[name].get("per_generator")
            more = f"; {len(gens)} generators: " + ", ".join(f"{g} {n}" for g, n in gens.items()) if gens else ""
            parts.append(f"{name} {summary[name]['n']} ({counts}{more})")
        bad = f", {len(self.bad)} files excluded (excluded_files.csv)" if self.bad else ""
        return f"data {self.root} ({self.layout}): {', '.join(parts)}{bad}"

    def write_report(self, out_dir: str | Path, audit: dict | None = None) -> Path:
        """``excluded_files.csv`` (path, reason) and ``data_report.json`` in ``out_dir`` (with the shortcut
        audit's summary, when `train` ran one)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "excluded_files.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["path", "error"])
            writer.writerows(self.bad)
        report = {**self.summary(), "ignored_dirs": self.ignored_dirs, "excluded": [p for p, _ in self.bad]}
        if audit is not None:
            report["audit"] = audit
        path = out / "data_report.json"
        path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        return path


def discover(
    root: str | Path,
    spec: PreprocessSpec,
    seed: int = 42,
    val_fraction: float = 0.1,
    workers: int | None = None,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    require_val: bool = True,
    max_per_class: int | None = None,
) -> DataIndex:
    """Index ``root`` (any layout above), decode-check every file, split when there is no split.

    ``max_per_class`` keeps a seeded random sample of at most that many files per class and generator
    in each split (a small balanced set for quick runs; files are referenced, never copied), before
    the decode check, so sampling a 60k-image set does not decode all of it.

    Raises:
        UsageError: when ``root`` is missing or holds no recognisable class folders.
    """
    base = Path(root)
    if not base.is_dir():
        raise UsageError(f"data folder not found: {base}")
    layout, train, val, ignored = find_samples(base, seed, val_fraction)
    if not train and not val:
        raise UsageError(
            f"{base}: no class folders found (expected e.g. train/ai + train/nature, train/fake + train/real, "
            "or ai/ + real/ directly)"
        )
    if max_per_class is not None:
        train, val = _sample(train, max_per_class, seed, "train"), _sample(val, max_per_class, seed, "val")
    # The absolute root: eval and export find the training files again from any working directory.
    index = DataIndex(str(base.resolve()), layout, train, val, ignored_dirs=ignored, max_per_class=max_per_class)
    _check(index, spec, workers, cache_bytes, max_pixels)
    if require_val and not index.val:
        raise UsageError(f"{base}: no validation images (add a val/ split or use a folder without splits)")
    return index


def _sample(samples: list[Sample], n: int, seed: int, split: str) -> list[Sample]:
    """At most ``n`` samples per (generator, label), chosen with a seed; the kept ones stay in their order."""
    if n < 1:
        raise UsageError(f"--max-per-class must be at least 1, got {n}")
    groups: dict[tuple[str, int], list[int]] = {}
    for i, s in enumerate(samples):
        groups.setdefault((s.generator, s.label), []).append(i)
    keep: set[int] = set()
    for (generator, label), members in sorted(groups.items()):
        rng = random.Random(f"{seed}:{split}:{generator}:{label}")
        keep.update(members if len(members) <= n else rng.sample(members, n))
    return [s for i, s in enumerate(samples) if i in keep]


def _check_one(args: tuple[str, PreprocessSpec, int, bool]) -> tuple[str, np.ndarray | None, str]:
    path, spec, max_pixels, keep = args
    try:
        pixels = decode(path, spec, max_pixels).pixels
    except DecodeError as exc:
        return path, None, str(exc)
    return path, (pixels if keep else None), ""


def _check(index: DataIndex, spec: PreprocessSpec, workers, cache_bytes: int, max_pixels: int) -> None:
    """Decode every file once; drop failures into ``index.bad``; keep pixels when they fit the cache."""
    samples = index.train + index.val
    keep = len(samples) * spec.rows * spec.size * spec.size * 3 <= cache_bytes
    jobs = [(s.path, spec, max_pixels, keep) for s in samples]
    workers = workers if workers is not None else min(8, usable_cores())
    if workers > 1 and len(jobs) >= PARALLEL_FROM:
        with ProcessPoolExecutor(workers, initializer=_single_thread) as pool:
            results = list(pool.map(_check_one, jobs, chunksize=64))
    else:
        results = [_check_one(j) for j in jobs]
    bad = {path: err for path, _, err in results if err}
    index.bad = sorted(bad.items())
    index.train = [s for s in index.train if s.path not in bad]
    index.val = [s for s in index.val if s.path not in bad]
    index.cache = {path: px for path, px, err in results if px is not None} if keep else None


def _single_thread() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"


class ImageDataset:
    """``torch`` map-style dataset: (uint8 HWC tensor from :func:`preprocess.decode`, label).

    Train and eval use this same class (flips are applied to training batches in the loop),
    so a file reaches the model exactly as the scanner would feed it (a tiles model: its tiles,
    ``[n, S, S, 3]``, batched by :func:`collate_tiles`). With a ``transform`` (``train --resize tiles``:
    one random native window), each file is decoded afresh and the transform takes the decoded image
    to the model's input, with random draws seeded by (``seed``, ``epoch``, index): the same sample
    gets the same draws in whichever loader worker makes it. ``augment`` (``train --augment`` /
    ``--align format``, train/augment.py) then degrades the model's input, seeded the same way.
    """

    def __init__(
        self,
        samples: list[Sample],
        spec: PreprocessSpec,
        cache: dict[str, np.ndarray] | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        transform=None,
        seed: int = 0,
        augment=None,
    ):
        self.samples = samples
        self.spec = spec
        self.cache = None if transform is not None else cache
        self.max_pixels = max_pixels
        self.transform, self.seed, self.epoch = transform, seed, 0
        self.augment = augment

    def __len__(self) -> int:
        return len(self.samples)

    def pixels(self, i: int) -> np.ndarray:
        sample = self.samples[i]
        if self.transform is not None:
            rng = np.random.default_rng([self.seed, self.epoch, i])
            finish = functools.partial(self.transform, rng=rng)
            return decode_with(sample.path, finish, self.max_pixels, self.transform.draft).pixels
        if self.cache is not None and sample.path in self.cache:
            return self.cache[sample.path]
        return decode(sample.path, self.spec, self.max_pixels).pixels

    def __getitem__(self, i: int):
        import torch

        try:
            pixels = self.pixels(i)
        except DecodeError:
            # The file went bad after the check (edited or deleted mid-run): flagged, dropped by collate.
            return torch.zeros((self.spec.size, self.spec.size, 3), dtype=torch.uint8), -1
        if self.augment is not None:
            # its own stream (the 4th key), so the tiles' window draws stay what they were without it
            pixels = self.augment(pixels, np.random.default_rng([self.seed, self.epoch, i, 1]))
        return torch.from_numpy(np.array(pixels, copy=True)), self.samples[i].label


def collate(batch):
    """Stack a batch, dropping samples that failed to decode (label -1) instead of substituting others."""
    import torch

    kept = [(x, y) for x, y in batch if y >= 0]
    if not kept:
        return torch.zeros((0, 1, 1, 3), dtype=torch.uint8), torch.zeros((0,), dtype=torch.long)
    return torch.stack([x for x, _ in kept]), torch.tensor([y for _, y in kept], dtype=torch.long)


def collate_tiles(batch):
    """A batch of tiled images: (their tiles one after the other ``[sum n, S, S, 3]``, labels, tiles per image).

    Samples that failed to decode are dropped, as :func:`collate` does.
    """
    import torch

    kept = [(x.reshape((-1, *x.shape[-3:])), y) for x, y in batch if y >= 0]
    if not kept:
        return torch.zeros((0, 1, 1, 3), dtype=torch.uint8), torch.zeros((0,), dtype=torch.long), []
    labels = torch.tensor([y for _, y in kept], dtype=torch.long)
    return torch.cat([x for x, _ in kept]), labels, [len(x) for x, _ in kept]


def collate_for(spec: PreprocessSpec):
    """The collate function of a dataset made by ``spec`` (tiles: :func:`collate_tiles`)."""
    return collate_tiles if spec.resize == "tiles" else collate
