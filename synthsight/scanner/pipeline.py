"""scan(): walk -> decode pool -> batched inference -> verdicts -> writers (+ Grad-CAM on demand).

Every file the walk finds gets exactly one record, in walk order, whatever the number of decode
workers. Records are written batch by batch; Ctrl-C / SIGTERM stop at the next batch boundary,
so every output stays valid and ``--resume`` picks up where the scan stopped.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from synthsight import __version__
from synthsight.errors import SynthsightError, UsageError
from synthsight.preprocess import DEFAULT_MAX_PIXELS
from synthsight.runtime.base import Backend, scores_from_logits
from synthsight.scanner import manifest as manifests
from synthsight.scanner import resume as resume_mod
from synthsight.scanner.pool import Batch, DecodePool, Item, default_inference_threads, default_workers
from synthsight.scanner.progress import Progress
from synthsight.scanner.report import (
    STREAM_FORMATS,
    ConsoleWriter,
    Record,
    check_output,
    mtime_text,
    summary_line,
    writer_for,
)
from synthsight.scanner.walk import Walker


@dataclass
class ScanOptions:
    """Everything `synthsight scan` can be told (the CLI flags, one to one)."""

    backend: str = "auto"
    device: str = "auto"
    precision: str = "auto"
    batch_size: int = 32
    workers: int | None = None  # None: the cores inference does not need
    threads: int | None = None  # inference threads on CPU; None: the runtime's choice
    recursive: bool = True
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    follow_symlinks: bool = False
    all_files: bool = False
    threshold: float | None = None
    resume: bool = False
    overwrite: bool = False
    hash_files: bool = True
    max_pixels: int = DEFAULT_MAX_PIXELS
    gradcam_dir: str | None = None
    gradcam_for: str = "ai"
    gradcam_layer: str | None = None
    quiet: bool = False
    command_line: str = ""
    decode_timeout: float = 300.0

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise UsageError("--batch-size must be at least 1")
        if self.workers is not None and self.workers < 0:
            raise UsageError("--workers must be 0 (decode in this process) or more")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise UsageError("--threshold must be between 0 and 1")
        if self.gradcam_for not in ("ai", "all", "none"):
            raise UsageError("--gradcam-for must be ai, all or none")


@dataclass
class ScanSummary:
    counts: dict[str, int]
    images: int
    seconds: float
    outputs: list[Path]
    interrupted: bool
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def line(self) -> str:
        return summary_line(self.counts, self.seconds, self.images, self.outputs)


class _StopFlag:
    """SIGINT/SIGTERM ask the scan to stop at the next batch; a second Ctrl-C stops at once."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal = signum

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def scan(paths: list[str], model: str | Path | Backend, outputs: list[str | Path] = (), **options: Any) -> ScanSummary:
    """Scan files and folders with ``model`` (a path, or an open :class:`Backend`); see :class:`ScanOptions`."""
    known = {f.name for f in fields(ScanOptions)}
    unknown = set(options) - known
    if unknown:
        raise TypeError(f"scan() got unknown options {sorted(unknown)}")
    opts = ScanOptions(**options)
    outs = [check_output(p, opts.resume, opts.overwrite) for p in outputs]
    if len(set(outs)) != len(outs):
        raise UsageError("the same --out file is given twice")
    walker = Walker(paths, opts.recursive, opts.include, opts.exclude, opts.follow_symlinks, opts.all_files)
    previous = resume_mod.load(outs) if opts.resume else None
    cam = _gradcam(model, opts)
    backend, owned = _open(model, opts)
    _say_precision(backend, opts.quiet)
    try:
        return _Run(walker, backend, outs, opts, previous, cam).go()
    finally:
        if owned:
            backend.close()


def _open(model: str | Path | Backend, opts: ScanOptions) -> tuple[Backend, bool]:
    if isinstance(model, Backend):
        return model, False
    from synthsight.runtime import open_backend

    # Threads are sized for the CPU case (the workers' default there); a GPU backend ignores them.
    workers = default_workers("cpu") if opts.workers is None else opts.workers
    threads = opts.threads or default_inference_threads(workers)
    kwargs = dict(backend=opts.backend, device=opts.device, precision=opts.precision, max_batch=opts.batch_size)
    return open_backend(str(model), threads=threads, **kwargs), True


def _say_precision(backend: Backend, quiet: bool) -> None:
    """One line on stderr: what runtime.precision chose and why; its warning even with --quiet."""
    choice = backend.selection
    if choice and not quiet:
        print(f"precision {choice['asked']}: {choice['chosen']} ({choice['why']})", file=sys.stderr)
    if backend.warning:
        print(backend.warning, file=sys.stderr)


