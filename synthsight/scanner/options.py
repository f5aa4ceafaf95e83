"""The options of a scan and their defaults: the one place they live. `synthsight scan`'s click options read
their defaults and choices from here, and :func:`synthsight.scanner.pipeline.scan` takes the same names as
keywords. Light at import (no numpy, no PIL): the CLI loads it to build ``--help``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from synthsight.errors import UsageError
from synthsight.image.read_window import DEFAULT_MAX_PIXELS
from synthsight.image.views import MAX_VIEWS, VIEW_NAMES
from synthsight.reports.shard import Shard

BATCH_SIZE = 32  # images per inference batch
DECODE_TIMEOUT = 300.0  # seconds a decode process may spend on one file before it is stopped
GRADCAM_FOR = ("ai", "all", "none")  # which records get a Grad-CAM overlay with --gradcam


@dataclass
class ScanOptions:
    """Everything `synthsight scan` can be told: the CLI flags, one to one, with their defaults (click reads them)."""

    backend: str = "auto"
    device: str = "auto"
    precision: str = "auto"
    batch_size: int = BATCH_SIZE
    workers: int | None = None  # None: pool.plan_cores decides
    threads: int | None = None  # inference threads on CPU; None: the runtime's choice
    recursive: bool = True
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    follow_symlinks: bool = False
    all_files: bool = False
    files_from: str | None = None  # a list of paths ("-": stdin) scanned instead of walking
    null: bool = False  # the list is NUL-separated (find -print0)
    shard: str | Shard | None = None  # "K/N": only this shard of the files
    ray: str | None = None  # "local", "auto" or a cluster address: scan on Ray (cluster.py)
    threshold: float | None = None  # forces one cut: a calibration's bounds then no longer apply
    stability: int = 0  # re-encoded views scored beside each image (synthsight.image.views); 0: off
    resume: bool = False
    overwrite: bool = False
    hash_files: bool = True
    max_pixels: int = DEFAULT_MAX_PIXELS
    gradcam_dir: str | None = None
    gradcam_for: str = "ai"
    gradcam_layer: str | None = None
    quiet: bool = False
    command_line: str = ""
    decode_timeout: float = DECODE_TIMEOUT  # seconds a decode process may spend on one file
    stall_timeout: float = 600.0  # --ray: seconds without a batch from the cluster before the scan stops (watchdog)
    provenance: bool = True  # read what each file declares (C2PA, XMP, generator tools, EXIF)
    trust_anchors: tuple[str, ...] = ()  # PEM files trusted beside the vendored C2PA trust list

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise UsageError("--batch-size must be at least 1")
        if self.workers is not None and self.workers < 0:
            raise UsageError("--workers must be 0 (decode in this process) or more")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise UsageError("--threshold must be between 0 and 1")
        if not 0 <= self.stability <= MAX_VIEWS:
            raise UsageError(f"--stability must be between 0 (off) and {MAX_VIEWS} (the views: {VIEW_NAMES})")
        if self.gradcam_for not in GRADCAM_FOR:
            raise UsageError(f"--gradcam-for must be {', '.join(GRADCAM_FOR[:-1])} or {GRADCAM_FOR[-1]}")
        if self.null and self.files_from is None:
            raise UsageError("--null describes the --files-from list: give --files-from too")
        if isinstance(self.shard, str):
            self.shard = Shard.parse(self.shard)


DEFAULTS = ScanOptions()


def check_names(options: dict) -> None:
    """Refuse keywords that are no scan option (a TypeError, as a Python call with a wrong keyword)."""
    unknown = set(options) - {f.name for f in fields(ScanOptions)}
    if unknown:
        raise TypeError(f"scan() got unknown options {sorted(unknown)}")
