"""The re-encoded views of ``scan --stability K``: the model's input after K in-memory re-encodings.

Each view is made from the file's own model input (the one decode, resized for the model exactly as when
the file is scored alone), never written anywhere. The views, in this order (``--stability K`` takes the
first K; the list is in the manifest):

1. ``jpeg90``, 2. ``jpeg75``, 3. ``jpeg50``: a JPEG round trip at that quality (Pillow, 4:2:0 chroma);
4. ``half``: halved by averaging blocks of 2x2 pixels, then resized back to the input (``resize``);
5. ``web``: a social-media round trip: longer side down to at most 768 px, then JPEG at quality 60.

Why the model input and not the decoded file: the model judges those pixels and no finer ones, so a view
re-encodes exactly what decides the verdict; and it costs a fraction of what views of a working image twice
the input did (their design up to 2026-12-03; both measured in benchmarks/RESULTS.md, "Calibrated verdicts
and --stability K"). They are harsher than the same re-encoding of a larger file, whose artefacts a later
downscale partly averages out (docs/verdicts.md).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Pillow loads when a view is made: the scan's options read the names light
    from PIL import Image

WEB_SIDE = 768
MADE_FROM = (
    "the file's own model input (one decode, resized for the model as when it is scored alone), re-encoded in "
    "memory; a view whose size changed is resized back to the input; nothing is written"
)


def _jpeg(quality: int) -> Callable[[Image.Image], Image.Image]:
    def apply(im: Image.Image) -> Image.Image:
        from PIL import Image

        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=quality)
        buf.seek(0)
        out = Image.open(buf, formats=["JPEG"])
        out.load()  # an RGB image saved as JPEG decodes to RGB: no conversion, no copy
        return out

    return apply


def _half(im: Image.Image) -> Image.Image:
    return im.reduce(2)


def _web(im: Image.Image) -> Image.Image:
    from PIL import Image

    if max(im.size) > WEB_SIDE:  # only a model input larger than 768 px
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
    View("half", "halved (2x2 pixel averages), then resized back to the input", _half),
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
        "made_from": MADE_FROM,
        "stability": "share of the views whose verdict equals the file's; unstable: any view's verdict differs",
    }


def make_views(model_input: Image.Image, k: int) -> list[Image.Image]:
    """The first ``k`` views of ``model_input`` (the file's RGB pixels as the model sees them), each still to be
    resized back to the input where its size changed (the caller, image/preprocess.py, does that with the
    model's own resize: views import no decoder)."""
    return [v.apply(model_input) for v in VIEWS[:k]]
