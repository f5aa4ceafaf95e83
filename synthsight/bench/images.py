"""Inputs for benchmarks: photo-like synthetic images, or a user's folder grouped by format and size."""

from __future__ import annotations

from pathlib import Path

# name -> (width, height, format): camera-like 4:3 JPEGs plus the 512x512 PNGs of generator outputs
SYNTHETIC_CLASSES = {
    "JPEG 0.3MP": (640, 480, "JPEG"),
    "JPEG 2MP": (1632, 1224, "JPEG"),
    "JPEG 12MP": (4000, 3000, "JPEG"),
    "PNG 512px": (512, 512, "PNG"),
}
UNIQUE_PER_CLASS = 4  # generating a 12 MP picture takes ~1 s: make a few, copy the rest


def synthetic_set(folder: Path, n: int) -> dict[str, list[Path]]:
    """``n`` generated photo-like images spread over SYNTHETIC_CLASSES (a few unique ones, copied)."""
    import shutil

    per_class = max(1, n // len(SYNTHETIC_CLASSES))
    out: dict[str, list[Path]] = {}
    for c, (name, (w, h, fmt)) in enumerate(SYNTHETIC_CLASSES.items()):
        sub = folder / name.replace(" ", "_")
        sub.mkdir(parents=True, exist_ok=True)
        suffix = ".jpg" if fmt == "JPEG" else ".png"
        paths = []
        for i in range(per_class):
            path = sub / f"{i:05d}{suffix}"
            if i < UNIQUE_PER_CLASS:
                save_photo_like(path, w, h, seed=1000 * c + i)
            else:
                shutil.copyfile(paths[i % UNIQUE_PER_CLASS], path)
            paths.append(path)
        out[name] = paths
    return out


def save_photo_like(path: Path, width: int, height: int, seed: int, quality: int = 90) -> Path:
    im = photo_like(width, height, seed)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        im.save(path, "JPEG", quality=quality)
    else:
        im.save(path, "PNG", compress_level=1)
    return path


def photo_like(width: int, height: int, seed: int):
    """Smooth gradients, blurred shapes with edges, mid-frequency texture and sensor grain.

    Not a photograph, but close enough in spectrum that JPEG size, decode cost and the effect of DCT
    scaling behave as on camera pictures (flat noise or flat colour would not).
    """
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(seed)
    im = Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)).resize((width, height), Image.BICUBIC)
    draw, scale = ImageDraw.Draw(im), max(width, height)
    for _ in range(24):
        x, y, r = rng.integers(0, width), rng.integers(0, height), int(rng.integers(scale // 40, scale // 6))
        box = (x - r, y - r // 2, x + r, y + r // 2)
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(
            box, fill=tuple(int(v) for v in rng.integers(0, 256, 3))
        )
    im = im.filter(ImageFilter.GaussianBlur(radius=max(1, scale // 800)))
    # Mid-frequency texture (foliage, fabric) made at a quarter of the size, then fine grain at full size.
    tex = np.clip(rng.normal(128, 18, (max(1, height // 4), max(1, width // 4))), 0, 255).astype(np.uint8)
    tex_full = np.asarray(Image.fromarray(tex).resize((width, height), Image.BILINEAR), dtype=np.int16)
    arr = np.asarray(im, dtype=np.int16) + tex_full[:, :, None] - 128
    arr += rng.integers(-6, 7, (height, width, 1), dtype=np.int16)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def classify(folder: Path) -> dict[str, list[Path]]:
    """Group a user's images by format and size class (read from headers only)."""
    from PIL import Image

    from synthsight.image.formats import image_files

    out: dict[str, list[Path]] = {}
    for path in image_files(folder):
        try:
            with Image.open(path) as im:
                mp = im.size[0] * im.size[1] / 1e6
                fmt = im.format or "other"
        except Exception:
            continue  # the scan itself reports bad files; a benchmark just leaves them out
        size = "<1MP" if mp < 1 else "1-5MP" if mp < 5 else ">=5MP"
        out.setdefault(f"{fmt} {size}", []).append(path)
    return out
