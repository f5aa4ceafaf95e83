"""The decode pool's pixel ring, checked against the memory it will take before anything is allocated."""

from __future__ import annotations

from synthsight.errors import UsageError
from synthsight.machine import available_memory, shared_memory_free


def check_ring(batch_size: int, slots: int, size: int, shared: bool) -> None:
    """Refuse, in one line, a pixel ring (``slots`` batches of ``batch_size`` images at ``size`` px) larger than
    half the memory available, or (decode processes) than the free space of /dev/shm, where it lives."""
    per_batch = size * size * 3 * slots
    need = batch_size * per_batch
    limits = []
    memory = available_memory()
    if memory is not None:
        limits.append((memory // 2, f"half of the {memory / 1e9:.1f} GB of memory available"))
    free = shared_memory_free() if shared else None
    if free is not None:
        limits.append((free, f"the {free / 1e9:.1f} GB free in /dev/shm (the decode processes share it)"))
    for limit, what in limits:
        if need > limit:
            # /dev/shm: past it the workers die of SIGBUS and every file would read "decode worker died"
            more = f", fewer --workers, or more /dev/shm (docker run --shm-size={need // 2**20 + 64}m)" if (
                free is not None and limit == free) else ""  # fmt: skip
            raise UsageError(
                f"--batch-size {batch_size}: the decode pool's {slots} batches of {size} px images need "
                f"{need / 1e9:.1f} GB, more than {what}; use --batch-size {max(1, limit // per_batch)} or less{more}"
            )
