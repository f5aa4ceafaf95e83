"""`synthsight report`: a thin click wrapper over :func:`synthsight.review.page.write_review`."""

from __future__ import annotations

import click

from synthsight.cli.options import page_size_option, thumbs_option


@click.command("report")
@click.argument("reports", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--html", "html", required=True, type=click.Path(dir_okay=False), help="The review page to write.")
@thumbs_option
@page_size_option
@click.option(
    "--workers", type=click.IntRange(0), default=None, help="Thumbnail processes (0: this one). Default: the cores."
)
@click.option("--title", default=None, help="Page title (default: the report names).")
@click.option("--max-pixels", type=click.IntRange(1), default=None, help="Pixel cap (default: the scan's).")
@click.option("--overwrite", is_flag=True, help="Replace an existing page (its thumbnails are reused).")
@click.option("--quiet", "-q", is_flag=True, help="No progress and no summary line.")
def report(reports: tuple[str, ...], html: str, page_size: str, **options) -> None:
    """Write a review page (one HTML file and a folder beside it) for CSV, JSONL or JSON scan reports."""
    from synthsight.review.page import ReviewConfig, write_review

    result = write_review(ReviewConfig(list(reports), html, page_size=int(page_size), **options))
    if not options["quiet"]:
        click.echo(result.line, err=True)
