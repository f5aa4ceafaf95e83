"""`synthsight export`: a thin click wrapper over synthsight.export.pipeline.export_model."""

from __future__ import annotations

import click

from synthsight.cli.options import ModelFirst
from synthsight.extras import require


@click.command("export", cls=ModelFirst)
@click.argument("model", type=click.Path(exists=True, file_okay=True, dir_okay=True))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["onnx", "fp16", "int8", "engine", "all"]),
    default="all",
    show_default=True,
    help="onnx: FP32 ONNX; fp16: + mixed-FP16 ONNX; int8: + INT8 ONNX for CPUs (calibrated on the bundle's "
    "training images); engine: + TensorRT engine (needs tensorrt and a GPU); all: every file this machine can make "
    "(INT8 only on a CPU with INT8 dot products: VNNI or AMX).",
)
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Output directory [default: the bundle].")
@click.option("--opset", type=int, default=18, show_default=True, help="ONNX opset (>= 17 keeps LayerNorm one node).")
@click.option("--batch", type=int, default=32, show_default=True, help="TensorRT profile: optimal batch size.")
@click.option("--max-batch", type=int, default=256, show_default=True, help="TensorRT profile: largest batch size.")
@click.option("--workspace", type=float, default=4.0, show_default=True, help="TensorRT builder workspace in GB.")
@click.option("--timing-cache", type=click.Path(dir_okay=False), default=None, help="TensorRT timing cache file.")
@click.option(
    "--check-images",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Images to check parity on [default: 32 synthetic images]; reduced-precision certificates are measured on "
    "them too, beside the bundle's validation images.",
)
@click.option(
    "--calibration-data",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="INT8: calibrate on these images [default: a sample of the bundle's training images]; also certified on.",
)
@click.option("--calibration-count", type=click.IntRange(1), default=300, show_default=True, help="INT8 images.")
def export(model, fmt, out, opset, batch, max_batch, workspace, timing_cache, check_images, **calibration) -> None:
    """Export MODEL (a bundle) to ONNX, FP16/INT8 ONNX and a TensorRT engine, each checked against its reference."""
    require("export")
    from pathlib import Path

    from synthsight.export.pipeline import ExportConfig, export_model
    from synthsight.export.tensorrt import EngineConfig

    config = ExportConfig(
        model=Path(model),
        format=fmt,
        out=Path(out) if out else None,
        opset=opset,
        engine=EngineConfig(batch, max_batch, workspace, Path(timing_cache) if timing_cache else None),
        check_images=Path(check_images) if check_images else None,
        calibration_data=Path(calibration["calibration_data"]) if calibration["calibration_data"] else None,
        calibration_count=calibration["calibration_count"],
    )
    export_model(config, echo=click.echo)
