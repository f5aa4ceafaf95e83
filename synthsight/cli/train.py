"""`synthsight synth`, `train` and `eval`: thin click wrappers (torch is imported inside the bodies)."""

from __future__ import annotations

import click

from synthsight.cli.options import ModelFirst, device_option, max_per_class_option
from synthsight.errors import UsageError
from synthsight.extras import require
from synthsight.spec import DEFAULT_AGGREGATE, DEFAULT_PLACEMENT, DEFAULT_TILES, RESIZE_MODES, TILE_PLACEMENTS


@click.command("synth")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--n", "n", type=click.IntRange(min=4), default=400, show_default=True, help="Number of images.")
@click.option("--size", type=int, default=64, show_default=True, help="Image side (use the model's input size).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--confound",
    type=click.Choice(("format", "size")),
    default=None,
    help="Plant a shortcut: format (ai all PNG, real all JPEG) or size (ai 1.5x the side), for `audit` demos.",
)
def synth(out: str, n: int, size: int, seed: int, confound: str | None) -> None:
    """Write a balanced synthetic ImageFolder OUT/{train,val}/{ai,nature} (for tests and demos only)."""
    from synthsight.train.synthetic import make_synthetic

    try:
        path = make_synthetic(out, n=n, size=size, seed=seed, confound=confound)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    click.echo(f"wrote {n // 2 * 2} synthetic images to {path}")


@click.command("train")
@click.argument("data", type=click.Path(exists=True, file_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Bundle directory to write.")
@click.option("--arch", default="convnext_tiny", show_default=True, help="timm model name.")
@click.option("--size", type=int, default=224, show_default=True, help="Input size in pixels.")
@click.option(
    "--resize",
    type=click.Choice(RESIZE_MODES),
    default=None,
    help="How images reach the model: squash (both sides to --size), crop (short side, centre crop) or tiles "
    "(windows of --size at the file's own pixels, their logits aggregated; docs/scanning.md) "
    "[squash; tiles with --align size].",
)
@click.option(
    "--tiles",
    type=int,
    default=None,
    help=f"--resize tiles: the most windows scored per image [{DEFAULT_TILES}, measured].",
)
@click.option(
    "--tile-placement",
    type=click.Choice(TILE_PLACEMENTS),
    default=None,
    help=f"--resize tiles: an even grid or the most textured windows [{DEFAULT_PLACEMENT}, measured].",
)
@click.option(
    "--tile-aggregate",
    default=None,
    help=f"--resize tiles: mean, max or topK (e.g. top3) of the tiles' logits [{DEFAULT_AGGREGATE}, measured].",
)
@click.option("--init", default="imagenet", show_default=True, help="imagenet, random, or a weights/bundle path.")
@click.option("--epochs", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--lr", type=float, default=1e-4, show_default=True)
@click.option("--weight-decay", type=float, default=0.05, show_default=True)
@click.option("--patience", type=click.IntRange(min=1), default=3, show_default=True, help="Early-stopping epochs.")
@click.option("--min-delta", type=float, default=1e-4, show_default=True, help="Smallest val-loss gain that counts.")
@click.option("--seed", type=int, default=42, show_default=True)
@max_per_class_option
@device_option
@click.option("--workers", type=click.IntRange(min=0), default=None, help="DataLoader workers [min(4, cores)].")
@click.option("--deterministic", is_flag=True, help="Deterministic algorithms (slower on GPU).")
@click.option("--resume", type=click.Path(exists=True), default=None, help="Checkpoint folder to continue from.")
@click.option("--overwrite", is_flag=True, help="Train into a non-empty --out: replace its bundle, remove its exports.")
@click.option(
    "--augment",
    default="web",
    show_default=True,
    help="Degrade training images of both classes alike: none, web (JPEG re-encoding at random qualities; "
    "docs/training.md) or a recipe JSON file (crop, resize, blur, thumbnail, JPEG).",
)
@click.option(
    "--align",
    type=click.Choice(("format", "size")),
    default=None,
    help="format: re-encode every training image as JPEG at the real class's measured qualities, so format "
    "cannot be the cue; size: train on native windows (--resize tiles), so image size cannot be.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or per-epoch lines.")
def train(data: str, out: str, quiet: bool, **options) -> None:
    """Train a ConvNeXt on DATA (GenImage, Kaggle, per-generator or class-folder layouts); writes a bundle to OUT.

    The shortcut audit (`synthsight audit`) runs first: one warning line per fact that alone separates the
    classes, its summary in OUT/data_report.json.
    """
    require("train")
    from synthsight.audit.run import audit, console_lines
    from synthsight.train.loop import TrainConfig, fit

    if options["resize"] is None:
        options["resize"] = "tiles" if options["align"] == "size" else "squash"

    def shortcut_audit() -> dict:
        result = audit(data, seed=options["seed"], workers=options["workers"])
        for line in console_lines(result):
            click.echo(line, err=True)
        qualities = tuple(result.real_jpeg_qualities()) if options["align"] == "format" else ()
        return {"audit": result.summary(), "align_qualities": qualities}

    bundle = fit(TrainConfig(data=data, out=out, progress=not quiet, **options), audit=shortcut_audit)
    click.echo(f"model bundle: {bundle}")


@click.command("eval", cls=ModelFirst)
@click.argument("model", type=click.Path(exists=True))
@click.argument("data", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None, help="Write metrics here.")
@click.option("--plots", type=click.Path(file_okay=False), default=None, help="Write confusion matrix / ROC PNGs.")
@click.option("--target-fpr", type=float, default=None, help="Choose the threshold for this FPR on real images.")
@click.option("--write-threshold", is_flag=True, help="Store the chosen threshold in the bundle's model.json.")
@click.option("--include-training", is_flag=True, help="Also score the files the model trained on (optimistic).")
@click.option("--perturb", multiple=True, help="jpeg=90,75,50 or resize=0.5 (repeatable): re-evaluate under each.")
@click.option("--tiers", is_flag=True,
              help="Also score web (<=768 px, JPEG 60) and hard (<=512 px, JPEG 40) copies made in memory: "
              "balanced accuracy, AUC and calibrated verdict counts per tier.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@max_per_class_option
@click.option("--seed", type=int, default=42, show_default=True, help="Seed of the --max-per-class sample.")
@device_option
@click.option("--workers", type=click.IntRange(min=0), default=None, help="Decode workers for the data check.")
def evaluate(model: str, data: str, **options) -> None:
    """Evaluate MODEL on the images of DATA it did not train on: metrics, threshold for a target FPR, robustness."""
    require("eval")
    from synthsight.train.evaluate import EvalConfig, evaluate_model, format_report

    if options["write_threshold"] and options["target_fpr"] is None:
        raise UsageError("--write-threshold needs --target-fpr")
    result = evaluate_model(EvalConfig(model=model, data=data, **options))
    click.echo(format_report(result))
