"""Where labelled images lie in a dataset folder: the layouts, the train/val split, nothing decoded.

Training reads its samples through this module, and so does the export, which calibrates INT8 on
the bundle's training images and certifies reduced precisions on its validation images: both must
find the same split from the ``roots`` and ``train_config`` recorded in a bundle's ``spec.data``.

Layouts (class folders are matched by alias through :func:`synthsight.spec.canonical_class`):

- ``ROOT/{train,val}/{ai,nature}``          GenImage (``validation``/``valid`` also accepted)
- ``ROOT/{train,test}/{fake,real}``         Kaggle style: ``test`` serves as validation when there is no ``val``
- ``ROOT/<generator>/.../{train,val}/...``  a parent of several generator roots (GenImage per-generator
                                            folders, up to 3 levels deep); each sample keeps its generator name
- ``ROOT/{ai,real}``                        no split: a seeded, stratified 90/10 train/val split
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from synthsight.image.formats import image_files
from synthsight.spec import AI_CLASS, REAL_CLASS, ModelSpec, canonical_class

CLASSES = [AI_CLASS, REAL_CLASS]  # logit order, as ModelSpec's default
TRAIN_DIRS = ("train", "training")
VAL_DIRS = ("val", "validation", "valid", "test")  # first found wins
MAX_DEPTH = 3


@dataclass(frozen=True)
class Sample:
    path: str
    label: int  # index into CLASSES
    generator: str = ""


def find_samples(base: Path, seed: int, val_fraction: float) -> tuple[str, list[Sample], list[Sample], list[str]]:
    """(layout, train samples, validation samples, ignored folders) of ``base``, in a stable order.

    The split is the one training used: a folder's own train/val split, else the seeded
    ``val_fraction`` split per class (and per generator). Files are not opened.
    """
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


@dataclass(frozen=True)
class BundleImages:
    """Where the bundle's training and validation images are, or why they cannot be found."""

    train: list[str]
    val: list[str]
    root: str
    missing: str = ""  # why there are none (empty when found)


def bundle_images(spec: ModelSpec) -> BundleImages:
    """The training and validation files recorded in ``spec.data`` (files are listed, not opened): what the
    export calibrates and certifies on, and what `eval` leaves out. With ``--max-per-class`` training used a
    sample of ``train``; every file of the split is listed (leaving them all out of an evaluation is safe)."""
    data = spec.data or {}
    roots = [r for r in data.get("roots") or [] if isinstance(r, str)]
    if not roots:
        return BundleImages([], [], "", "the bundle records no training data (spec.data has no roots)")
    config = data.get("train_config") or {}
    train, val = [], []
    for root in roots:
        if not Path(root).is_dir():
            return BundleImages([], [], root, f"the bundle's training data {root} is not on this machine")
        _, t, v, _ = find_samples(Path(root), int(config.get("seed", 42)), float(config.get("val_fraction", 0.1)))
        train += [s.path for s in t]
        val += [s.path for s in v]
    if not train and not val:
        return BundleImages([], [], roots[0], f"no labelled images found under {roots[0]} any more")
    return BundleImages(train, val, roots[0])


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


def _from_split(root: Path, split: dict[str, Path], generator: str) -> tuple[list[Sample], list[Sample]]:
    parts = []
    for key in ("train", "val"):
        folder = split.get(key)
        samples = []
        if folder is not None:
            for class_dir, label in _class_dirs(folder).items():
                samples += [Sample(str(p), label, generator) for p in image_files(class_dir)]
        parts.append(samples)
    return parts[0], parts[1]


def _from_unsplit(root: Path, generator: str, seed: int, val_fraction: float):
    """Seeded stratified split: per class, shuffle and put ``val_fraction`` (at least one) in val."""
    train, val = [], []
    classes = _class_dirs(root)
    rng = random.Random(f"{seed}:{generator}")
    for class_dir, label in classes.items():
        samples = [Sample(str(p), label, generator) for p in image_files(class_dir)]
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
