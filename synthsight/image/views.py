"""The re-encoded views of ``scan --stability K``: the same decoded image after K in-memory re-encodings.

Each view is made from the one decode of the file (never written anywhere), then resized for the model like
the clean pixels. The views, in this order (``--stability K`` takes the first K; the list is in the manifest):

1. ``jpeg90``, 2. ``jpeg75``, 3. ``jpeg50``: a JPEG round trip at that quality (Pillow, 4:2:0 chroma);
4. ``half``: downscaled to half its size (antialiased);
5. ``web``: a social-media round trip: longer side down to at most 768 px, then JPEG at quality 60.

They are made from the decoded image reduced, when it is larger, to ``VIEW_SCALE`` times the model's input on
its longer side: the model sees no finer detail than that, and re-encoding a 12 MP photograph five times would
cost many times its decode. (A JPEG decode may already be reduced by DCT scaling to about that size.)
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from synthsight.spec import PreprocessSpec

if TYPE_CHECKING:  # Pillow loads when a view is made: the scan's options read the names light
    from PIL import Image

VIEW_SCALE = 2
WEB_SIDE = 768


def _jpeg(quality: int) -> Callable[[Image.Image], Image.Image]:
    def apply(im: Image.Image) -> Image.Image:
        from PIL import Image

        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=quality)
        buf.seek(0)
        with Image.open(buf) as out:
            return out.convert("RGB")

    return apply


def _half(im: Image.Image) -> Image.Image:
    from PIL import Image

    return im.resize((max(1, round(im.width / 2)), max(1, round(im.height / 2))), Image.Resampling.BILINEAR)


def _web(im: Image.Image) -> Image.Image:
    from PIL import Image

    if max(im.size) > WEB_SIDE:
        scale = WEB_SIDE / max(im.size)
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.BILINEAR)
    return _jpeg(60)(im)


@dataclass(frozen=True)
class View:
    name: str
    what: str
    apply: Callable[[Image.Image], Image.Image]


VIEWS = (
    View("jpeg90", "JPEG round trip at quality 90", _jpeg(90)),
    View("jpeg75", "JPEG round trip at quality 75", _jpeg(75)),
    View("jpeg50", "JPEG round trip at quality 50", _jpeg(50)),
    View("half", "downscaled to half size", _half),
    View("web", f"longer side to at most {WEB_SIDE} px, then JPEG at quality 60", _web),
)
MAX_VIEWS = len(VIEWS)
VIEW_NAMES = ", ".join(v.name for v in VIEWS)


def describe(k: int) -> dict | None:
    """What ``--stability k`` scores, for the run manifest (None when off)."""
    if not k:
        return None
    return {
        "views": [{"name": v.name, "what": v.what} for v in VIEWS[:k]],
        "made_from": f"the one decode of each file, reduced to at most {VIEW_SCALE}x the model input on its longer "
        "side; each view is then resized for the model like the file itself; nothing is written",
        "stability": "share of the views whose verdict equals the file's; unstable: any view's verdict differs",
    }


def working_image(rgb: Image.Image, spec: PreprocessSpec) -> Image.Image:
    """The image views are made from: ``rgb`` reduced to VIEW_SCALE x the model input on its longer side."""
    from PIL import Image

    side = VIEW_SCALE * spec.size
    if max(rgb.size) <= side:
        return rgb
    scale = side / max(rgb.size)
    return rgb.resize((max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))), Image.Resampling.BILINEAR)


def make_views(rgb: Image.Image, k: int, spec: PreprocessSpec) -> list[Image.Image]:
    """The first ``k`` views of ``rgb`` (an RGB image as decoded), each still to be resized for the model
    (the caller, image/preprocess.py, resizes them as it resizes the file: views import no decoder)."""
    base = working_image(rgb, spec)
    return [v.apply(base) for v in VIEWS[:k]]
