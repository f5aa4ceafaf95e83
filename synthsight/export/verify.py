"""Parity between a reference and a candidate model, Polygraphy-comparator style.

The comparator knows only the runtime's Backend interface (``infer(uint8 pixels) -> logits``):
both sides get the same pixels, decoded once with :mod:`synthsight.image.preprocess`, and are judged on
what a user sees - the probability of the AI-generated class and the verdict at the spec threshold.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from synthsight.errors import UsageError
from synthsight.image.preprocess import PreprocessSpec, decode, resize, stack_inputs
from synthsight.runtime.base import Backend

DEFAULT_SYNTHETIC = 32
MAX_CHECK_IMAGES = 1000  # parity on more images adds minutes to an export and little information
BATCH = 32


@dataclass(frozen=True)
class Parity:
    """How far ``candidate`` is from ``reference`` on ``n`` images."""

    reference: str
    candidate: str
    n: int
    max_abs: float  # max |delta p(ai)|
    mean_abs: float  # mean |delta p(ai)|
    agreement: float  # fraction of images with the same verdict at ``threshold``
    disagreements: int
    threshold: float
    images: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def report(self) -> str:
        return (
            f"parity {self.candidate} vs {self.reference} on {self.n} images ({self.images}): "
            f"max |dp(ai)| {self.max_abs:.2e}, mean {self.mean_abs:.2e}, "
            f"verdicts agree {100 * self.agreement:.2f}% ({self.n - self.disagreements}/{self.n}) "
            f"at threshold {self.threshold:g}"
        )


@dataclass(frozen=True)
class CheckSet:
    """Pixels to compare on, and where they came from."""

    pixels: np.ndarray  # uint8 [N, S, S, 3]
    description: str
    skipped: int = 0  # files in the folder that could not be decoded


def compare_scores(
    reference: np.ndarray,
    candidate: np.ndarray,
    threshold: float,
    *,
    names: tuple[str, str] = ("reference", "candidate"),
    images: str = "",
) -> Parity:
    """Parity from two arrays of p(ai) over the same images."""
    reference, candidate = np.asarray(reference, np.float64), np.asarray(candidate, np.float64)
    if reference.shape != candidate.shape or reference.ndim != 1 or not len(reference):
        raise UsageError(f"cannot compare scores of shapes {reference.shape} and {candidate.shape}")
    delta = np.abs(reference - candidate)
    same = (reference >= threshold) == (candidate >= threshold)
    return Parity(
        reference=names[0],
        candidate=names[1],
        n=int(len(delta)),
        max_abs=float(delta.max()),
        mean_abs=float(delta.mean()),
        agreement=float(same.mean()),
        disagreements=int((~same).sum()),
        threshold=float(threshold),
        images=images,
    )


def scores(backend: Backend, pixels: np.ndarray, batch: int = BATCH) -> np.ndarray:
    """p(ai) of every image, run in batches of ``batch``."""
    return np.concatenate([backend.scores(pixels[i : i + batch]) for i in range(0, len(pixels), batch)])


def label(backend: Backend) -> str:
    return f"{backend.name}/{backend.precision}/{backend.device}"


def compare(reference: Backend, candidate: Backend, check: CheckSet, threshold: float | None = None) -> Parity:
    """Run both backends on ``check`` and compare their p(ai) (threshold: the reference spec's)."""
    if reference.classes != candidate.classes:
        raise UsageError(f"class order differs: {reference.classes} vs {candidate.classes}")
    thr = reference.model_spec.threshold if threshold is None else threshold
    ref, cand = scores(reference, check.pixels), scores(candidate, check.pixels)
    return compare_scores(ref, cand, thr, names=(label(reference), label(candidate)), images=check.description)


def check_set(spec: PreprocessSpec, folder: str | Path | None = None, *, n: int = DEFAULT_SYNTHETIC) -> CheckSet:
    """The images an export checks itself on: the files of ``folder`` or ``n`` synthetic images."""
    if folder is None:
        return CheckSet(synthetic_pixels(spec, n), f"{n} synthetic")
    return decode_folder(folder, spec)


def decode_folder(folder: str | Path, spec: PreprocessSpec, limit: int = MAX_CHECK_IMAGES) -> CheckSet:
    """Decode up to ``limit`` images under ``folder`` (sorted, recursive); undecodable files are counted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"--check-images {folder}: not a directory")
    arrays, skipped = [], 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        if len(arrays) >= limit:
            break
        try:
            arrays.append(decode(path, spec).pixels)
        except Exception:  # a DecodeError, or anything Pillow throws: the check set just skips the file
            skipped += 1
    if not arrays:
        raise UsageError(f"--check-images {folder}: no decodable images found")
    more = f", {skipped} files skipped" if skipped else ""
    return CheckSet(stack_inputs(arrays), f"{len(arrays)} from {folder}{more}", skipped)


def synthetic_pixels(spec: PreprocessSpec, n: int = DEFAULT_SYNTHETIC, seed: int = 0) -> np.ndarray:
    """``n`` procedurally generated images through the spec's resize: smooth scenes, textures, noise.

    Made at 1.5 x 1.25 the model size so the real resize path runs; the mix spans flat and
    high-frequency content, which is where reduced precision shows first.
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    h, w = int(spec.size * 1.25), int(spec.size * 1.5)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    out = []
    for i in range(n):
        c0, c1 = rng.uniform(0, 255, (2, 3))
        angle = rng.uniform(0, 2 * np.pi)
        t = (np.cos(angle) * xx + np.sin(angle) * yy + 1) / 2
        img = c0 + (c1 - c0) * t[..., None]
        kind = i % 4
        if kind == 1:  # blobs
            for _ in range(rng.integers(2, 6)):
                cy, cx, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.3)
                img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.uniform(0, 255, 3)
        elif kind == 2:  # periodic texture
            f = rng.uniform(2, max(h, w) / 3)
            img = img + 60 * np.sin(2 * np.pi * f * (xx + rng.uniform() * yy))[..., None]
        elif kind == 3:  # sensor-like noise
            img = img + rng.normal(0, rng.uniform(5, 60), img.shape)
        out.append(resize(Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)), spec))
    return stack_inputs(out)
