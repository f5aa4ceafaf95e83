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
# What every row needs besides the GPU packages: synthsight's scan path, pytest, and what bench_gpu reads the
# machine with (psutil; a finished benchmark must not end in a traceback). import name -> pip name.
BASE_MODULES: dict[str, str] = {
    "numpy": "numpy", "PIL": "pillow", "click": "click", "safetensors": "safetensors", "torch": "torch",
    "timm": "timm", "onnx": "onnx", "tqdm": "tqdm", "pytest": "pytest", "pytest_timeout": "pytest-timeout",
    "psutil": "psutil",
}  # fmt: skip
# What a row needs on top: the GPU tests train their model (train's metrics and plots: scikit-learn,
# matplotlib) and export it (onnxslim, onnxconverter-common for the FP16 file).
ROW_MODULES: dict[str, dict[str, str]] = {
    "torch": {"sklearn": "scikit-learn", "matplotlib": "matplotlib"},
    "engine": {"sklearn": "scikit-learn", "matplotlib": "matplotlib", "onnxslim": "onnxslim",
               "onnxconverter_common": "onnxconverter-common"},
}  # fmt: skip
ROW_MODULES["ort-trt"] = ROW_MODULES["ort-cuda"] = ROW_MODULES["engine"]
# What onnxruntime-gpu's provider libraries link against (readelf -d of the 1.31.1 wheel): minor version ->
# (CUDA major, TensorRT major). Its TensorRT EP needs libnvinfer.so.10 / libnvonnxparser.so.10, so TensorRT 11
# (libnvinfer.so.11) leaves the EP listed but unloadable; the engine row runs on TensorRT >= 10.12, so one venv
# runs both with tensorrt>=10.12,<11.
ORT_GPU_BUILDS: dict[tuple[int, int], tuple[int, int]] = {(1, 31): (13, 10)}


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


def ort_problem(provider: str, device: Device | None = None) -> str | None:
    """Why ONNX Runtime's ``provider`` cannot run here, or None. Decided by what imports and by a session
    loaded on it: a provider that is listed but whose libraries do not load makes ORT fall back silently."""
    from synthsight.machine import installed, onnxruntime_conflict  # not at the top: the preflight is this file alone

    try:
        import onnxruntime as ort
    except ImportError:
        return "onnxruntime-gpu is not installed"
    listed = ort.get_available_providers()
    if provider not in listed:
        conflict = onnxruntime_conflict(listed)
        package = "onnxruntime-gpu" if installed("onnxruntime-gpu") else "onnxruntime (the CPU package)"
        return conflict or f"{package} {ort.__version__} does not list {provider} (available: {listed})"
    built = ORT_GPU_BUILDS.get(_version_tuple(ort.__version__)[:2])
    if built and device and device.cuda and _version_tuple(device.cuda)[:1] < (built[0],):
        return (
            f"onnxruntime-gpu {ort.__version__} is built for CUDA {built[0]} but the driver supports CUDA "
            f"{device.cuda} at most (driver {device.driver})"
        )
    if provider == "TensorrtExecutionProvider" and built:
        paired = _tensorrt_pairing(ort.__version__, built[1])
        if paired:
            return paired
    got = session_providers(ort, provider)
    if not got or got[0] != provider:
        return (
            f"onnxruntime {ort.__version__} lists {provider} but a session on it got {got or 'no provider'}: "
            f"its libraries did not load (onnxruntime from {_folder(ort)})"
        )
    return None


def _tensorrt_pairing(ort_version: str, trt_major: int) -> str | None:
    try:
        import tensorrt as trt
    except Exception:  # absent or broken: tensorrt_problem names it
        return None
    have = _version_tuple(trt.__version__)[:1]
    if have and have != (trt_major,):
        return (
            f"onnxruntime-gpu {ort_version}'s TensorRT EP links libnvinfer.so.{trt_major} and this venv has "
            f"tensorrt {trt.__version__}: engine and ort-trt run in one venv with 'tensorrt>={MIN_TENSORRT[0]}."
            f"{MIN_TENSORRT[1]},<{trt_major + 1}', or run ort-trt in a venv of its own"
        )
    return None


def _folder(module) -> str:
    return os.path.dirname(getattr(module, "__file__", "") or "") or "?"


