"""`synthsight scan`: a thin click wrapper over synthsight.scanner.pipeline.scan (heavy imports inside the body)."""

from __future__ import annotations

import shlex
import sys

import click

from synthsight.cli.options import (
    gradcam_layer_option,
    model_option,
    provenance_options,
    require_runtime,
    runtime_options,
    thumbs_option,
)
from synthsight.errors import EXIT_INTERRUPTED, EXIT_NOTHING_SCANNED, exit_code_for
from synthsight.extras import require
from synthsight.image.views import MAX_VIEWS, VIEW_NAMES
from synthsight.scanner.options import DEFAULTS, GRADCAM_FOR


def _resume_command() -> str:
    args = [a for a in sys.argv[1:] if a != "--overwrite"]
    return shlex.join(["synthsight", *args, *([] if "--resume" in args else ["--resume"])])


@click.command("scan")
@click.argument("paths", nargs=-1, type=click.Path())
@model_option
@runtime_options
@click.option(
    "--out", "outputs", multiple=True, type=click.Path(), help="Report file: .csv, .jsonl or .json (repeatable)."
)
@click.option(
    "--batch-size",
    default=DEFAULTS.batch_size,
    show_default=True,
    type=click.IntRange(1),
    help="Images per inference batch.",
)
@click.option(
    "--workers",
    type=click.IntRange(0),
    default=None,
    help="Decode processes (0: decode in this process). Default on a CPU: half the usable CPUs plus one (a "
    "spare one fills the moments inference waits); with a GPU: all but one.",
)
@click.option(
    "--threads",
    type=click.IntRange(1),
    default=None,
    help="CPU threads for inference. Default: the CPUs this scan may use, less those the decode workers take "
    "(how it is counted: docs/scanning.md).",
)
@click.option(
    "--recursive/--no-recursive", default=DEFAULTS.recursive, show_default=True, help="Descend into sub-folders."
)
@click.option("--include", multiple=True, help="Only files whose name or path matches this glob (repeatable).")
@click.option("--exclude", multiple=True, help="Leave out files and folders matching this glob (repeatable).")
@click.option(
    "--follow-symlinks", is_flag=True, help="Follow symbolic links inside folders (each file still scanned once)."
)
@click.option("--all-files", is_flag=True, help="Give non-image files a 'skipped' record instead of ignoring them.")
@click.option(
    "--files-from",
    type=click.Path(dir_okay=False, allow_dash=True),
    default=None,
    help="Scan the files listed in this file, one path per line ('-': standard input), instead of walking PATHS.",
)
@click.option("--null", "-0", is_flag=True, help="The --files-from list is NUL-separated (find -print0).")
@click.option(
    "--shard",
    metavar="K/N",
    default=None,
    help="Scan only shard K of N (a stable hash of each path); `synthsight merge` joins the N reports.",
)
@click.option(
    "--ray",
    metavar="ADDRESS",
    default=None,
    help="Scan on Ray: 'local' starts Ray on this machine, 'auto' or HOST:PORT joins a running cluster.",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1),
    default=None,
    help="Force one decision threshold (default: the model's; with a calibration, its two thresholds and the "
    "uncertain band between them). A calibration's error bounds then no longer apply, and the manifest says so.",
)
@click.option(
    "--stability",
    type=click.IntRange(0, MAX_VIEWS),
    default=DEFAULTS.stability,
    show_default=True,
    help=f"Also score K in-memory re-encodings of each image (in order: {VIEW_NAMES}); records get stability, "
    "score_min, score_max and unstable (any view's verdict differs). About K+1 inferences per image.",
)
@click.option("--resume", is_flag=True, help="Continue an interrupted scan from its .csv/.jsonl report.")
@click.option("--overwrite", is_flag=True, help="Replace existing report files.")
@click.option(
    "--hash/--no-hash", "hash_files", default=DEFAULTS.hash_files, show_default=True, help="SHA-256 of every file."
)
@click.option(
    "--max-pixels",
    type=click.IntRange(1),
    default=DEFAULTS.max_pixels,
    show_default=True,
    help="Refuse images larger than this many pixels (a decompression bomb is refused before decoding).",
)
@click.option(
    "--decode-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULTS.decode_timeout,
    show_default=True,
    help="Seconds a decode process may spend on one file; then it is stopped and the file gets an error record.",
)
@click.option(
    "--gradcam",
    "gradcam_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Write Grad-CAM overlays into this folder.",
)
@click.option("--gradcam-for", type=click.Choice(GRADCAM_FOR), default=DEFAULTS.gradcam_for, show_default=True)
@gradcam_layer_option
@click.option(
    "--html",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write a review page from the --out report when the scan ends (as `synthsight report`).",
)
@thumbs_option
@provenance_options
@click.option("--quiet", "-q", is_flag=True, help="No progress and no summary line.")
def scan(
    paths: tuple[str, ...], model: str, outputs: tuple[str, ...], html: str | None, thumbs: int, **options
) -> None:
    """Scan image files and folders; one record per file in each --out report."""
    # what this scan needs beyond the base install, refused before anything is read or written
    require_runtime(model, options["backend"])
    require(*(["gradcam"] if options["gradcam_dir"] else []), *(["ray"] if options["ray"] else []))
    from synthsight.scanner.pipeline import scan as run_scan

    review = _review_plan(html, outputs, thumbs, options) if html else None  # refused before any scanning
    options.update(include=tuple(options["include"]), exclude=tuple(options["exclude"]))
    summary = run_scan(
        list(paths), model, list(outputs), command_line=shlex.join(["synthsight", *sys.argv[1:]]), **options
    )
    if not options["quiet"] or summary.interrupted:
        click.echo(summary.line, err=True)
    if summary.interrupted:
        click.echo(f"interrupted: the reports are valid; to finish the scan run:\n  {_resume_command()}", err=True)
        if review is not None:
            click.echo(f"the review page {html} is written when the scan completes", err=True)
        # 130 or 143; not click's Exit: main() runs click with standalone_mode=False, which returns it
        sys.exit(exit_code_for(summary.signal))
    _exit_if_nothing_scanned(summary, paths, sharded=bool(options.get("shard")))
    if review is not None:
        _write_page(review, options["quiet"])


