"""Find labelled images in the folder layouts users already have, check they decode, serve them.

Layouts (class folders are matched by alias through :func:`synthsight.spec.canonical_class`):

- ``ROOT/{train,val}/{ai,nature}``          GenImage (``validation``/``valid`` also accepted)
- ``ROOT/{train,test}/{fake,real}``         Kaggle style: ``test`` serves as validation when there is no ``val``
- ``ROOT/<generator>/.../{train,val}/...``  a parent of several generator roots (GenImage per-generator
                                            folders, up to 3 levels deep); each sample keeps its generator name
- ``ROOT/{ai,real}``                        no split: a seeded, stratified 90/10 train/val split

Every candidate file is decoded once with :func:`synthsight.preprocess.decode` (the same call the
dataset makes), in parallel for large sets. Files that fail are listed with their reason and
excluded; they never stop a run. Small sets keep the decoded pixels in memory.
"""

from __future__ import annotations

import csv
import json
import os
import random
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from synthsight.errors import DecodeError, UsageError
from synthsight.formats import IMAGE_EXTENSIONS
from synthsight.preprocess import DEFAULT_MAX_PIXELS, PreprocessSpec, decode
from synthsight.runtime.base import usable_cores
from synthsight.spec import AI_CLASS, REAL_CLASS, canonical_class

CLASSES = [AI_CLASS, REAL_CLASS]  # logit order, as ModelSpec's default
TRAIN_DIRS = ("train", "training")
VAL_DIRS = ("val", "validation", "valid", "test")  # first found wins
MAX_DEPTH = 3
PARALLEL_FROM = 256  # below this, a process pool costs more than it saves
DEFAULT_CACHE_BYTES = 1 << 30


@dataclass(frozen=True)
class Sample:
    path: str
    label: int  # index into CLASSES
    generator: str = ""


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

    def write_report(self, out_dir: str | Path) -> Path:
        """``excluded_files.csv`` (path, reason) and ``data_report.json`` in ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "excluded_files.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["path", "error"])
            writer.writerows(self.bad)
        report = {**self.summary(), "ignored_dirs": self.ignored_dirs, "excluded": [p for p, _ in self.bad]}
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
    layout, train, val, ignored = _find_samples(base, seed, val_fraction)
    if not train and not val:
        raise UsageError(
            f"{base}: no class folders found (expected e.g. train/ai + train/nature, train/fake + train/real, "
            "or ai/ + real/ directly)"
        )
    if max_per_class is not None:
        train, val = _sample(train, max_per_class, seed, "train"), _sample(val, max_per_class, seed, "val")
    index = DataIndex(str(base), layout, train, val, ignored_dirs=ignored, max_per_class=max_per_class)
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


def _find_samples(base: Path, seed: int, val_fraction: float):
    split = _split_dirs(base)
    if split:
        return "split", *_from_split(base, split, ""), _unknown(base, split)
    if _class_dirs(base):
        train, val, ignored = _from_unsplit(base, "", seed, val_fraction)
        return "unsplit-90/10", train, val, ignored
    roots = _generator_roots(base)
    train, val, ignored = [], [], []
    for gen_root in roots:
        name = gen_root.relative_to(base).parts[0]
        split = _split_dirs(gen_root)
        if split:
            t, v = _from_split(gen_root, split, name)
            ignored += _unknown(gen_root, split)
        else:
            t, v, ign = _from_unsplit(gen_root, name, seed, val_fraction)
            ignored += ign
        train += t
        val += v
    return "generators", train, val, ignored


def _split_dirs(folder: Path) -> dict[str, Path]:
    """{"train": dir, "val": dir} when ``folder`` has a train split holding class folders."""
    children = {p.name.lower(): p for p in _subdirs(folder)}
    found = {}
    train = next((children[n] for n in TRAIN_DIRS if n in children), None)
    if train is not None and _class_dirs(train):
        found["train"] = train
        val = next((children[n] for n in VAL_DIRS if n in children and _class_dirs(children[n])), None)
        if val is not None:
            found["val"] = val
    return found


def _class_dirs(folder: Path) -> dict[Path, int]:
    out = {}
    for sub in _subdirs(folder):
        name = canonical_class(sub.name)
        if name is not None:
            out[sub] = CLASSES.index(name)
    return out


def _subdirs(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def _unknown(folder: Path, split: dict[str, Path]) -> list[str]:
    ignored = [str(p) for p in _subdirs(folder) if p not in split.values()]
    for d in split.values():
        ignored += [str(p) for p in _subdirs(d) if canonical_class(p.name) is None]
    return ignored


def _files(folder: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out += [Path(dirpath) / f for f in sorted(filenames) if Path(f).suffix.lower() in IMAGE_EXTENSIONS]
    return out


def _from_split(root: Path, split: dict[str, Path], generator: str) -> tuple[list[Sample], list[Sample]]:
    parts = []
    for key in ("train", "val"):
        folder = split.get(key)
        samples = []
        if folder is not None:
            for class_dir, label in _class_dirs(folder).items():
                samples += [Sample(str(p), label, generator) for p in _files(class_dir)]
        parts.append(samples)
    return parts[0], parts[1]


def _from_unsplit(root: Path, generator: str, seed: int, val_fraction: float):
    """Seeded stratified split: per class, shuffle and put ``val_fraction`` (at least one) in val."""
    train, val = [], []
    classes = _class_dirs(root)
    rng = random.Random(f"{seed}:{generator}")
    for class_dir, label in classes.items():
        samples = [Sample(str(p), label, generator) for p in _files(class_dir)]
        rng.shuffle(samples)
        # val_fraction 0 keeps everything in one list (evaluation of an unsplit folder)
        n_val = max(1, round(len(samples) * val_fraction)) if len(samples) > 1 and val_fraction > 0 else 0
        val += samples[:n_val]
        train += samples[n_val:]
    ignored = [str(p) for p in _subdirs(root) if p not in classes]
    return train, val, ignored


def _generator_roots(base: Path) -> list[Path]:
    """Folders under ``base`` (up to MAX_DEPTH levels) that are datasets by themselves."""
    roots, frontier = [], [base]
    for _ in range(MAX_DEPTH):
        nxt = []
        for folder in frontier:
            for sub in _subdirs(folder):
                if _split_dirs(sub) or _class_dirs(sub):
                    roots.append(sub)
                else:
                    nxt.append(sub)
        frontier = nxt
    return roots


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
    keep = len(samples) * spec.size * spec.size * 3 <= cache_bytes
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
    so a file reaches the model exactly as the scanner would feed it.
    """

    def __init__(
        self,
        samples: list[Sample],
        spec: PreprocessSpec,
        cache: dict[str, np.ndarray] | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ):
        self.samples = samples
        self.spec = spec
        self.cache = cache
        self.max_pixels = max_pixels

    def __len__(self) -> int:
        return len(self.samples)

    def pixels(self, i: int) -> np.ndarray:
        sample = self.samples[i]
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
        return torch.from_numpy(np.array(pixels, copy=True)), self.samples[i].label


def collate(batch):
    """Stack a batch, dropping samples that failed to decode (label -1) instead of substituting others."""
    import torch

    kept = [(x, y) for x, y in batch if y >= 0]
    if not kept:
        return torch.zeros((0, 1, 1, 3), dtype=torch.uint8), torch.zeros((0,), dtype=torch.long)
    return torch.stack([x for x, _ in kept]), torch.tensor([y for _, y in kept], dtype=torch.long)
