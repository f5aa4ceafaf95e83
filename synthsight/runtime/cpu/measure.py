"""Time the certified ways to run a model on this CPU, once per model and machine, and remember the result.

The measurement opens every candidate with the threads the scan will give it, makes one warm-up
call each, then times ``ROUNDS`` calls of each in turn (round-robin, so a burst of load from another
process hits every candidate alike) on one batch of random pixels; a candidate's figure is its
median. A few seconds for convnext_tiny at 224 px on two cores.

Cache: ``$XDG_CACHE_HOME/synthsight/precision/KEY.json`` (default ``~/.cache``), KEY a SHA-256 of the
files' SHA-256s, the CPU model and flags, the runtime versions, the thread count and the batch, so a
new export, another machine (or ``SYNTHSIGHT_CPU_DISABLE``), an upgrade or another thread split
measures again. Only rates are cached; the certificates and the gate are read from the files each time.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from synthsight.atomic import write_atomic
from synthsight.machine import installed, usable_cores
from synthsight.runtime.base import Backend
from synthsight.runtime.cpu.features import here

ROUNDS = 3
CACHE_VERSION = 1


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "synthsight" / "precision"


def runtime_versions() -> dict[str, str | None]:
    """The installed versions of the CPU runtimes (None: not installed): part of a measurement's identity."""
    return {name: installed(name) for name in ("onnxruntime", "openvino")}


def cache_key(options, threads: int, batch: int) -> tuple[str, dict[str, Any]]:
    """(key, what it is made of) for a measurement of ``options`` with ``threads`` and ``batch``."""
    import hashlib

    from synthsight.artifacts import file_sha256

    fields = {
        "version": CACHE_VERSION,
        "files": {o.label: file_sha256(o.path) for o in options},
        "cpu": here().key(),
        "versions": runtime_versions(),
        "threads": threads,
        "batch": batch,
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32], fields


def measure_options(options, threads: int | None, batch: int) -> tuple[dict[str, float], dict[str, Any], dict]:
    """(images/s per option label, how it was measured, {label: open backend} when measured just now)."""
    threads = int(threads or usable_cores())
    key, fields = cache_key(options, threads, batch)
    path = cache_dir() / f"{key}.json"
    cached = _load(path, fields)
    info = {"batch": batch, "threads": threads, "cache": str(path)}
    if cached is not None:
        return cached["rates"], {**info, "cached": True, "measured_at": cached.get("measured_at")}, {}
    from synthsight.runtime.registry import open_option

    opened: dict[str, Backend] = {}
    try:
        for option in options:
            opened[option.label] = open_option(option, max_batch=batch, threads=threads)
        rates = time_backends(opened, batch)
    except BaseException:
        for b in opened.values():
            b.close()
        raise
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    _store(path, {"fields": fields, "rates": rates, "measured_at": when})
    return rates, {**info, "cached": False, "measured_at": when, "rounds": ROUNDS}, opened


def time_backends(backends: dict[str, Backend], batch: int, rounds: int = ROUNDS) -> dict[str, float]:
    """Median images/s of each backend on one random batch, measured round-robin after one warm-up call."""
    first = next(iter(backends.values()))
    shape = (batch, *first.input_shape)
    pixels = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    for b in backends.values():
        b.infer(pixels)
    times: dict[str, list[float]] = {label: [] for label in backends}
    for _ in range(rounds):
        for label, b in backends.items():
            t0 = time.perf_counter()
            b.infer(pixels)
            times[label].append(time.perf_counter() - t0)
    return {label: batch / statistics.median(t) for label, t in times.items()}


def _load(path: Path, fields: dict[str, Any]) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("fields") != fields or not isinstance(data.get("rates"), dict):
        return None
    return data


def _store(path: Path, data: dict) -> None:
    """Write atomically; a cache that cannot be written only costs a new measurement next time."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(data, indent=2) + "\n")