def _write_page(review, quiet: bool) -> None:
    """The page of ``scan --html``; Ctrl-C while it is built says the scan is done and how to build it later."""
    from pathlib import Path

    from synthsight.review.page import write_review

    try:
        result = write_review(review)
    except KeyboardInterrupt:
        again = ["synthsight", "report", *review.reports, "--html", review.html]
        again += ["--overwrite"] if Path(review.html).exists() else []
        click.echo("interrupted while building the review page: the scan is complete and its reports are "
                   f"written; build the page with:\n  {shlex.join(again)}", err=True)  # fmt: skip
        sys.exit(EXIT_INTERRUPTED)
    if not quiet:
        click.echo(result.line, err=True)


def _exit_if_nothing_scanned(summary, paths: tuple[str, ...], sharded: bool) -> None:
    """A scan that found no file to scan says so in one line (even with --quiet) and exits 3: a batch job
    pointed at a wrong folder or an unmounted share must notice. One shard of a small tree may own no file
    (the other shards scanned them): not this case."""
    if sharded or sum(summary.counts.values()) or summary.walked.get("already_in_report"):
        return
    where = ", ".join(paths) or "the --files-from list"
    click.echo(f"WARNING: nothing to scan: no image file found in {where} (wrong folder, or a share not "
               f"mounted?); the reports are empty; exit {EXIT_NOTHING_SCANNED}", err=True)  # fmt: skip
    sys.exit(EXIT_NOTHING_SCANNED)


def _review_plan(html: str, outputs: tuple[str, ...], thumbs: int, options: dict):
    """The page `scan --html` will write, checked now: it is built from a report this scan writes."""
    from synthsight.review.page import for_scan

    overwrite = options["overwrite"] or options["resume"]  # the page of an interrupted scan is remade on resume
    return for_scan(html, list(outputs), thumbs, overwrite=overwrite, quiet=options["quiet"])
