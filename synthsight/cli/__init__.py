"""The click group. Commands live beside the part they drive and are imported only when run,
so `synthsight --help` loads no torch, onnxruntime or tensorrt."""

from __future__ import annotations

import importlib
import os
import sys

import click

from synthsight import __version__
from synthsight.errors import EXIT_INTERRUPTED, SynthsightError

# command name -> "module:attribute"; each module imports only click at top level.
COMMANDS = {
    "synth": "synthsight.cli.train:synth",
    "audit": "synthsight.cli.audit:audit",
    "train": "synthsight.cli.train:train",
    "eval": "synthsight.cli.train:evaluate",
    "calibrate": "synthsight.cli.calibrate:calibrate",
    "export": "synthsight.cli.export:export",
    "info": "synthsight.cli.info:info",
    "scan": "synthsight.cli.scan:scan",
    "explain": "synthsight.cli.explain:explain",
    "merge": "synthsight.cli.merge:merge",
    "report": "synthsight.cli.report:report",
    "bench": "synthsight.cli.bench:bench",
    "trust-list": "synthsight.cli.trust_list:trust_list",
}


# What `synthsight --help` lists beside each command: whole phrases (click cut each docstring mid-phrase
# at the terminal's width), and without importing any command's module.
SHORT = {
    "synth": "Write a small synthetic image folder (tests, demos)",
    "audit": "What besides pixels separates the classes of DATA",
    "train": "Train a model bundle on labelled folders of images",
    "eval": "Score a model on images it did not train on",
    "calibrate": "Fit the thresholds that bound the error rates",
    "export": "Make ONNX (FP32, FP16, INT8) and TensorRT files",
    "info": "What a model file is and what runs it here",
    "scan": "Scan files and folders into a CSV/JSONL report",
    "explain": "One image: verdict, Grad-CAM overlay, provenance",
    "merge": "Merge the reports of scan --shard K/N",
    "report": "Build the review page of scan reports",
    "bench": "Speed of every backend that runs a model here",
    "trust-list": "The vendored C2PA trust list",
}
# One example per command, shown at the end of its --help (one place for all of them).
EXAMPLES = {
    "synth": "synthsight synth demo-data --n 200",
    "audit": "synthsight audit ~/photos-and-ai",
    "train": "synthsight train ~/photos-and-ai --out models/mine --arch convnext_atto --size 128 --init random "
    "--epochs 3",
    "eval": "synthsight eval models/mine ~/held-out --target-fpr 0.01",
    "calibrate": "synthsight calibrate models/mine ~/labelled-sample",
    "export": "synthsight export models/mine --format onnx",
    "info": "synthsight info models/mine/model.onnx",
    "scan": "synthsight scan /archive --model models/mine/model.onnx --out verdicts.csv --html review.html",
    "explain": "synthsight explain photo.jpg --model models/mine --out photo.cam.png",
    "merge": "synthsight merge all.csv part-*.csv",
    "report": "synthsight report verdicts.csv --html review.html",
    "bench": "synthsight bench --model models/mine/model.onnx",
    "trust-list": "synthsight trust-list",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        try:
            command = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            return _unavailable(name, exc)
        if name in EXAMPLES and not command.epilog:
            command.epilog = f"\b\nExample:\n  {EXAMPLES[name]}"
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, SHORT.get(name, "")) for name in COMMANDS])


def _unavailable(name: str, exc: Exception) -> click.Command:
    @click.command(name, help=f"(unavailable: {exc})", context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def missing(args: tuple[str, ...]) -> None:
        raise click.ClickException(f"command {name!r} is unavailable: {exc}")

    return missing


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="synthsight")
def cli() -> None:
    """Tell AI-generated images from real photographs, at archive scale.

    \b
    Typical flow:
      synthsight train DATA --out model/        # a ConvNeXt on GenImage-style folders
      synthsight export model/ --format all     # ONNX, FP16 ONNX, TensorRT engine
      synthsight scan /archive --model model/model.onnx --out verdicts.csv
    """


def main() -> None:
    """Console entry point: user-fixable failures are one line and an exit code, never a traceback."""
    try:
        # Without standalone mode click returns a command's ctx.exit(code) instead of exiting with it.
        code = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except SynthsightError as exc:
        click.echo(f"error: {exc}", err=True)
        if getattr(exc, "end_process", False):  # errors.ScanInterrupted: nothing left to do that can finish
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(exc.exit_code)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if isinstance(code, int) and code:
        sys.exit(code)


if __name__ == "__main__":
    main()
