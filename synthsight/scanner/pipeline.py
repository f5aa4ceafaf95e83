"""scan(): walk (or --files-from) -> decode pool -> batched inference -> verdicts -> writers (+ Grad-CAM on demand).

Every file the walk finds gets exactly one record, in walk order, whatever the number of decode
workers. The next batch is computing while one batch's records are made and written (overlap.py).
Records are written batch by batch; Ctrl-C / SIGTERM stop at the next batch boundary,
so every output stays valid and ``--resume`` picks up where the scan stopped. The reports, manifests,
resume and stop flag live in session.py, shared with the Ray source (cluster.py, ``--ray``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from synthsight.errors import UsageError
from synthsight.provenance import ProvenanceReader
from synthsight.reports import resume as resume_mod
from synthsight.reports.writers import Record, check_output
from synthsight.runtime.background import Background
from synthsight.runtime.base import Backend, Pending
from synthsight.runtime.tiles import TileScores
from synthsight.scanner.batch import Batch, Item
from synthsight.scanner.judging import judge_file, make_record
from synthsight.scanner.options import ScanOptions, check_names
from synthsight.scanner.overlap import in_flight
from synthsight.scanner.pool import CorePlan, DecodePool, plan_cores
from synthsight.scanner.session import (
    ModelFacts,
    ScanSummary,
    Session,
    StopFlag,
)
from synthsight.scanner.walk import Entry, Walker
from synthsight.scanner.worker import ReadOptions
from synthsight.verdicts.judge import Judge, Outcome, Stability


def scan(paths: list[str], model: str | Path | Backend, outputs: list[str | Path] = (), **options: Any) -> ScanSummary:
    """Scan files and folders (or a ``files_from`` list) with ``model`` (a path, or an open :class:`Backend`).

    See :class:`~synthsight.scanner.options.ScanOptions` for the options; ``ray=`` runs the scan on a Ray cluster
    (scanner/ray/source.py).
    """
    check_names(options)
    opts = ScanOptions(**options)
    outs = [check_output(p, opts.resume, opts.overwrite) for p in outputs]
    twice = sorted({str(p) for p in outs if outs.count(p) > 1})
    if twice:
        raise UsageError(f"--out {twice[0]} is given twice (one report per file: name another file or drop one)")
    walker = make_walker(paths, opts)
    previous = resume_mod.load(outs) if opts.resume else None
    evidence = _provenance(opts)  # refuses bad anchors, or a provenance whose libraries are not here, now
    if evidence is not None and (stale := evidence.stale_warning()):
        print(stale, file=sys.stderr)  # once per scan, even with --quiet: trust decides classes
    if opts.ray:
        from synthsight.scanner.ray.source import scan_on_ray

        return scan_on_ray(walker, model, outs, opts, previous, evidence)
    cam = _gradcam(model, opts)
    cores = plan_cores(opts.workers, opts.threads)
    backend, owned = _open(model, opts, cores)
    _say_precision(backend, opts.quiet)
    try:
        facts = ModelFacts.of(str(getattr(backend, "source", "") or ""), backend.model_spec, opts.threshold)
        session = Session(walker, outs, opts, previous, facts, evidence)
        source = _LocalSource(backend, opts, cam, cores, facts.judge, evidence)
        session.check(source.describe())
        return session.run(source)
    finally:
        if owned:
            backend.close()


PROVENANCE_MODULES = {"cryptography": "cryptography", "c2pa": "c2pa-python"}  # import name -> pip name


def _provenance(opts: ScanOptions) -> ProvenanceReader | None:
    """The provenance reader, or one line (exit 2) when its libraries are not installed: reading provenance is
    on by default, and a scan that silently left it out would report no evidence as if the files had none."""
    if not opts.provenance:
        return None
    from synthsight.extras import installed

    missing = [pip for name, pip in PROVENANCE_MODULES.items() if not installed(name)]
    if missing:
        raise UsageError(
            f"reading provenance (on by default) needs {' and '.join(missing)}, not installed here: "
            f"pip install {' '.join(missing)}, or scan with --no-provenance"
        )
    return ProvenanceReader(opts.trust_anchors)


def make_walker(paths: list[str], opts: ScanOptions) -> Walker:
    """The walk of ``paths``, or the ``--files-from`` inventory, restricted to ``opts.shard``."""
    if opts.files_from is not None:
        from synthsight.scanner.inventory import Inventory

        if paths:
            raise UsageError("give files and folders or --files-from LIST, not both")
        return Inventory(opts.files_from, opts.null, opts.include, opts.exclude, opts.all_files, opts.shard)
    if not paths:
        raise UsageError("nothing to scan: give files or folders, or --files-from LIST")
    return Walker(
        paths, opts.recursive, opts.include, opts.exclude, opts.follow_symlinks, opts.all_files, shard=opts.shard
    )


def _open(model: str | Path | Backend, opts: ScanOptions, cores: CorePlan) -> tuple[Backend, bool]:
    if isinstance(model, Backend):
        return model, False
    from synthsight.runtime import open_backend

    # A GPU backend ignores CPU threads, so they are sized for the CPU case.
    kwargs = dict(backend=opts.backend, device=opts.device, precision=opts.precision, max_batch=opts.batch_size)
    return open_backend(str(model), threads=cores.threads, **kwargs), True


def precision_line(choice: dict[str, Any], width: int = 80) -> str:
    """``precision auto: CHOSEN (REASON)`` in ``width`` columns: the reason's first clause (a why's clauses are
    joined by "; "); the whole reason is the run manifest's ``precision.why``."""
    head = f"precision {choice['asked']}: {choice['chosen']}"
    first = str(choice["why"]).split("; ")[0]
    more = "; more in the manifest" if first != choice["why"] else ""
    for reason in (first + more, first):
        if len(f"{head} ({reason})") <= width:
            return f"{head} ({reason})"
    return head + (f" ({first[: width - len(head) - 6]}...)" if len(head) + 10 <= width else "")


