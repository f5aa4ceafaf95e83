"""Option decorators shared by several commands (one definition each, no copy-pasted blocks).

Choices and defaults are imported from the modules that own them (all light at import): the backends and
precisions from runtime/registry.py, the device forms from machine.py, the scan's defaults from
scanner/options.py, the review page's from review/.
"""

from __future__ import annotations

import click

from synthsight.artifacts import model_kind
from synthsight.extras import require
from synthsight.machine import DEVICE_CHOICES
from synthsight.review import DEFAULT_PAGE_SIZE, DEFAULT_THUMBS, PAGE_SIZES
from synthsight.runtime.registry import BACKEND_CHOICES, PRECISION_CHOICES
from synthsight.scanner.options import DEFAULTS


class ModelFirst(click.Command):
    """A command whose first argument is MODEL (eval, calibrate, export, info) also takes it as ``--model``/``-m``,
    the spelling of scan, explain and bench: either works in every command that takes a model."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        args = list(args)
        for i, arg in enumerate(args):
            if arg == "--":
                break
            if arg in ("--model", "-m") and i + 1 < len(args):
                args.insert(0, args.pop(i + 1))  # MODEL first, where the positional reads it
                args.pop(i + 1)
                break
            if arg.startswith("--model="):
                args.insert(0, args.pop(i).split("=", 1)[1])
                break
        return super().parse_args(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_usage(ctx, formatter)
        formatter.write_text("MODEL may also be given as --model MODEL (or -m), as scan, explain and bench take it.")


model_option = click.option(
    "--model",
    "-m",
    "model",
    required=True,
    type=click.Path(exists=True, dir_okay=True),
    help="Model bundle directory, .onnx file or .engine file.",
)
backend_option = click.option(
    "--backend",
    type=click.Choice(BACKEND_CHOICES),
    default=DEFAULTS.backend,
    show_default=True,
    help="Runtime; auto picks by file type, what this machine has and (with --precision auto) measured speed.",
)
device_option = click.option("--device", default=DEFAULTS.device, show_default=True, help=f"{DEVICE_CHOICES}.")
max_per_class_option = click.option(
    "--max-per-class",
    type=click.IntRange(min=1),
    default=None,
    help="Use a seeded random sample of at most N files per class and generator in each split (nothing is copied).",
)
precision_option = click.option(
    "--precision",
    type=click.Choice(PRECISION_CHOICES),
    default=DEFAULTS.precision,
    show_default=True,
    help="Exported model on a CPU: auto (the fastest option whose export-time certificate passes the gate, "
    "measured once per model and machine), fp32, bf16 or int8 (native on this CPU only). PyTorch: fp32/bf16 on "
    "CPU, fp16/bf16/fp32 on CUDA. TensorRT and FP16 files run their own precision.",
)

gradcam_layer_option = click.option(
    "--gradcam-layer",
    default=None,
    help="Grad-CAM target layer (default: the last spatial feature map, e.g. ConvNeXt's last stage, "
    "ResNet's layer4; named in the output).",
)


trust_anchors_option = click.option(
    "--trust-anchors",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="PEM file of C2PA trust anchors, trusted beside the vendored C2PA trust list (repeatable).",
)


def provenance_options(func):
    """--provenance/--no-provenance and --trust-anchors (scan and explain)."""
    func = trust_anchors_option(func)
    return click.option(
        "--provenance/--no-provenance",
        default=DEFAULTS.provenance,
        show_default=True,
        help="Read what each file declares about its origin (C2PA, XMP/IPTC, generator tools, camera EXIF), "
        "offline, beside the verdict. Off: the columns stay, empty.",
    )(func)


def runtime_options(func):
    """--backend, --device and --precision together."""
    return backend_option(device_option(precision_option(func)))


thumbs_option = click.option(
    "--thumbs",
    type=click.IntRange(0),
    default=DEFAULT_THUMBS,
    show_default=True,
    help="Review page: thumbnails (and Grad-CAM links) for this many records, the highest-scoring flagged first.",
)
page_size_option = click.option(
    "--page-size",
    type=click.Choice([str(n) for n in PAGE_SIZES]),
    default=str(DEFAULT_PAGE_SIZE),
    show_default=True,
    help="Review page: rows per page (the page loads records page by page).",
)


def require_runtime(model: str, backend: str = "auto") -> None:
    """Refuse in one line (exit 2), before any work, a MODEL or --backend whose runtime is not installed: a bundle
    (or --backend torch) needs PyTorch, --backend openvino OpenVINO. ``--precision`` is checked where the CPU
    options are chosen (its message names the same extra)."""
    if backend == "torch" or model_kind(model) == "bundle":
        require("bundle")
    if backend == "openvino":
        require("openvino")