def _gradcam(model: str | Path | Backend, opts: ScanOptions):
    if not opts.gradcam_dir or opts.gradcam_for == "none":
        return None
    from synthsight.scanner.gradcam import GradCam

    source = model.source if isinstance(model, Backend) else str(model)
    return GradCam.for_model(source, opts.gradcam_layer, opts.gradcam_dir)


class _Run:
    def __init__(self, walker: Walker, backend: Backend, outs: list[Path], opts: ScanOptions, previous, cam):
        self.walker, self.backend, self.outs, self.opts, self.previous, self.cam = (
            walker,
            backend,
            outs,
            opts,
            previous,
            cam,
        )
        spec = backend.model_spec
        self.threshold = spec.threshold if opts.threshold is None else opts.threshold
        self.threshold_source = spec.threshold_source if opts.threshold is None else "--threshold"
        self.counts = {"ai": 0, "real": 0, "error": 0, "skipped": 0}
        self.images = 0
        self.started = datetime.now(timezone.utc)
        source = str(getattr(backend, "source", "") or "")
        self.model_path = os.path.abspath(source) if source else ""  # a report outlives the working directory
        self.model_sha256 = _sha256(self.model_path)
        self.pool = None
        self.earlier_runs: dict[Path, list[dict[str, Any]]] = {}

    def go(self) -> ScanSummary:
        opts = self.opts
        workers = default_workers(self.backend.device) if opts.workers is None else opts.workers
        skip = self.previous.should_skip if self.previous else None
        self._start_manifests(workers)
        writers = self._open_writers()
        t0 = time.perf_counter()
        interrupted, failed = False, True
        progress = Progress(self.walker, opts.quiet, skip)
        pool = DecodePool(
            iter(self.walker),
            self.backend.spec,
            opts.batch_size,
            workers,
            max_pixels=opts.max_pixels,
            hash_files=opts.hash_files,
            skip=skip,
            decode_timeout=opts.decode_timeout,
        )
        self.pool = pool
        try:
            with _StopFlag() as stop, pool:
                for batch in pool:
                    records = self._verdicts(batch)
                    pool.release(batch)
                    for w in writers:
                        w.write(self.previous.fresh_for(w.path, records) if self.previous else records)
                    progress.update(len(records), sum(r.verdict in ("ai", "real") for r in records))
                    if stop.signal is not None:
                        interrupted = True
                        break
            failed = False
        except KeyboardInterrupt:
            interrupted, failed = True, False
        finally:
            progress.close()
            seconds = time.perf_counter() - t0
            manifest = self._manifest(seconds, interrupted, failed, workers)
            self._close_writers(writers, manifest, failed)
            self._end_manifests(manifest, failed)
        if not interrupted and self.previous:
            self.previous.compact()
        return ScanSummary(dict(self.counts), self.images, seconds, self.outs, interrupted, manifest)

    def _stream_outs(self) -> list[Path]:
        return [o for o in self.outs if o.suffix.lower() in STREAM_FORMATS]

    def _start_manifests(self, workers: int) -> None:
        """Refuse to resume a report made by another model, then mark each streamed report as running."""
        manifest = self._manifest(0.0, False, False, workers, status="running")
        for out in self._stream_outs():
            earlier = manifests.read_manifest(out) if self.opts.resume and out.exists() else None
            manifests.check_resumable(out, earlier, manifest)
            self.earlier_runs[out] = manifests.history(earlier)
        for out in self._stream_outs():
            manifests.write_manifest(out, manifest, self.earlier_runs[out])

    def _end_manifests(self, manifest: dict[str, Any], failed: bool) -> None:
        for out in self._stream_outs():
            try:
                manifests.write_manifest(out, manifest, self.earlier_runs.get(out, []))
            except SynthsightError:
                if not failed:  # when a report write already failed, that error is the one to show
                    raise

    def _open_writers(self) -> list:
        if not self.outs:
            return [ConsoleWriter(sys.stdout)]
        writers = []
        for out in self.outs:
            append = self.opts.resume and out.suffix.lower() in STREAM_FORMATS and out.exists()
            if append:
                self.previous.truncate_partial(out)
            writers.append(writer_for(out)(out, append=append))
        return writers

    def _close_writers(self, writers: list, manifest: dict, failed: bool) -> None:
        for w in writers:
            if failed and hasattr(w, "abort"):
                w.abort()
                continue
            if self.previous and hasattr(w, "abort"):  # the JSON report holds the earlier records too
                w.write(self.previous.remaining())
            w.close(manifest)

    def _verdicts(self, batch: Batch) -> list[Record]:
        good = batch.decoded()
        scores: dict[int, float] = {}
        if good:
            rows = [i.row for i in good]
            pixels = batch.pixels[: len(rows)] if rows == list(range(len(rows))) else batch.pixels[rows]
            logits = self.backend.infer(pixels)
            for item, score in zip(good, scores_from_logits(logits, self.backend.positive_index), strict=True):
                scores[item.seq] = float(score)
            self.images += len(good)
            if self.cam is not None:
                self._explain(good, pixels, scores)
        records = [self._record(item, scores.get(item.seq)) for item in batch.items]
        for r in records:
            self.counts[r.verdict] += 1
        return records

    def _record(self, item: Item, score: float | None) -> Record:
        entry, meta = item.entry, item.meta or {}
        rec = Record(
            path=entry.path,
            verdict="skipped" if entry.kind == "skipped" else "error",
            sha256=meta.get("sha256", ""),
            bytes=meta.get("bytes", entry.size),
            mtime=mtime_text(meta.get("mtime_ns", entry.mtime_ns)),
            format=meta.get("format", ""),
            width=meta.get("width"),
            height=meta.get("height"),
            error=meta.get("error") or entry.message,
            notes=meta.get("notes", ""),
            gradcam=meta.get("gradcam", ""),
        )
        if meta.get("error"):
            rec.verdict = "error"
        elif score is not None:
            rec.score = score
            rec.verdict = "ai" if score >= self.threshold else "real"
        return rec

    def _explain(self, good: list[Item], pixels: np.ndarray, scores: dict[int, float]) -> None:
        chosen = [
            (k, item)
            for k, item in enumerate(good)
            if self.opts.gradcam_for == "all" or scores[item.seq] >= self.threshold
        ]
        for k, item in chosen:
            is_ai = scores[item.seq] >= self.threshold
            path = self.cam.save(pixels[k], item.entry.path, target="ai" if is_ai else "real")
            item.meta["gradcam"] = str(path)

    def _all_counts(self) -> dict[str, int]:
        """Counts over every record of the reports: this run's plus the earlier runs' still standing."""
        total = dict(self.counts)
        for r in self.previous.remaining():
            total[r.verdict] = total.get(r.verdict, 0) + 1
        return total

    def _manifest(
        self, seconds: float, interrupted: bool, failed: bool, workers: int, status: str | None = None
    ) -> dict[str, Any]:
        b = self.backend
        return {
            "tool": "synthsight",
            "version": __version__,
            "command_line": self.opts.command_line or " ".join(sys.argv),
            "status": status or ("failed" if failed else "interrupted" if interrupted else "complete"),
            "resumed": bool(self.previous),
            "model": {"path": self.model_path, "sha256": self.model_sha256, "arch": b.model_spec.arch},
            "backend": b.name,
            "device": b.device,
            "precision": b.precision,
            "certificate": b.certificate,
            "precision_choice": b.selection,
            "threshold": self.threshold,
            "threshold_source": self.threshold_source,
            "classes": list(b.classes),
            "positive_class": b.model_spec.positive_class,
            "preprocess": b.spec.to_dict(),
            "batch_size": self.opts.batch_size,
            "decode_workers": workers,
            "decode_worker_deaths": getattr(self.pool, "deaths", 0),
            "hash": "sha256" if self.opts.hash_files else None,
            "max_pixels": self.opts.max_pixels,
            "gradcam": self.cam.describe() if self.cam else None,
            "started": self.started.isoformat(timespec="seconds"),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(seconds, 3),
            "counts": dict(self.counts),
            "counts_with_earlier_runs": self._all_counts() if self.previous else None,
            "images_per_second": round(self.images / seconds, 2) if seconds > 0 else None,
            "outputs": [str(p) for p in self.outs],
        }


def _sha256(path: str) -> str:
    """Hash of the file that is run (a bundle's weights, however the bundle was named) so a report names
    exactly what judged it and ``--resume`` sees new weights."""
    from synthsight.runtime import weights_file

    if not path:
        return ""
    try:
        p = weights_file(path)
    except SynthsightError:
        return ""
    if not p.is_file():
        return ""
    digest = hashlib.sha256()
    with open(p, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


__all__ = ["scan", "ScanOptions", "ScanSummary"]
