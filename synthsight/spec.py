"""The contract between training, export and every runtime (standard library only): the exported model's I/O
names, the metadata keys, :class:`PreprocessSpec` (how pixels reach the model, as data) and :class:`ModelSpec`
(everything a model carries besides its weights). Pillow turns a PreprocessSpec into pixels in
:mod:`synthsight.image.preprocess`.

The spec travels with every artifact - bundle JSON, ONNX ``metadata_props`` and the
TensorRT engine sidecar - so a model is always scanned the way it was trained.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from synthsight.errors import ModelFileError
from synthsight.verdicts.rule import Calibration  # stdlib only: the calibration is part of the contract

FORMAT_VERSION = 1
# ONNX ``metadata_props`` keys: the spec JSON, the graph's precision, the ops an FP16 graph keeps in FP32.
ONNX_METADATA_KEY = "synthsight.spec"
PRECISION_KEY = "synthsight.precision"
FP32_OPS_KEY = "synthsight.fp32_ops"
# Reduced-precision CPU variants (runtime/precision.py): each file's fidelity certificates against the
# FP32 reference (JSON keyed "precision/runtime"), the FP32 file an INT8 file was made from (JSON: file
# name and SHA-256) and how it was calibrated (JSON).
CERTIFICATES_KEY = "synthsight.certificates"
SOURCE_KEY = "synthsight.source"
CALIBRATION_KEY = "synthsight.calibration"

# The exported model's contract, shared by the exporters and every runtime: uint8 NHWC ``pixels``
# with a dynamic batch dimension in, float32 ``logits`` [N, classes] out.
INPUT_NAME = "pixels"
OUTPUT_NAME = "logits"
BATCH_DIM = "batch"

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESIZE_MODES = ("squash", "crop", "tiles")
# resize "tiles" (docs/training.md "Native-resolution tiles"): up to `tiles` windows of `size` at the file's own
# pixels, placed by `tile_placement`, their logits combined by `tile_aggregate` (mean, max, or topK: the mean of
# the K tiles that point most towards the positive class). The defaults were chosen by benchmarks/bench_tiles.py
# (benchmarks/RESULTS.md "Native-resolution tiles"): with the trace in one patch of the picture, texture found it
# where a grid did not, and top3 kept it where the mean of 9 diluted it; with the trace everywhere all did.
TILE_PLACEMENTS = ("grid", "texture")
TILE_AGGREGATES = ("mean", "max", "topK")  # topK: top2, top3, ...
DEFAULT_TILES = 9
DEFAULT_PLACEMENT = "texture"
DEFAULT_AGGREGATE = "top3"
MAX_TILES = 64
TILE_KEYS = ("tiles", "tile_placement", "tile_aggregate")
INTERPOLATION_NAMES = ("nearest", "bilinear", "bicubic", "lanczos")  # Pillow's resampling filters, by name


@dataclass(frozen=True)
class PreprocessSpec:
    """How pixels reach the model: output size, resize mode, interpolation, normalisation (and tiles)."""

    size: int = 224
    # "squash": both sides to `size` (the seeds' Resize((224, 224))); "crop": short side to `size`, centre crop;
    # "tiles": up to `tiles` windows of `size` at native pixels, no resampling (image/tiles.py)
    resize: str = "squash"
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = field(default=IMAGENET_MEAN)
    std: tuple[float, float, float] = field(default=IMAGENET_STD)
    dct_scaling: bool = True  # JPEG DCT-scaled decoding when the source is at least 4x the target size (not tiles)
    tiles: int = DEFAULT_TILES  # resize "tiles" only: the most windows scored per image
    tile_placement: str = DEFAULT_PLACEMENT
    tile_aggregate: str = DEFAULT_AGGREGATE

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or not 8 <= self.size <= 4096:
            raise ValueError(f"preprocess size must be an integer in [8, 4096], got {self.size!r}")
        if self.resize not in RESIZE_MODES:
            raise ValueError(f"preprocess resize must be one of {RESIZE_MODES}, got {self.resize!r}")
        check_tiles(self.tiles, self.tile_placement, self.tile_aggregate)
        if self.resize == "tiles":
            object.__setattr__(self, "dct_scaling", False)  # tiles are cut at the file's own pixels, always
        if self.interpolation not in INTERPOLATION_NAMES:
            raise ValueError(f"preprocess interpolation must be one of {INTERPOLATION_NAMES}")
        for name in ("mean", "std"):
            value = tuple(float(v) for v in getattr(self, name))
            if len(value) != 3:
                raise ValueError(f"preprocess {name} must have 3 values")
            object.__setattr__(self, name, value)
        if min(self.std) <= 0:
            raise ValueError("preprocess std must be positive")

    @property
    def rows(self) -> int:
        """The most model inputs one image takes: its tiles, or 1."""
        return self.tiles if self.resize == "tiles" else 1

    @property
    def top_k(self) -> int:
        """How many tiles the aggregate averages (``len`` of the image's tiles for mean, 1 for max)."""
        rule = self.tile_aggregate
        return self.tiles if rule == "mean" else 1 if rule == "max" else int(rule[3:])

    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON data; the tile keys only in tiles mode (other specs read exactly as before them)."""
        out = asdict(self)
        out["mean"], out["std"] = list(self.mean), list(self.std)
        if self.resize != "tiles":
            for key in TILE_KEYS:
                del out[key]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessSpec:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def default_aggregate(tiles: int) -> str:
    """The measured default rule for ``tiles`` windows: top3, or all of them (topN, or max for one) when fewer."""
    k = int(DEFAULT_AGGREGATE[3:])
    return DEFAULT_AGGREGATE if tiles >= k else f"top{tiles}" if tiles >= 2 else "max"


def check_tiles(tiles: Any, placement: Any, aggregate: Any) -> None:
    """Refuse a tile count, placement or aggregate rule that is not one of the documented ones (ValueError)."""
    if isinstance(tiles, bool) or not isinstance(tiles, int) or not 1 <= tiles <= MAX_TILES:
        raise ValueError(f"--tiles must be an integer from 1 to {MAX_TILES}, got {tiles!r}")
    if placement not in TILE_PLACEMENTS:
        raise ValueError(f"tile placement must be one of {', '.join(TILE_PLACEMENTS)}, got {placement!r}")
    rule, k = str(aggregate), str(aggregate)[3:]
    top = rule.startswith("top") and k.isascii() and k.isdigit() and 2 <= int(k) <= tiles
    if rule not in ("mean", "max") and not top:
        raise ValueError(
            f"tile aggregate must be mean, max or topK with 2 <= K <= tiles ({tiles}), got {aggregate!r}"
        )


# Folder names mapped to the two canonical classes (docs/design.md "Model bundle").
# Below this ROC-AUC or balanced accuracy a two-class model is called "at chance" (0.5 is a coin toss): what
# `train` warns about after validating and `info` says beside the metrics, one rule for both.
CHANCE_BELOW = 0.6


def chance_note(metrics: dict[str, Any]) -> str:
    """``at chance (...)`` when validation metrics show the model separates nothing yet; "" otherwise or unknown."""
    auc = metrics.get("roc_auc")
    tpr, fpr = metrics.get("true_positive_rate"), metrics.get("false_positive_rate")
    balanced = (tpr + 1 - fpr) / 2 if isinstance(tpr, (int, float)) and isinstance(fpr, (int, float)) else None
    low = [f"{name} {value:.2f}" for name, value in (("ROC-AUC", auc), ("balanced accuracy", balanced))
           if isinstance(value, (int, float)) and value < CHANCE_BELOW]  # fmt: skip
    if not low:
        return ""
    return (f"at chance ({', '.join(low)}; 0.5 is a coin toss): it separates nothing yet, so train longer, on more "
            "images or from pretrained weights")  # fmt: skip


AI_ALIASES = ("ai", "fake", "generated", "synthetic")
REAL_ALIASES = ("nature", "real", "authentic")
AI_CLASS = "ai"
REAL_CLASS = "real"


def canonical_class(folder_name: str) -> str | None:
    """Map a class folder name to ``ai`` / ``real``, or None when it is neither."""
    name = folder_name.strip().lower()
    if name in AI_ALIASES:
        return AI_CLASS
    if name in REAL_ALIASES:
        return REAL_CLASS
    return None


@dataclass
class ModelSpec:
    """Architecture, classes in logit order, preprocessing and decision threshold of a model."""

    arch: str = "convnext_tiny"
    classes: list[str] = field(default_factory=lambda: [AI_CLASS, REAL_CLASS])
    positive_class: str = AI_CLASS
    preprocess: PreprocessSpec = field(default_factory=PreprocessSpec)
    threshold: float = 0.5
    threshold_source: str = "default (0.5)"
    data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    created: str = ""
    format_version: int = FORMAT_VERSION
    # What `synthsight calibrate` fitted (verdicts/rule.py: Calibration.to_dict()); empty: uncalibrated.
    calibration: dict[str, Any] = field(default_factory=dict)
    # SHA-256 of the bundle weights an exported file was made from (empty in a bundle's own model.json).
    weights_sha256: str = ""

    def __post_init__(self) -> None:
        self.validate()

    @property
    def positive_index(self) -> int:
        return self.classes.index(self.positive_class)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def validate(self) -> None:
        """Refuse specs that would silently produce wrong verdicts."""
        if not isinstance(self.arch, str) or not self.arch:
            raise ModelFileError("model spec: 'arch' must be a non-empty timm model name")
        if not isinstance(self.classes, list) or len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise ModelFileError(f"model spec: 'classes' must list at least two distinct names, got {self.classes!r}")
        if self.positive_class not in self.classes:
            raise ModelFileError(
                f"model spec: positive class {self.positive_class!r} is not among classes {self.classes}"
            )
        if not isinstance(self.threshold, (int, float)) or not 0.0 <= float(self.threshold) <= 1.0:
            raise ModelFileError(f"model spec: threshold must be in [0, 1], got {self.threshold!r}")
        if not isinstance(self.preprocess, PreprocessSpec):
            raise ModelFileError("model spec: 'preprocess' is missing or malformed")
        if not isinstance(self.weights_sha256, str):
            raise ModelFileError("model spec: 'weights_sha256' must be text")
        self.calibrated()  # a malformed calibration is refused when the spec is read, not mid-scan

    def calibrated(self) -> Calibration | None:
        """The model's calibration (verdicts ai | uncertain | real), or None when it has none."""
        if self.calibration in (None, {}):
            return None
        return Calibration.from_dict(self.calibration)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["preprocess"] = self.preprocess.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        if not isinstance(data, dict):
            raise ModelFileError("model spec: expected a JSON object")
        version = data.get("format_version", FORMAT_VERSION)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ModelFileError(
                f"model spec: format version {version!r} is newer than this synthsight understands "
                f"({FORMAT_VERSION}); upgrade synthsight"
            )
        known = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in data.items() if k in known}
        try:
            kwargs["preprocess"] = PreprocessSpec.from_dict(data.get("preprocess", {}))
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"model spec: {exc}") from None

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelFileError(f"model spec: not valid JSON ({exc})") from None
        return cls.from_dict(data)

    def to_onnx_metadata(self) -> dict[str, str]:
        """Key/value pairs for an ONNX model's ``metadata_props``."""
        return {ONNX_METADATA_KEY: self.to_json(indent=None)}

    @classmethod
    def from_onnx_metadata(cls, props: dict[str, str]) -> ModelSpec:
        if ONNX_METADATA_KEY not in props:
            raise ModelFileError(
                f"ONNX file has no '{ONNX_METADATA_KEY}' metadata: it was not exported by synthsight "
                "(re-export it with `synthsight export`)"
            )
        return cls.from_json(props[ONNX_METADATA_KEY])
