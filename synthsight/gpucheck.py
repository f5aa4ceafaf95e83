"""What `make gpu-check` checks before it runs anything on a GPU, and which GPU rows can run here.

Two stages, both ``python -m synthsight.gpucheck``:

``device``
    The preflight, run first with the system Python before anything is installed, so it uses the
    standard library and ``nvidia-smi`` only. Without a visible CUDA device it prints one line saying
    what is missing (and the driver and CUDA versions it found) and exits 2.
``components [--rows R]``
    Run inside the GPU environment: one row per GPU path (the TensorRT engine, ONNX Runtime's
    TensorRT and CUDA providers, PyTorch CUDA), each ``ok`` or ``not run: <reason>``. Exits 2 when a
    wanted row cannot run; ``GPU_ROWS`` / ``--rows`` names the rows wanted (all by default), so
    leaving a component out is an explicit choice, never a silent skip.

The same row names tag the ``gpu`` tests (``@pytest.mark.gpu("engine")``) and the GPU benchmark's
rows. Under gpu-check (``SYNTHSIGHT_GPU_CHECK=1``) a GPU test of a wanted row that skips fails.
Nothing here imports synthsight's heavy modules at import time; the component probes import
torch, onnxruntime and tensorrt inside the functions that need them.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass

# row name -> what it measures and tests
ROWS: dict[str, str] = {
    "engine": "TensorRT engine (synthsight runtime)",
    "ort-trt": "ONNX Runtime TensorRT execution provider",
    "ort-cuda": "ONNX Runtime CUDA execution provider",
    "torch": "PyTorch CUDA (fp16 autocast)",
}
ROWS_ENV = "GPU_ROWS"  # comma list of the rows wanted; unset: all
STRICT_ENV = "SYNTHSIGHT_GPU_CHECK"  # set by make gpu-check: a GPU test that skips is a failure
MIN_TENSORRT = (10, 12)
SMI_TIMEOUT_S = 20  # a wedged driver can hang nvidia-smi; the preflight must answer within a minute
# What the GPU environment needs besides the GPU packages: synthsight's own dependencies and pytest.
BASE_MODULES = ("numpy", "PIL", "click", "safetensors", "torch", "timm", "onnx", "onnxslim", "pytest")


@dataclass(frozen=True)
class Device:
    """What ``nvidia-smi`` reports: GPU names, driver version, newest CUDA the driver supports."""

    names: tuple[str, ...]
    driver: str
    cuda: str

    def line(self) -> str:
        gpus = ", ".join(self.names)
        return f"CUDA device visible: {gpus} (driver {self.driver or '?'}, driver CUDA {self.cuda or '?'})"


class NoDevice(Exception):
    """No CUDA device is visible; the message is the one line the preflight prints."""


def _run_smi(smi: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([smi, *args], capture_output=True, text=True, timeout=SMI_TIMEOUT_S, check=False)


def probe_device(env: dict[str, str] | None = None) -> Device:
    """The visible CUDA devices per ``nvidia-smi``; raises :class:`NoDevice` with one line when there are none."""
    env = dict(os.environ if env is None else env)
    smi = shutil.which("nvidia-smi", path=env.get("PATH"))
    if not smi:
        raise NoDevice("no CUDA device visible: nvidia-smi not found on PATH (no NVIDIA driver installed)")
    try:
        summary = _run_smi(smi)
        listing = _run_smi(smi, "--query-gpu=name,driver_version", "--format=csv,noheader")
    except subprocess.TimeoutExpired:
        raise NoDevice(
            f"no CUDA device visible: nvidia-smi did not answer in {SMI_TIMEOUT_S} s (driver hung?)"
        ) from None
    except OSError as exc:
        raise NoDevice(f"no CUDA device visible: nvidia-smi could not run ({exc.strerror or exc})") from None
    cuda = _first(r"CUDA Version:\s*([0-9.]+)", summary.stdout)
    rows = [line.split(",") for line in listing.stdout.splitlines() if line.strip()] if listing.returncode == 0 else []
    driver = rows[0][-1].strip() if rows else _first(r"Driver Version:\s*([0-9.]+)", summary.stdout)
    found = f"driver {driver or 'unknown'}, driver CUDA {cuda or 'unknown'}"
    if listing.returncode != 0:
        why = (listing.stderr or listing.stdout or summary.stdout).strip().splitlines() or ["no output"]
        raise NoDevice(f"no CUDA device visible: nvidia-smi failed ({why[0][:160]}; {found})")
    if not rows:
        raise NoDevice(f"no CUDA device visible: nvidia-smi lists no GPU ({found})")
    hidden = env.get("CUDA_VISIBLE_DEVICES")
    if hidden is not None and hidden.strip() in ("", "-1", "none", "NoDevFiles"):
        raise NoDevice(f"no CUDA device visible: CUDA_VISIBLE_DEVICES={hidden!r} hides every GPU ({found})")
    return Device(tuple(",".join(r[:-1]).strip() for r in rows), driver, cuda)


def _first(pattern: str, text: str) -> str:
    match = re.search(pattern, text or "")
    return match.group(1) if match else ""


def wanted_rows(text: str | None = None) -> tuple[str, ...]:
    """The rows asked for (``GPU_ROWS`` or ``text``, a comma list); all rows when empty. Unknown -> ValueError."""
    text = os.environ.get(ROWS_ENV, "") if text is None else text
    rows = tuple(r.strip() for r in text.split(",") if r.strip()) or tuple(ROWS)
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        raise ValueError(f"unknown GPU row(s) {', '.join(unknown)}: choose among {', '.join(ROWS)}")
    return rows


def strict() -> bool:
    """True under make gpu-check: GPU tests must run, not skip."""
    return os.environ.get(STRICT_ENV, "") not in ("", "0")


# ---- components -------------------------------------------------------------------------------------


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = re.findall(r"\d+", text or "")[:2]
    return tuple(int(p) for p in parts)


def torch_problem(device: Device | None) -> str | None:
    """Why PyTorch cannot use CUDA here, or None."""
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    built = torch.version.cuda
    if not built:
        return f"torch {torch.__version__} is a CPU-only build (install a CUDA build of torch)"
    driver_cuda = device.cuda if device else ""
    if driver_cuda and _version_tuple(driver_cuda)[:1] < _version_tuple(built)[:1]:
        return (
            f"torch {torch.__version__} needs CUDA {built} but the driver supports CUDA {driver_cuda} at most "
            f"(driver {device.driver}): update the driver or install a torch build for CUDA {driver_cuda}"
        )
    if not torch.cuda.is_available():
        return f"torch {torch.__version__} (CUDA {built}) sees no CUDA device (driver CUDA {driver_cuda or '?'})"
    return None


def ort_problem(provider: str) -> str | None:
    """Why ONNX Runtime's ``provider`` is not available here, or None."""
    from synthsight.machine import installed, onnxruntime_conflict  # not at the top: the preflight is this file alone

    conflict = onnxruntime_conflict()
    if conflict:
        return conflict
    try:
        import onnxruntime as ort
    except ImportError:
        return "onnxruntime-gpu is not installed"
    if provider not in ort.get_available_providers():
        package = "onnxruntime-gpu" if installed("onnxruntime-gpu") else "onnxruntime (the CPU package)"
        return f"{package} {ort.__version__} does not list {provider} (available: {ort.get_available_providers()})"
    return None


