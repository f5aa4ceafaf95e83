"""`synthsight calibrate`: a thin click wrapper (numpy, scipy and the runtimes are imported inside the body)."""

from __future__ import annotations

import click

from synthsight.cli.options import ModelFirst, device_option
from synthsight.errors import EXIT_FAILED
from synthsight.extras import require


@click.command("calibrate", cls=ModelFirst)
@click.argument("model", type=click.Path(exists=True))
@click.argument("data", type=click.Path(exists=True, file_okay=False))
@click.option("--target-fpr", type=float, default=0.01, show_default=True,
              help="Most real photographs called ai (the false-accusation rate) the ai threshold allows.")
@click.option("--target-miss", type=float, default=0.05, show_default=True,
              help="Most AI-generated images called real the real threshold allows.")
@click.option("--confidence", type=float, default=0.95, show_default=True,
              help="Confidence with which each rate holds (a finite-sample bound, not an estimate).")
@click.option("--by", type=click.Choice(["format", "size"]), multiple=True,
              help="Thresholds per stratum (repeatable): format (jpeg/png/other), size (longer side <=512, "
              "<=1024, larger). A stratum too small for its own bounds uses the pooled ones.")
@click.option("--allow-training-data", is_flag=True, help="Calibrate even on images the bundle was trained on.")
@click.option("--report", type=click.Path(file_okay=False), default=None,
              help="Report folder [calibration/ beside the bundle's model.json].")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@device_option
@click.option("--workers", type=click.IntRange(min=0), default=None, help="Decode processes [the usable cores].")
@click.pass_context
def calibrate(ctx: click.Context, model: str, data: str, **options) -> None:
    """Calibrate MODEL (a bundle, or an export beside its bundle) on labelled images in DATA, not the training
    images: a temperature and the ai / real thresholds with bounded error rates, stored in the bundle and its
    exports. Between the thresholds the verdict is `uncertain`."""
    require("calibrate")
    from synthsight.calibrate.run import CalibrateConfig, calibrate

    result = calibrate(CalibrateConfig(model=model, data=data, **options), echo=click.echo)
    if result.stored.failed:
        ctx.exit(EXIT_FAILED)
