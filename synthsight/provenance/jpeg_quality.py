"""JPEG quantisation tables: the IJG (libjpeg) quality that made them, or "non-standard".

Information only, never a class: it says how the file was last saved ("a libjpeg-style encoder at
q≈92"), not where the picture came from. Tables are in natural (row-major) order, as Pillow's
``quantization`` gives them; :data:`ZIGZAG` maps the stored zigzag order to it.

The 100 libjpeg tables are made once per process: an exact match is one dictionary look-up, the
nearest quality of non-standard tables (most cameras') one numpy reduction, ~20 us per file (the
pure-Python search cost ~2 ms a camera JPEG).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

# ITU-T T.81 Annex K.1 and K.2, natural order
IJG_LUMINANCE = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip
IJG_CHROMINANCE = (
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
    *([99] * 32),
)  # fmt: skip
# ZIGZAG[k] = natural index of the k-th stored coefficient
ZIGZAG = (
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
    12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
    35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
    58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
)  # fmt: skip
NATURAL = tuple(ZIGZAG.index(i) for i in range(64))  # NATURAL[i] = where natural index i is stored


def ijg_table(base: tuple[int, ...], quality: int) -> list[int]:
    """libjpeg's ``jpeg_set_quality`` scaling of a base table (baseline: values clamped to 1..255)."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return [min(255, max(1, (v * scale + 50) // 100)) for v in base]


QUALITIES = range(1, 101)
# luminance table -> the qualities that make it (low qualities share clamped tables), and the pairs
_BY_LUMA: dict[tuple[int, ...], list[int]] = {}
_PAIRS: set[tuple[int, tuple[int, ...]]] = set()
for _q in QUALITIES:
    _BY_LUMA.setdefault(tuple(ijg_table(IJG_LUMINANCE, _q)), []).append(_q)
    _PAIRS.add((_q, tuple(ijg_table(IJG_CHROMINANCE, _q))))
_LUMA = np.array([ijg_table(IJG_LUMINANCE, q) for q in QUALITIES], dtype=np.int32)  # [100, 64]


def estimate(tables: dict[int, list[int]]) -> dict[str, Any] | None:
    """``{"tables": "ijg", "quality": q}`` when the tables are libjpeg's at quality q, else
    ``{"tables": "non-standard", "closest_quality": q}`` (the quality whose luminance table is nearest
    in summed absolute difference, the lowest on a tie); None without a luminance table."""
    luma = tables.get(0)
    if luma is None or len(luma) != 64:
        return None
    chroma = tables.get(1)
    for q in _BY_LUMA.get(tuple(luma), ()):
        if chroma is None or (q, tuple(chroma)) in _PAIRS:
            return {"tables": "ijg", "quality": q}
    return {"tables": "non-standard", "closest_quality": _closest(tuple(luma))}


@functools.lru_cache(maxsize=1024)
def _closest(luma: tuple[int, ...]) -> int:
    """The nearest libjpeg quality; memoised because an archive's files share a few cameras' tables."""
    distance = np.abs(_LUMA - np.asarray(luma, dtype=np.int32)).sum(axis=1)
    return int(QUALITIES[int(distance.argmin())])


def describe(result: dict[str, Any] | None) -> str:
    """The evidence-line part for an estimate ("" for none)."""
    if not result:
        return ""
    if result["tables"] == "ijg":
        return f"jpeg: libjpeg tables q≈{result['quality']}"
    return f"jpeg: non-standard quantisation tables (nearest libjpeg q≈{result['closest_quality']})"
