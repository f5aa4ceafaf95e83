"""What this machine is, as every part sees it: what a ``--device`` string means, how many CPUs this process
may use, and which packages are installed. Standard library only: ``make gpu-check``'s preflight
(:mod:`synthsight.gpucheck`) imports it before anything is installed.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from synthsight.errors import UsageError

DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"


@dataclass(frozen=True)
class Device:
    """A parsed ``--device``: ``kind`` is ``auto``, ``cpu`` or ``cuda``; ``index`` is N of ``cuda:N``."""

    kind: str
    index: int | None = None

    @property
    def gpu(self) -> int:
        """The CUDA device index this means (0 when none was given)."""
        return self.index or 0

    def __str__(self) -> str:
        return self.kind if self.index is None else f"{self.kind}:{self.index}"


def parse_device(text: str | None) -> Device:
    """``auto`` (or empty), ``cpu``, ``cuda`` or ``cuda:N``; anything else is a UsageError."""
    value = (text or "auto").strip().lower()
    if value in ("auto", "cpu", "cuda"):
        return Device(value)
    kind, _, index = value.partition(":")
    if kind == "cuda" and index.isdigit():
        return Device("cuda", int(index))
    raise UsageError(f"--device {text!r}: expected {DEVICE_CHOICES}")


def usable_cores(cgroup_root: str | Path = "/sys/fs/cgroup", proc_cgroup: str | Path = "/proc/self/cgroup") -> int:
    """CPUs this process may run on: its affinity mask, capped by the cgroup CPU quota when one is set.

    ``os.cpu_count()`` counts the host's cores, which inside a container or a SLURM allocation
    overcommits decode workers and inference threads many times over. A fractional quota is
    rounded down (at least 1): more busy threads than the quota allows are throttled, not faster.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota(Path(cgroup_root), Path(proc_cgroup))
    if quota is not None:
        cores = min(cores, max(1, math.floor(quota)))
    return max(1, cores)


def cgroup_cpu_quota(root: Path, proc_cgroup: Path) -> float | None:
    """CPUs the cgroup quota allows this process, None when unlimited or unknown.

    cgroup v2: the smallest ``cpu.max`` from this process's own cgroup (``0::/path`` in
    /proc/self/cgroup) up to the root; cgroup v1: ``cpu.cfs_quota_us / cpu.cfs_period_us``.
    """
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    own = next((line[3:] for line in lines if line.startswith("0::")), "/")
    folder, quotas = root / own.strip("/"), []
    while True:
        try:
            limit, period = (folder / "cpu.max").read_text().split()[:2]
            if limit != "max":
                quotas.append(int(limit) / int(period))
        except (OSError, ValueError):
            pass
        if folder == root or root not in folder.parents:
            break
        folder = folder.parent
    if quotas:
        return min(quotas)
    try:
        limit = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return limit / period if limit > 0 and period > 0 else None


def available_memory(meminfo: str | Path = "/proc/meminfo", cgroup_root: str | Path = "/sys/fs/cgroup",
                     proc_cgroup: str | Path = "/proc/self/cgroup") -> int | None:  # fmt: skip
    """Bytes of memory this process may still take: the kernel's ``MemAvailable``, capped by what its cgroup
    (v2) still allows (``memory.max - memory.current``); None when neither can be read."""
    found = []
    try:
        line = next(ln for ln in Path(meminfo).read_text().splitlines() if ln.startswith("MemAvailable:"))
        found.append(int(line.split()[1]) * 1024)
    except (OSError, StopIteration, ValueError, IndexError):
        pass
    try:
        own = next((ln[3:] for ln in Path(proc_cgroup).read_text().splitlines() if ln.startswith("0::")), "/")
        folder = Path(cgroup_root) / own.strip("/")
        limit = (folder / "memory.max").read_text().strip()
        if limit != "max":
            found.append(max(0, int(limit) - int((folder / "memory.current").read_text())))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def shared_memory_free(path: str | Path = "/dev/shm") -> int | None:
    """Free bytes of the shared-memory file system the decode pool's pixel ring lives in (None: not Linux)."""
    import shutil

    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def onnxruntime_conflict(available: list[str] | None = None) -> str | None:
    """A one-line reason when both onnxruntime and onnxruntime-gpu are installed *and* what imports is the CPU
    build (microsoft/onnxruntime#26996). Decided by what imports: onnxruntime-gpu in a venv over an image whose
    system site has the CPU package is no conflict when ``import onnxruntime`` lists the CUDA provider.
    ``available``: the providers the imported onnxruntime lists (read here when not given)."""
    cpu, gpu = installed("onnxruntime"), installed("onnxruntime-gpu")
    if not (cpu and gpu):
        return None
    where = ""
    if available is None:
        try:
            import onnxruntime as ort

            available, where = ort.get_available_providers(), os.path.dirname(ort.__file__ or "")
        except Exception:  # a broken import is the conflict's symptom too
            available = []
    if "CUDAExecutionProvider" in available:
        return None
    loaded = f"; import onnxruntime loads {where}" if where else ""
    return (
        f"both onnxruntime {cpu} and onnxruntime-gpu {gpu} are installed: they share one import folder and "
        f"the CPU build hides CUDAExecutionProvider{loaded} (pip uninstall -y onnxruntime onnxruntime-gpu, then "
        "pip install onnxruntime-gpu)"
    )
