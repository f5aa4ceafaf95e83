"""`synthsight merge`: a thin click wrapper over synthsight.reports.merge.merge."""

from __future__ import annotations

import shlex
import sys

import click


@click.command("merge")
@click.argument("out", type=click.Path(dir_okay=False))
@click.argument("reports", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@click.option("--quiet", "-q", is_flag=True, help="No summary line.")
def merge(out: str, reports: tuple[str, ...], overwrite: bool, quiet: bool) -> None:
    """Merge the .csv/.jsonl reports of `scan --shard K/N` into OUT (.csv, .jsonl or .json), in walk order."""
    from synthsight.reports.merge import merge as run_merge

    command_line = shlex.join(["synthsight", *sys.argv[1:]])
    summary = run_merge(out, list(reports), overwrite=overwrite, command_line=command_line)
    if not quiet:
        click.echo(summary.line, err=True)
