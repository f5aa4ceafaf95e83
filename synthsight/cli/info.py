"""`synthsight info`: a thin click wrapper over synthsight.runtime.info."""

from __future__ import annotations

import click

from synthsight.cli.options import ModelFirst, require_runtime


@click.command("info", cls=ModelFirst)
@click.argument("model", type=click.Path(exists=True, file_okay=True, dir_okay=True))
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
def info(model: str, as_json: bool) -> None:
    """What MODEL is (bundle, .onnx or .engine), its metadata, and where it can run on this machine."""
    require_runtime(model)
    from synthsight.runtime.info import describe_model, format_info, info_json

    described = describe_model(model)
    click.echo(info_json(described) if as_json else format_info(described))
