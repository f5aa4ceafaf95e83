"""``train --resize tiles``: the preprocessing a tiles model is trained for, and what a training image goes through.

A training image gives one window of the model's input size at a random place, at its own pixels
(:func:`synthsight.image.tiles.random_tile`: no resize, no DCT scaling, small images reflect-padded as the
scan pads them), drawn anew every epoch. Validation, ``eval`` and the scan score the image's tiles by the
placement and aggregate rule recorded in the bundle, so the bundle's figures are scan figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from synthsight.errors import UsageError
from synthsight.image.preprocess import PreprocessSpec
from synthsight.image.tiles import random_tile
from synthsight.spec import DEFAULT_PLACEMENT, DEFAULT_TILES, TILE_KEYS, default_aggregate


@dataclass(frozen=True)
class RandomTile:
    """One random native window per image and epoch (picklable for the loader's workers)."""

    spec: PreprocessSpec
    draft = None  # JPEG DCT scaling never: windows are cut at the file's own pixels

    def __call__(self, im: Image.Image, rng: np.random.Generator) -> np.ndarray:
        return random_tile(im, self.spec.size, rng)


def preprocess_for(config: Any) -> PreprocessSpec:
    """The bundle's preprocessing from the training options (``size``, ``resize``, ``tiles``, ``tile_*``).

    Raises:
        UsageError: a tile count, placement or aggregate that is not allowed, or a tile above the pixel cap.
    """
    given = {k: getattr(config, k) for k in TILE_KEYS if getattr(config, k) is not None}
    if given and config.resize != "tiles":
        names = ", ".join("--" + k.replace("_", "-") for k in given)
        raise UsageError(f"{names}: only with --resize tiles")
    tiles = given.get("tiles", DEFAULT_TILES)
    if isinstance(tiles, int) and not isinstance(tiles, bool) and tiles >= 1:  # else PreprocessSpec says why
        given.setdefault("tile_aggregate", default_aggregate(tiles))  # --tiles 2 alone: top2, not a refusal
    extra = {**dict(zip(TILE_KEYS, (DEFAULT_TILES, DEFAULT_PLACEMENT, default_aggregate(DEFAULT_TILES)), strict=True)),
             **given}  # fmt: skip
    try:
        spec = PreprocessSpec(size=config.size, resize=config.resize, **extra)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if spec.resize == "tiles" and spec.size * spec.size > config.max_pixels:
        raise UsageError(f"a {spec.size}x{spec.size} tile is above the pixel cap of {config.max_pixels} pixels")
    return spec
