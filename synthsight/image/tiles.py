"""Native-resolution tiles: the windows of the model's input size that ``resize: tiles`` scores, at the file's
own pixels (no resampling, no DCT scaling), cut from one decode of the file.

Placement (``PreprocessSpec.tile_placement``) of at most ``tiles`` windows of side S:

- ``grid``: an nx x ny grid spread evenly over the image, corners included. When ``ceil(W/S) * ceil(H/S)``
  windows (the fewest that cover every pixel) fit in ``tiles``, that many; else the nx x ny <= tiles with the
  most windows, then the shape closest to the image's own (a 4000x3000 photo at S=224 and 9 tiles: 3x3).
- ``texture``: the ``tiles`` most textured windows among the ``ceil(W/S) x ceil(H/S)`` that cover the image
  (TextureCrop's idea, arXiv 2407.15500: a generator's traces are strongest where the picture has detail).
  Texture is the mean absolute difference between neighbouring luma pixels inside the window (a high-pass
  energy); ties go to the earlier window in reading order.

Window corners are on multiples of :data:`ALIGN` pixels (rounded down; the last window of a row may then stop
up to ALIGN - 1 pixels short of the edge): JPEG's 8x8 block grid and the period of a generator's 2x, 4x and
8x upsampling (a latent-diffusion VAE decodes 8x) then fall at the same phase in every tile, in training's
random windows as in the scan's, so the model learns one phase of each trace instead of all of them.
Windows are listed in reading order (top row first). An image narrower or shorter than S is reflect-padded
on its right and bottom up to S (no pixel repeated at the edge, and the image at the window's corner, so its
traces keep their phase): it then gives one window along that side, and its box is the image itself.
Boxes are ``(left, top, right, bottom)`` in the pixels of the image as oriented (EXIF orientation applied),
clipped to the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from synthsight.spec import PreprocessSpec

Box = tuple[int, int, int, int]
ALIGN = 8


@dataclass
class TileSet:
    """The tiles of one image: pixels ``[n, S, S, 3]`` uint8, one box per tile, and a note when padded."""

    pixels: np.ndarray
    boxes: list[Box] = field(default_factory=list)
    note: str = ""


def grid_shape(width: int, height: int, size: int, limit: int) -> tuple[int, int]:
    """(nx, ny) of the grid placement for an image of ``width`` x ``height`` (each at least ``size``)."""
    cx, cy = math.ceil(width / size), math.ceil(height / size)
    if cx * cy <= limit:
        return cx, cy
    aspect = math.log(cx / cy)
    shapes = [(nx, min(cy, limit // nx)) for nx in range(1, min(cx, limit) + 1)]
    return max(shapes, key=lambda s: (s[0] * s[1], -abs(math.log(s[0] / s[1]) - aspect)))  # first of equals


def spread(length: int, size: int, n: int) -> list[int]:
    """``n`` window starts over ``length`` pixels, evenly spread from 0 to ``length - size``, on multiples of ALIGN."""
    if n <= 1:
        return [(length - size) // 2 // ALIGN * ALIGN]
    return [round(i * (length - size) / (n - 1)) // ALIGN * ALIGN for i in range(n)]


def place(im: Image.Image, spec: PreprocessSpec) -> list[tuple[int, int]]:
    """The (left, top) of each window on RGB ``im`` (both sides >= ``spec.size``), in reading order."""
    size, limit = spec.size, spec.tiles
    width, height = im.size
    if spec.tile_placement == "grid":
        nx, ny = grid_shape(width, height, size, limit)
        return [(x, y) for y in spread(height, size, ny) for x in spread(width, size, nx)]
    nx, ny = math.ceil(width / size), math.ceil(height / size)
    corners = [(x, y) for y in spread(height, size, ny) for x in spread(width, size, nx)]
    if len(corners) <= limit:
        return corners
    luma = np.asarray(im.convert("L"))  # ITU-R 601 luma: one byte a pixel, a quarter of Pillow's RGB
    energy = [texture(luma[y : y + size, x : x + size]) for x, y in corners]
    chosen = sorted(sorted(range(len(corners)), key=lambda i: -energy[i])[:limit])  # stable: ties in reading order
    return [corners[i] for i in chosen]


def texture(window: np.ndarray) -> float:
    """Mean absolute difference between horizontal neighbours (every other row) and vertical ones (every other
    column) of a uint8 luma window: a high-pass energy at a quarter of the full sum's cost."""
    rows, cols = window[::2].astype(np.int16), window[:, ::2].astype(np.int16)
    return float(np.abs(np.diff(rows, axis=1)).mean() + np.abs(np.diff(cols, axis=0)).mean())


def padded(im: Image.Image, size: int) -> Image.Image:
    """``im`` reflect-padded on the right and bottom so both sides are at least ``size`` (``im`` itself if they are)."""
    width, height = im.size
    pad_y, pad_x = max(0, size - height), max(0, size - width)
    if not pad_x and not pad_y:
        return im
    mode = "reflect" if min(height, width) > 1 else "edge"  # a 1-pixel side has nothing to reflect
    out = np.pad(np.asarray(im, dtype=np.uint8), ((0, pad_y), (0, pad_x), (0, 0)), mode=mode)
    return Image.fromarray(out)


def cut(im: Image.Image, spec: PreprocessSpec) -> TileSet:
    """The tiles of an RGB image per ``spec`` (module docstring): one array, one box per tile.

    Windows are cropped from Pillow's image one by one: a 12 MP photo is never copied whole.
    """
    width, height = im.size
    size = spec.size
    canvas = padded(im, size)
    corners = place(canvas, spec)
    pixels = np.empty((len(corners), size, size, 3), np.uint8)
    boxes: list[Box] = []
    for k, (x, y) in enumerate(corners):
        pixels[k] = np.asarray(canvas.crop((x, y, x + size, y + size)), dtype=np.uint8)
        boxes.append((x, y, min(width, x + size), min(height, y + size)))
    note = ""
    if canvas is not im:
        note = f"{width}x{height} is smaller than the {size}-px tile: reflect-padded to {canvas.width}x{canvas.height}"
    return TileSet(pixels, boxes, note)


def random_tile(im: Image.Image, size: int, rng: np.random.Generator) -> np.ndarray:
    """One window of ``size`` at a random place of ``im`` (corner on multiples of ALIGN) at its own pixels,
    reflect-padded as :func:`cut` pads.

    What ``train --resize tiles`` trains on: one random native window per image per epoch.
    """
    canvas = padded(im, size)
    x = ALIGN * int(rng.integers(0, (canvas.width - size) // ALIGN + 1))
    y = ALIGN * int(rng.integers(0, (canvas.height - size) // ALIGN + 1))
    return np.ascontiguousarray(np.asarray(canvas.crop((x, y, x + size, y + size)), dtype=np.uint8))
