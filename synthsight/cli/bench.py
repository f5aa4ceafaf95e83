"""`synthsight bench`: a thin click wrapper over synthsight.bench.run (only click at module level)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from synthsight.cli.options import model_option, require_runtime
from synthsight.runtime.registry import BACKENDS


@click.command("bench")
@model_option
@click.option(
    "--backends", default="", help=f"Comma list of {', '.join(BACKENDS)} (default: all that run here)."
)
@click.option("--batch-sizes", default="1,8,32", show_default=True, help="Comma list of batch sizes.")
@click.option("--images", type=click.Path(exists=True, file_okay=False, path_type=Path), help="Benchmark on these.")
@click.option(
    "--synthetic",
    type=click.IntRange(4, 100_000),
    default=32,
    show_default=True,
    help="Without --images: this many generated photo-like images (JPEG 0.3/2/12 MP, PNG 512 px).",
)
@click.option(
    "--seconds",
    type=click.FloatRange(0.01),
    default=2.0,
    show_default=True,
    help="Time spent per backend and batch size (after warm-up).",
)
@click.option("--workers", type=click.IntRange(0), default=None, help="Decode processes (default: the scanner's).")
@click.option("--no-decode", is_flag=True, help="Skip the decode-pool measurement.")
@click.option("--no-scan", is_flag=True, help="Skip the end-to-end scan measurement.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Also write JSON here.")
def bench(model, backends, batch_sizes, images, synthetic, seconds, workers, no_decode, no_scan, json_path) -> None:
    """Images/s and latency of every backend that can run MODEL here, decode and end-to-end scan speed."""
    require_runtime(model)
    from synthsight.bench.run import BenchConfig, format_result, run_bench
    from synthsight.errors import UsageError

    try:
        sizes = tuple(int(b) for b in batch_sizes.split(",") if b.strip())
    except ValueError:
        raise UsageError(f"--batch-sizes must be integers separated by commas, got {batch_sizes!r}") from None
    if not sizes or min(sizes) < 1:
        raise UsageError("--batch-sizes needs at least one batch size >= 1")
    wanted = tuple(b.strip() for b in backends.split(",") if b.strip())

    if set(wanted) - set(BACKENDS):
        raise UsageError(f"--backends takes a comma list of {', '.join(BACKENDS)}, got {backends!r}")
    config = BenchConfig(Path(model), wanted, sizes, images, synthetic, seconds, workers, not no_decode, not no_scan)
    result = run_bench(config, progress=lambda msg: click.echo(msg, err=True))
    click.echo(format_result(result))
    if json_path:
        json_path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
        click.echo(f"JSON written to {json_path}")
