"""The machine a figure was measured on: CPU, cores, memory, GPU and driver, library versions, load."""

from __future__ import annotations

from typing import Any


def machine_info() -> dict[str, Any]:
    """CPU, cores, memory, GPU and driver, library versions and the load when measured."""
    import os
    import platform
    from datetime import datetime, timezone

    import psutil

    from synthsight.machine import usable_cores

    versions = {name: _version(name) for name in _PACKAGES}
    gpu = _gpu()
    shown = [f"{name} {v}" for name, v in versions.items() if v and name != "synthsight"]
    shown += [
        f"{name} absent"
        for name in ("onnxruntime", "tensorrt")
        if not versions.get(name) and not versions.get(f"{name}-gpu")
    ]
    return {
        **_cpu(),
        "cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "gpu": gpu.get("name"),
        "gpu_driver": gpu.get("driver"),
        "gpu_driver_cuda": gpu.get("cuda"),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "versions_line": ", ".join(shown),
        "load_average": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


_PACKAGES = ("synthsight", "torch", "onnxruntime", "onnxruntime-gpu", "tensorrt", "timm", "pillow", "numpy")


def _version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _cpu() -> dict[str, str]:
    """This machine's CPU model (the one feature reader's), and the simulated one a run chose by, if any."""
    from synthsight.runtime.cpu.features import here, host

    chosen_by = here()
    return {"cpu": host().model, **({"cpu_simulated": chosen_by.name} if chosen_by.simulated_on else {})}


def _gpu() -> dict[str, str]:
    """First NVIDIA GPU as nvidia-smi reports it (gpucheck reads it; no CUDA import); empty when there is none."""
    from synthsight.gpucheck import NoDevice, probe_device

    try:
        device = probe_device()
    except NoDevice:
        return {}
    return {"name": device.names[0], "driver": device.driver, "cuda": device.cuda}


def cuda_available() -> bool:
    if not _gpu():
        return False
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False
