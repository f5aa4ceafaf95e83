"""A synthetic generator-vs-real ImageFolder, made on the spot for tests and the demo.

What it is: both classes draw their *content* from one random process (smooth colour
fields, blobs and bars rendered at half resolution, upsampled bilinearly to full size,
plus sensor-like noise at full resolution), share the same image size and the same
mix of file formats (JPEG at quality 95 and PNG, half each, in both classes). The
"ai" class additionally carries a generator fingerprint: the uneven-overlap pattern of
a stride-2 transposed convolution with a 3-tap kernel (Odena et al., "Deconvolution
and Checkerboard Artifacts", 2016) - every pixel is scaled by ``1 + A * K[y % 2, x % 2]``
where K is the normalised overlap count of the four 2x2 phases. That period-2 trace is
the *only* difference between the classes, so a model can learn the task only through
it: a test trains on shuffled labels and gets chance accuracy.

Images are made at the model's input size (``size``), so the model's own squash-resize
is the identity and the period-2 trace reaches the network intact; JPEG at quality 95
keeps it (measured in tests/test_train_synthetic.py through ``preprocess.load_image``).
Downscaling (``eval --perturb resize=0.5``) or strong JPEG (``jpeg=50``) erase it, which
is what the robustness report is there to show.

``confound`` plants a shortcut on purpose, for `synthsight audit`'s tests and the demo of `train --augment` /
``--align``: ``format`` saves every ai image as PNG and every real one as JPEG at a quality drawn from
U(75, 95) with 4:2:0 chroma (GenImage's bias: its ImageNet reals are camera and web JPEGs of such qualities; a
model can learn the container instead of the trace); ``size`` renders the ai images at 1.5x the side of
the real ones (DRCT-2M's 1024 px generations against 640 px photos; a squash resize then blurs the trace, so
the size is the easier cue).

What it is not: not photographic and not a benchmark. A detector trained on it has
learned one artificial trace and says nothing about Stable Diffusion, Midjourney or
any real generator; use it to check that the pipeline trains, evaluates, exports and
scans end to end, never to claim detection accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

# Overlap count of a stride-2, 3-tap transposed convolution per output phase (1, 2 / 2, 4),
# centred and scaled to unit peak: the classic checkerboard of upsampling layers.
_OVERLAP = np.array([[1.0, 2.0], [2.0, 4.0]])
FINGERPRINT = (_OVERLAP - _OVERLAP.mean()) / np.abs(_OVERLAP - _OVERLAP.mean()).max()
DEFAULT_AMPLITUDE = 0.08
JPEG_QUALITY = 95
CONFOUND_JPEG_QUALITY = (75, 95)  # the real class under confound "format": U(75, 95), 4:2:0 as web/camera photos
NOISE_SIGMA = 2.0
CLASS_DIRS = ("ai", "nature")
CONFOUNDS = ("format", "size")


def _check(n: int, size: int, jpeg_qualities: tuple[int, int] | None, confound: str | None) -> None:
    if n < 4:
        raise ValueError("synthetic set needs n >= 4 (two classes x train/val)")
    if size < 16 or size % 2:
        raise ValueError("synthetic image size must be an even number >= 16")
    if confound not in (None, *CONFOUNDS):
        raise ValueError(f"confound must be one of {', '.join(CONFOUNDS)}, got {confound!r}")
    if confound == "format" and jpeg_qualities:
        raise ValueError("confound format (ai PNG, real JPEG) does not combine with jpeg_qualities (all JPEG)")


def make_synthetic(
    out_dir: str | Path,
    n: int = 400,
    size: int = 64,
    seed: int = 0,
    amplitude: float = DEFAULT_AMPLITUDE,
    val_fraction: float = 0.2,
    jpeg_qualities: tuple[int, int] | None = None,
    confound: str | None = None,
) -> Path:
    """Write ``n`` images (half per class) to ``out_dir/{train,val}/{ai,nature}``; returns ``out_dir``.

    Args:
        out_dir: destination folder (created; existing files with the same names are overwritten).
        n: total number of images, split 80/20 (``val_fraction``) into train and val, balanced per class.
        size: side of the square images in pixels; use the model's input size so the trace survives.
        seed: the whole set is a pure function of (n, size, seed, amplitude).
        amplitude: strength of the fingerprint (relative brightness modulation).
        jpeg_qualities: (low, high): every image of both classes is a JPEG at a random quality in that range
            instead of the JPEG-95/PNG mix. Low qualities erase the trace, so the classes overlap (AUC well
            below 1): the set a calibration's ``uncertain`` band and its bounds are seen on.
        confound: None, or a planted shortcut (:data:`CONFOUNDS`: ``format`` or ``size``; the module's docstring).
            ``format`` cannot combine with ``jpeg_qualities`` (it needs PNG files); ``size`` can.
    """
    _check(n, size, jpeg_qualities, confound)
    big = size * 3 // 4 * 2  # the ai side under confound "size": 1.5x, even
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    per_class = n // 2
    n_val = max(1, round(per_class * val_fraction))
    counts: dict[str, dict[str, int]] = {}
    for label in CLASS_DIRS:
        for index in range(per_class):
            split = "val" if index < n_val else "train"
            folder = out / split / label
            folder.mkdir(parents=True, exist_ok=True)
            side = big if confound == "size" and label == "ai" else size
            pixels = render(rng, side, fake=(label == "ai"), amplitude=amplitude)
            # Formats alternate by index in both classes, so format never predicts the label (unless planted).
            ext = "jpg" if index % 2 == 0 or jpeg_qualities else "png"
            if confound == "format":
                ext = "png" if label == "ai" else "jpg"
            path = folder / f"{label}_{index:05d}.{ext}"
            img = Image.fromarray(pixels)
            if confound == "format" and ext == "jpg":
                low, high = CONFOUND_JPEG_QUALITY
                img.save(path, quality=int(rng.integers(low, high + 1)), subsampling=2)
            elif jpeg_qualities:
                img.save(path, quality=int(rng.integers(jpeg_qualities[0], jpeg_qualities[1] + 1)), subsampling=0)
            elif ext == "jpg":
                img.save(path, quality=JPEG_QUALITY, subsampling=0)
            else:
                img.save(path, optimize=False)
            counts.setdefault(split, {}).setdefault(label, 0)
            counts[split][label] += 1
    info = {"generator": "synthsight.train.synthetic", "n": 2 * per_class, "size": size, "seed": seed}
    info.update(amplitude=amplitude, jpeg_quality=list(jpeg_qualities or (JPEG_QUALITY,)), counts=counts)
    if confound:
        info["confound"] = confound
    (out / "synthetic.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return out


def render(rng: np.random.Generator, size: int, fake: bool, amplitude: float = DEFAULT_AMPLITUDE) -> np.ndarray:
    """One uint8 ``[size, size, 3]`` image; ``fake`` adds the upsampling fingerprint."""
    content = _content(rng, size // 2)
    up = np.asarray(Image.fromarray(content).resize((size, size), Image.Resampling.BILINEAR), dtype=np.float64)
    if fake:
        tile = np.tile(FINGERPRINT, (size // 2, size // 2))
        up = up * (1.0 + amplitude * tile)[:, :, None]
    up = up + rng.normal(0.0, NOISE_SIGMA, size=up.shape)
    return np.clip(np.rint(up), 0, 255).astype(np.uint8)


def _content(rng: np.random.Generator, side: int) -> np.ndarray:
    """Random scene at half resolution: a colour gradient, a few ellipses and bars."""
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float64) / side
    c0, c1 = rng.uniform(40, 215, size=(2, 3))
    angle = rng.uniform(0, 2 * np.pi)
    t = (np.cos(angle) * xx + np.sin(angle) * yy + 1.0) / 2.0
    img = c0 + (c1 - c0) * t[:, :, None]
    for _ in range(rng.integers(2, 6)):
        colour = rng.uniform(20, 235, size=3)
        cy, cx = rng.uniform(0, 1, size=2)
        ry, rx = rng.uniform(0.08, 0.35, size=2)
        if rng.random() < 0.6:
            mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
        else:
            mask = (np.abs(yy - cy) <= ry / 2) & (np.abs(xx - cx) <= rx / 2)
        img[mask] = 0.35 * img[mask] + 0.65 * colour
    return np.clip(img, 0, 255).astype(np.uint8)
