"""One image's logits from its tiles' (``resize: tiles``): the rule named by ``PreprocessSpec.tile_aggregate``.

Tiles are ranked by how strongly they point towards the positive class: their log-odds
``z_pos - logsumexp(z_others)`` (with two classes, the logit difference). The image's logit vector is the
mean of the logit vectors of

- ``mean``: every tile (TextureCrop's rule: the average of the crops' logits);
- ``max``: the one highest-ranked tile (one generated region is enough);
- ``topK``: the K highest-ranked tiles (all of them when the image has fewer).

The aggregate is a logit vector like any single input's, so everything after it (softmax score,
threshold, calibration) applies to it unchanged. Every caller that scores tiles (the scan's local pool and
its Ray actors, ``eval``, training's validation, ``explain``) aggregates here, and :func:`score_file` turns
one file's outputs into its score and per-tile detail, so a file scores the same wherever it was scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from synthsight.runtime.base import scores_from_logits
from synthsight.spec import ModelSpec, PreprocessSpec


def log_odds(logits: np.ndarray, positive_index: int) -> np.ndarray:
    """``z_pos - logsumexp(z_others)`` per row of float ``[n, C]`` logits, in float64."""
    z = np.asarray(logits, dtype=np.float64)
    others = np.delete(z, positive_index, axis=1)
    top = others.max(axis=1, keepdims=True)
    return z[:, positive_index] - (top[:, 0] + np.log(np.exp(others - top).sum(axis=1)))


def chosen(logits: np.ndarray, spec: PreprocessSpec, positive_index: int) -> np.ndarray:
    """Indices of the tiles the aggregate averages, highest-ranked first (every tile, for ``mean``)."""
    n = len(logits)
    if spec.tile_aggregate == "mean":
        return np.arange(n)
    order = np.argsort(-log_odds(logits, positive_index), kind="stable")
    return order[: min(n, spec.top_k)]


def aggregate(logits: np.ndarray, spec: PreprocessSpec, positive_index: int) -> np.ndarray:
    """The image's float32 ``[C]`` logits from its tiles' ``[n, C]`` (n >= 1)."""
    z = np.asarray(logits, dtype=np.float64)
    return z[chosen(z, spec, positive_index)].mean(axis=0).astype(np.float32)


def aggregate_all(
    logits: np.ndarray, counts: Sequence[int], spec: PreprocessSpec, positive_index: int
) -> np.ndarray:
    """Image logits ``[len(counts), C]`` from tile logits ``[sum(counts), C]`` laid out image after image."""
    z = np.asarray(logits)
    if spec.resize != "tiles":
        return z
    if not len(counts):
        return z[:0]
    ends = np.cumsum(counts)
    if len(z) != (ends[-1] if len(ends) else 0):
        raise ValueError(f"{len(z)} tile logits for {int(ends[-1]) if len(ends) else 0} tiles")
    return np.stack([aggregate(z[end - n : end], spec, positive_index) for n, end in zip(counts, ends, strict=True)])


@dataclass(frozen=True)
class TileScores:
    """What a tiles model found per tile of one file (record fields tiles, aggregate, top_tile, tile_*)."""

    rule: str
    scores: list[float]  # each tile's own softmax probability of the positive class
    boxes: list[list[int]]  # [left, top, right, bottom] in the oriented image, same order
    top: int  # the tile ranked first (highest log-odds of the positive class; the first of equals)

    @property
    def top_box(self) -> list[int]:
        return self.boxes[self.top]


def image_logits(spec: ModelSpec, logits: np.ndarray) -> np.ndarray:
    """The file's ``[C]`` logits from its inputs' ``[n, C]`` (n = 1 unless the model scores tiles)."""
    z = np.asarray(logits, dtype=np.float32)
    if spec.preprocess.resize != "tiles":
        return z[0]
    return aggregate(z, spec.preprocess, spec.positive_index)


def score_file(
    spec: ModelSpec, logits: np.ndarray, boxes: list | None = None
) -> tuple[float, TileScores | None]:
    """(score, per-tile detail or None) of one file from its inputs' logits ``[n, C]`` and its tile boxes."""
    z = np.asarray(logits, dtype=np.float32)
    score = float(scores_from_logits(image_logits(spec, z)[None], spec.positive_index)[0])
    if spec.preprocess.resize != "tiles":
        return score, None
    per = scores_from_logits(z, spec.positive_index)
    tiles = TileScores(
        spec.preprocess.tile_aggregate,
        [float(p) for p in per],
        [list(map(int, b)) for b in boxes or []],
        int(np.argmax(log_odds(z, spec.positive_index))),
    )
    return score, tiles
