"""Option decorators shared by several commands (one definition each, no copy-pasted blocks)."""

from __future__ import annotations

import click

model_option = click.option(
    "--model",
    "-m",
    "model",
    required=True,
    type=click.Path(exists=True, dir_okay=True),
    help="Model bundle directory, .onnx file or .engine file.",
)
backend_option = click.option(
    "--backend",
    type=click.Choice(["auto", "tensorrt", "onnxruntime", "openvino", "torch"]),
    default="auto",
    show_default=True,
    help="Runtime; auto picks by file type, what this machine has and (with --precision auto) measured speed.",
)
device_option = click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
precision_option = click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "fp16", "bf16", "int8"]),
    default="auto",
    show_default=True,
    help="Exported model on a CPU: auto (the fastest option whose export-time certificate passes the gate, "
    "measured once per model and machine), fp32, bf16 or int8 (native on this CPU only). PyTorch: fp32/bf16 on "
    "CPU, fp16/bf16/fp32 on CUDA. TensorRT and FP16 files run their own precision.",
)


def runtime_options(func):
    """--backend, --device and --precision together."""
    return backend_option(device_option(precision_option(func)))