def _say_precision(backend: Backend, quiet: bool) -> None:
    """One line on stderr: what runtime.precision chose and why; its warning even with --quiet."""
    choice = backend.selection
    if choice and not quiet:
        print(precision_line(choice), file=sys.stderr)
    if backend.warning:
        print(backend.warning, file=sys.stderr)
    if backend.device == "cpu":
        from synthsight.runtime.cpu.features import here

        if here().warning:  # SYNTHSIGHT_CPUINFO set: what was chosen is not this machine's choice
            print(here().warning, file=sys.stderr)


def _gradcam(model: str | Path | Backend, opts: ScanOptions):
    if not opts.gradcam_dir or opts.gradcam_for == "none":
        return None
    from synthsight.explain import GradCam

    source = model.source if isinstance(model, Backend) else str(model)
    return GradCam.for_model(source, opts.gradcam_layer, opts.gradcam_dir)


class _LocalSource:
    """Records from the local decode pool and one open backend (plus Grad-CAM overlays on demand)."""

    def __init__(self, backend: Backend, opts: ScanOptions, cam, cores: CorePlan, judge: Judge, evidence=None):
        self.backend, self.opts, self.cam, self.judge, self.evidence = backend, opts, cam, judge, evidence
        self.workers = cores.workers_for(backend.device)
        self.pool: DecodePool | None = None
        self.overlays: dict[int, str] = {}  # item seq -> Grad-CAM overlay path, until its record is made

    def describe(self) -> dict[str, Any]:
        b = self.backend
        return {
            **b.describe(),
            "certificate": b.certificate,
            "precision_choice": b.selection,
            "decode_workers": self.workers,
            "decode_worker_deaths": getattr(self.pool, "deaths", 0),
            "gradcam": self.cam.describe() if self.cam else None,
        }

    def records(self, entries: Iterator[Entry], stop: StopFlag) -> Iterator[list[Record]]:
        opts = self.opts
        read = ReadOptions.for_scan(self.backend.preprocess, opts, self.evidence)
        pool = self.pool = DecodePool(entries, read, opts.batch_size, self.workers, decode_timeout=opts.decode_timeout)
        # Closed in this order: the batch being computed finishes before the pool frees its pixels.
        with pool, Background(self.backend) as backend:

            def finish(batch: Batch, handle: Pending | None) -> list[Record]:
                records = self._verdicts(batch, handle)
                pool.release(batch)
                return records

            yield from in_flight(pool, lambda batch: self._submit(backend, batch), finish, ready=pool.ready)

    @staticmethod
    def _submit(backend: Background, batch: Batch) -> Pending | None:
        good = batch.decoded()
        return backend.submit(batch.inputs(good)[0]) if good else None

    def _verdicts(self, batch: Batch, handle: Pending | None) -> list[Record]:
        good = batch.decoded()
        judged: dict[int, tuple[Outcome, Stability | None, TileScores | None]] = {}
        if handle is not None:
            logits = np.asarray(handle.result())
            counts = [item.meta.inputs for item in good]
            spec, start = self.backend.model_spec, 0
            for item, n in zip(good, counts, strict=True):
                judged[item.seq] = judge_file(self.judge, spec, item.meta, logits[start : start + n])
                start += n
            if self.cam is not None:
                self._explain(good, batch.inputs(good)[0], counts, judged)
        records = []
        for item in batch.items:
            outcome, stability, tiles = judged.get(item.seq, (None, None, None))
            overlay = self.overlays.pop(item.seq, "")
            records.append(make_record(item.entry, item.meta, outcome, overlay, stability, tiles))
        return records

    def _explain(self, good: list[Item], pixels: np.ndarray, counts: list[int], judged: dict) -> None:
        start = 0
        for item, n in zip(good, counts, strict=True):
            outcome, _, tiles = judged[item.seq]
            first, start = start, start + n  # the file's own pixels (or first tile) come first: views after
            if not (self.opts.gradcam_for == "all" or outcome.verdict == "ai"):
                continue
            target = "real" if outcome.verdict == "real" else "ai"  # uncertain: what points towards ai
            if tiles is None:
                self.overlays[item.seq] = str(self.cam.save(pixels[first], item.entry.path, target=target))
                continue
            tile = pixels[first + tiles.top]  # the tile ranked first, shown at its place in the whole image
            self.overlays[item.seq] = str(
                self.cam.save_tile(tile, tiles.top_box, item.entry.path, target, self.opts.max_pixels)
            )


__all__ = ["scan", "ScanSummary"]
