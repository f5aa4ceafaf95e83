"""The images a reduced-precision export is calibrated and certified on: the bundle's own data first.

A bundle's ``spec.data`` records where it was trained (``roots``) and how the split was made
(``train_config``: seed, val_fraction), so :mod:`synthsight.datalayout` finds the same train and
validation images again. INT8 is calibrated on a seeded sample of the *training* images (or of
``--calibration-data DIR``); certificates are measured on the *validation* images plus any
``--calibration-data`` and ``--check-images`` folders. Noise and synthetic patterns are never used:
they would calibrate the activation ranges of images nobody scans.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from synthsight.datalayout import bundle_images
from synthsight.errors import DecodeError, UsageError
from synthsight.export.verify import MAX_CHECK_IMAGES, CheckSet
from synthsight.image.formats import image_files
from synthsight.image.preprocess import PreprocessSpec, decode, stack_inputs
from synthsight.spec import ModelSpec

DEFAULT_CALIBRATION_COUNT = 300  # NNCF's default subset size: enough for stable min/max ranges
SEED = 0


def folder_files(folder: str | Path) -> list[str]:
    """Image files under ``folder`` (recursive, sorted); UsageError when it is not a folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"--calibration-data {folder}: not a directory")
    return [str(p) for p in image_files(folder)]


def decode_sample(files: list[str], spec: PreprocessSpec, count: int, what: str, seed: int = SEED) -> CheckSet:
    """Decode a seeded sample of up to ``count`` of ``files``; files that fail are counted, not fatal."""
    chosen = list(files)
    if len(chosen) > count:
        chosen = sorted(random.Random(seed).sample(chosen, count))
    arrays, skipped = [], 0
    for path in chosen:
        try:
            arrays.append(decode(path, spec).pixels)
        except (DecodeError, OSError):
            skipped += 1
    if not arrays:
        return CheckSet(np.zeros((0, spec.size, spec.size, 3), np.uint8), f"no decodable images in {what}", skipped)
    more = f", {skipped} undecodable" if skipped else ""
    return CheckSet(stack_inputs(arrays), f"{len(arrays)} {what}{more}", skipped)


def calibration_set(spec: ModelSpec, folder: Path | None, count: int = DEFAULT_CALIBRATION_COUNT) -> CheckSet:
    """The INT8 calibration images: a seeded sample of ``folder``, else of the bundle's training images."""
    if count < 1:
        raise UsageError(f"--calibration-count must be at least 1, got {count}")
    if folder is not None:
        found = decode_sample(folder_files(folder), spec.preprocess, count, f"images of {folder}")
    else:
        images = bundle_images(spec)
        if images.missing:
            raise UsageError(
                f"export --format int8: cannot calibrate: {images.missing}; pass --calibration-data DIR "
                "(images like those you will scan)"
            )
        found = decode_sample(images.train, spec.preprocess, count, f"training images of {images.root}")
    if not len(found.pixels):
        raise UsageError(f"export --format int8: cannot calibrate: {found.description}")
    return found


def certificate_set(spec: ModelSpec, *folders: Path | None) -> tuple[CheckSet | None, str]:
    """(the images certificates are measured on, why there are none): validation images + ``folders``
    (``--calibration-data``, ``--check-images``), up to MAX_CHECK_IMAGES of each (a seeded sample)."""
    images = bundle_images(spec)
    parts = []
    if not images.missing and images.val:
        what = f"validation images of {images.root}"
        parts.append(decode_sample(images.val, spec.preprocess, MAX_CHECK_IMAGES, what))
    for folder in dict.fromkeys(f for f in folders if f is not None):
        parts.append(decode_sample(folder_files(folder), spec.preprocess, MAX_CHECK_IMAGES, f"images of {folder}"))
    parts = [p for p in parts if len(p.pixels)]
    if not parts:
        why = images.missing or "the bundle has no validation images"
        return None, f"{why}; pass --check-images DIR to certify on other images"
    pixels = np.concatenate([p.pixels for p in parts])
    return CheckSet(pixels, " + ".join(p.description for p in parts), sum(p.skipped for p in parts)), ""