def tensorrt_problem() -> str | None:
    """Why the ``tensorrt`` Python package cannot build or run engines here, or None."""
    try:
        import tensorrt as trt
    except ImportError:
        return "tensorrt is not installed (pip install 'tensorrt>=10.12')"
    except Exception as exc:  # the bindings load libnvinfer at import: a broken install raises OSError & co
        return f"tensorrt does not import ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})"
    if _version_tuple(trt.__version__) < MIN_TENSORRT:
        return f"tensorrt {trt.__version__} is older than {'.'.join(map(str, MIN_TENSORRT))} (no strongly typed FP16)"
    return None


def row_problems(device: Device | None) -> dict[str, str | None]:
    """Row -> why it cannot run here (None: it can)."""
    torch_why = torch_problem(device)
    trt_why = tensorrt_problem()
    return {
        # the engine backend needs torch's CUDA allocator and stream as well as TensorRT
        "engine": trt_why or (f"the TensorRT backend needs torch CUDA: {torch_why}" if torch_why else None),
        # ORT's TensorRT provider loads TensorRT's libraries (the tensorrt wheels ship them)
        "ort-trt": ort_problem("TensorrtExecutionProvider") or trt_why,
        "ort-cuda": ort_problem("CUDAExecutionProvider"),
        "torch": torch_why,
    }


def missing_base_modules() -> list[str]:
    import importlib.util

    return [name for name in BASE_MODULES if importlib.util.find_spec(name) is None]


def report_components(rows: tuple[str, ...], problems: dict[str, str | None], out=print) -> int:
    """Print one line per row; 0 when every wanted row can run, 2 otherwise."""
    width = max(len(r) for r in ROWS)
    failed = []
    for row in ROWS:
        why = problems.get(row)
        if row not in rows:
            state = "excluded (not in GPU_ROWS)"
        elif why:
            state, failed = f"not run: {why}", [*failed, row]
        else:
            state = "ok"
        out(f"  {row:<{width}}  {ROWS[row]:<42}  {state}")
    if failed:
        runnable = [r for r in rows if r not in failed]
        hint = f"leave them out explicitly with GPU_ROWS={','.join(runnable)}" if runnable else "nothing else would run"
        out(f"gpu-check: wanted row(s) that cannot run here: {', '.join(failed)}; install what is missing, or {hint}")
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m synthsight.gpucheck", description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=["device", "components"])
    parser.add_argument(
        "--rows", default=None, help=f"comma list among {', '.join(ROWS)} (default: ${ROWS_ENV} or all)"
    )
    args = parser.parse_args(argv)
    try:
        rows = wanted_rows(args.rows)
        device = probe_device()
    except (ValueError, NoDevice) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(device.line())
    if args.stage == "device":
        return 0
    missing = missing_base_modules()
    if missing:
        print(f"gpu-check: the GPU environment lacks {', '.join(missing)} (synthsight's dependencies and pytest)")
        return 2
    return report_components(rows, row_problems(device))


if __name__ == "__main__":
    sys.exit(main())
