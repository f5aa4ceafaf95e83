"""`synthsight audit`: a thin click wrapper over synthsight.audit (docs/training.md "The shortcut audit")."""

from __future__ import annotations

import click

from synthsight.extras import require


@click.command("audit")
@click.argument("data", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None, help="Write the audit here.")
@click.option("--plots", type=click.Path(file_okay=False), default=None, help="Write one PNG page per split here.")
@click.option("--seed", type=int, default=42, show_default=True, help="Seed of the train/val split (as train's).")
@click.option("--workers", type=click.IntRange(min=0), default=None, help="Header-reading processes [min(8, cores)].")
def audit(data: str, json_path: str | None, plots: str | None, seed: int, workers: int | None) -> None:
    """What, besides pixels, separates the classes of DATA: per-fact statistics and a metadata-only classifier.

    Every fact whose cross-validated AUC is at least 0.8 is one warning line. Unreadable files are listed;
    exit 0 unless no file is readable (exit 2).
    """
    require("audit")
    from synthsight.audit.run import audit as run_audit
    from synthsight.audit.run import console_lines

    result = run_audit(data, seed=seed, workers=workers)
    for line in console_lines(result):
        click.echo(line)
    if json_path:
        click.echo(f"audit: {result.write(json_path)}")
    if plots:
        from synthsight.audit.plots import plot_splits

        for path in plot_splits(result.readable, plots):
            click.echo(f"audit: {path}")
