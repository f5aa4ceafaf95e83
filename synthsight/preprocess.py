"""The documented Python API's old path (``from synthsight.preprocess import load_image``), kept working: a thin
re-export of :mod:`synthsight.image.preprocess`, where the preprocessing lives. New code imports that module."""

from synthsight.image.preprocess import (  # noqa: F401
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    Decoded,
    PreprocessSpec,
    decode,
    load_image,
    resize,
    to_rgb,
)

__all__ = ["DEFAULT_MAX_PIXELS", "IMAGE_EXTENSIONS", "Decoded", "PreprocessSpec", "decode", "load_image", "resize",
           "to_rgb"]  # fmt: skip
