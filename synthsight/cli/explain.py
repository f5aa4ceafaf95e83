"""`synthsight explain`: a thin click wrapper over synthsight.explain.explain (heavy imports inside the body)."""

from __future__ import annotations

import click

from synthsight.cli.options import gradcam_layer_option, model_option, provenance_options, runtime_options
from synthsight.extras import require


@click.command("explain")
@click.argument("image", type=click.Path(exists=True, dir_okay=False))
@model_option
@runtime_options
@click.option(
    "--out", type=click.Path(dir_okay=False), default=None, help="Overlay PNG (default: ./<name>-<hash>.gradcam.png)."
)
@gradcam_layer_option
@provenance_options
def explain(image: str, model: str, out: str | None, gradcam_layer: str | None, **options) -> None:
    """Verdict, Grad-CAM overlay and the file's own provenance evidence for one image."""
    require("explain")
    from synthsight.explain import explain as run_explain

    result = run_explain(image, model, out, gradcam_layer, **options)
    click.echo(f"{result['verdict']}  score {result['score']:.4f} ({_cut(result)})  {result['image']}")
    if result["meaning"]:
        click.echo(f"{result['verdict']}: {result['meaning']}")
    click.echo(f"Grad-CAM overlay ({result['layer']}): {result['overlay']}")
    if result["provenance"]:
        click.echo(f"provenance: {result['provenance']}" + (f"  ({result['evidence']})" if result["evidence"] else ""))
        for note in result["provenance_notes"]:
            click.echo(f"  note: {note}")


def _cut(result: dict) -> str:
    """The threshold(s) the verdict was decided by, and the raw score when a calibration changed it."""
    raw = f"raw {result['raw_score']:.4f}, " if result["thresholds"] else ""
    if result["thresholds"]:
        t = result["thresholds"]
        return f"{raw}calibrated: real <= {t['t_real']:.4f}, ai >= {t['t_ai']:.4f}"
    return f"threshold {result['threshold']:.4f}"
