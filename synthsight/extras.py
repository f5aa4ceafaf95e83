"""Which optional extra of the package provides which import, and the one line that says so.

The base install (``pip install synthsight``) scans exported ``.onnx`` files on a CPU, writes and merges
reports, builds the review page and reads provenance: it has no PyTorch. Every job that needs more is
refused here, before any work, with one line naming the extra (``training needs PyTorch: pip install
'synthsight[train]'``; a UsageError: exit 2). pyproject.toml lists what each extra installs;
tests/test_extras.py checks that each job's imports are installed by its extra.

Standard library only: the CLI checks a job before it imports the part that does it.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from synthsight.errors import UsageError

# import name -> the name a user knows it by (the message names the first one missing)
NAMES: dict[str, str] = {
    "torch": "PyTorch",
    "torchvision": "torchvision",
    "timm": "timm",
    "safetensors": "safetensors",
    "sklearn": "scikit-learn",
    "scipy": "SciPy",
    "matplotlib": "matplotlib",
    "onnxslim": "onnxslim",
    "onnxconverter_common": "onnxconverter-common",
    "nncf": "NNCF",
    "pytorch_grad_cam": "grad-cam",
    "openvino": "OpenVINO",
    "ray": "Ray Data",
    "tensorrt": "TensorRT",
}

# What a model bundle needs to be loaded (synthsight.model): PyTorch, timm (which imports torchvision), safetensors.
_BUNDLE = ("torch", "torchvision", "timm", "safetensors")


@dataclass(frozen=True)
class Job:
    what: str  # the start of the line: "training needs PyTorch: ..."
    extra: str
    imports: tuple[str, ...]  # in the order the line names them
    note: str = ""  # what works without the extra


JOBS: dict[str, Job] = {
    "train": Job("training", "train", (*_BUNDLE, "sklearn", "matplotlib")),
    "eval": Job("evaluating", "train", (*_BUNDLE, "sklearn", "matplotlib")),
    # fitting needs SciPy (it comes with scikit-learn); the bundle's spec is read through synthsight.model
    "audit": Job("auditing a dataset", "train", ("sklearn", "matplotlib")),  # a tree per fact, plots
    "calibrate": Job("calibrating", "train", (*_BUNDLE, "scipy", "matplotlib")),
    "export": Job("exporting", "export", (*_BUNDLE, "onnxslim", "onnxconverter_common", "nncf")),
    "explain": Job("explaining (Grad-CAM)", "explain", (*_BUNDLE, "pytorch_grad_cam")),
    "gradcam": Job("--gradcam", "explain", (*_BUNDLE, "pytorch_grad_cam")),
    "bundle": Job("a model bundle", "train", _BUNDLE, "an exported .onnx file runs without it"),
    "openvino": Job("--backend openvino", "openvino", ("openvino",)),
    "ray": Job("--ray", "cluster", ("ray",)),
}


def install_hint(extra: str) -> str:
    """The pip line that installs ``extra``."""
    return f"pip install 'synthsight[{extra}]'"


def installed(module: str) -> bool:
    """Whether ``module`` can be imported here (found, not imported: checking loads nothing)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a module set to None in sys.modules
        return False


def missing(job: str) -> str:
    """The one line that refuses ``job`` here, or "" when everything it imports is installed."""
    spec = JOBS[job]
    absent = next((m for m in spec.imports if not installed(m)), None)
    if absent is None:
        return ""
    line = f"{spec.what} needs {NAMES[absent]}: {install_hint(spec.extra)}"
    return f"{line} ({spec.note})" if spec.note else line


def require(*jobs: str) -> None:
    """Refuse (UsageError, exit 2) the first of ``jobs`` whose imports are not all installed."""
    for job in jobs:
        line = missing(job)
        if line:
            raise UsageError(line)
