"""`synthsight explain`: a thin click wrapper over synthsight.explain.explain (heavy imports inside the body)."""

from __future__ import annotations

import click

from synthsight.cli.options import gradcam_layer_option, model_option, provenance_options, runtime_options


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
    from synthsight.explain import explain as run_explain

    result = run_explain(image, model, out, gradcam_layer, **options)
    click.echo(
        f"{result['verdict']}  score {result['score']:.4f} (threshold {result['threshold']:.4f})  {result['image']}"
    )
    click.echo(f"Grad-CAM overlay ({result['layer']}): {result['overlay']}")
    if result["provenance"]:
        click.echo(f"provenance: {result['provenance']}" + (f"  ({result['evidence']})" if result["evidence"] else ""))
        for note in result["provenance_notes"]:
            click.echo(f"  note: {note}")