def _probe_model() -> bytes:
    """A one-node float32 ONNX graph (Relu, [1, 8]): enough for a provider to claim and run."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "probe", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def session_providers(ort, provider: str) -> list[str]:
    """The providers a session asked for ``provider`` (then the CPU) really got; [] when it cannot be made."""
    import numpy as np

    try:
        opts = ort.SessionOptions()
        opts.log_severity_level = 4  # the fallback is what we report, not ORT's warnings
        session = ort.InferenceSession(_probe_model(), sess_options=opts, providers=[provider, "CPUExecutionProvider"])
        session.run(None, {"x": np.ones((1, 8), np.float32)})
        return list(session.get_providers())
    except Exception:
        return []


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
        "ort-trt": trt_why or ort_problem("TensorrtExecutionProvider", device),
        "ort-cuda": ort_problem("CUDAExecutionProvider", device),
        "torch": torch_why,
    }


def needed_modules(rows: tuple[str, ...]) -> dict[str, str]:
    """import name -> pip name of what the wanted rows need besides the GPU packages."""
    needed = dict(BASE_MODULES)
    for row in rows:
        needed.update(ROW_MODULES.get(row, {}))
    return needed


def importable(name: str) -> bool:
    """Decided by what imports (``find_spec``), never by installed metadata."""
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def missing_modules(rows: tuple[str, ...]) -> dict[str, str]:
    """import name -> pip name, for what the wanted rows need and is not importable here."""
    return {name: pip for name, pip in needed_modules(rows).items() if not importable(name)}


def gpu_packages_needed(rows: tuple[str, ...]) -> list[str]:
    """The GPU packages (pip requirements) the wanted rows need and this environment lacks, by what imports."""
    out = []
    if {"engine", "ort-trt"} & set(rows) and not importable("tensorrt"):
        out.append(f"tensorrt>={MIN_TENSORRT[0]}.{MIN_TENSORRT[1]},<11")  # <11: ORT's TensorRT EP needs TensorRT 10
    if {"ort-cuda", "ort-trt"} & set(rows):
        try:
            import onnxruntime as ort

            listed = ort.get_available_providers()
        except Exception:
            listed = []
        if "CUDAExecutionProvider" not in listed:
            out.append("onnxruntime-gpu")  # in the venv, it is what imports, beside the image's CPU onnxruntime
    return out


def report_missing(missing: dict[str, str], rows: tuple[str, ...], out=print) -> None:
    """One line per missing package: what it is for and where to get it offline."""
    for name, pip in missing.items():
        users = [r for r in rows if name in ROW_MODULES.get(r, {})]
        why = f"the {', '.join(users)} row(s)" if users else "every row"
        out(f"gpu-check: missing {pip} (import {name}), needed by {why}: put its wheel in WHEELS, or pip install {pip}")


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


def base_python_problem(prefix: str, base_prefix: str, conda: bool) -> str | None:
    """Why ``venv --system-site-packages`` over this Python would not see its packages (a venv or conda env
    Python: the new venv sees the *base* interpreter's site folder, not this one's), or None."""
    if prefix != base_prefix:
        return f"PYTHON is itself a virtual environment ({prefix}; its base is {base_prefix})"
    if conda:
        return f"PYTHON is a conda environment's Python ({prefix})"
    return None


def report_site(out=print) -> int:
    """Print a .pth file's lines that add this Python's site folders (``site.addsitedir``, so their own .pth
    files count too) to the offline venv: the image's packages (its CUDA torch) are seen whatever kind of
    Python this is. Says why on stderr when a plain ``--system-site-packages`` would have hidden them."""
    import site

    why = base_python_problem(sys.prefix, sys.base_prefix, os.path.isdir(os.path.join(sys.prefix, "conda-meta")))
    if why:
        print(f"gpu-check: {why}: --system-site-packages alone would hide its packages (torch); "
              "its site folders are added to .venv-offline with a .pth file", file=sys.stderr)  # fmt: skip
    folders = list(site.getsitepackages()) if hasattr(site, "getsitepackages") else []
    user = site.getusersitepackages() if site.ENABLE_USER_SITE else ""
    for folder in [*folders, *([user] if user else [])]:
        if os.path.isdir(folder):
            out(f"import site; site.addsitedir({folder!r})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m synthsight.gpucheck", description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=["device", "components", "needs", "site"])
    parser.add_argument(
        "--rows", default=None, help=f"comma list among {', '.join(ROWS)} (default: ${ROWS_ENV} or all)"
    )
    args = parser.parse_args(argv)
    if args.stage == "site":  # run by the offline venv's maker with PYTHON, standard library only
        return report_site()
    try:
        rows = wanted_rows(args.rows)
        if args.stage == "needs":  # the pip names to install from WHEELS: only what does not import yet
            print("\n".join([*sorted(set(missing_modules(rows).values())), *gpu_packages_needed(rows)]))
            return 0
        device = probe_device()
    except (ValueError, NoDevice) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(device.line())
    if args.stage == "device":
        return 0
    missing = missing_modules(rows)
    if missing:
        report_missing(missing, rows)
        return 2
    return report_components(rows, row_problems(device))


if __name__ == "__main__":
    sys.exit(main())
