"""``scan --ray ADDRESS``: the same scan with Ray Data doing the work across a cluster.

The driver (this process) walks or reads the inventory exactly as a local scan does (same entries, same
``--shard``, same ``--resume`` skip), in a thread of its own that hands the entries to Ray Data in blocks of
8192 through a window of a few blocks (feed.py), so neither the driver nor the object store ever holds the
whole list and decoding starts with the first block; Ray Data cuts them (a streaming ``repartition``) into the
shares of the decode tasks, then runs two stages with streaming back-pressure:

- decode: stateless tasks (one CPU each) calling the local scan's per-file reader (ray_tasks.decode_block);
- inference: a pool of actors (``ActorPoolStrategy``: started with what is free, growing to the plan), one per
  GPU with ``num_gpus=1`` and one CPU, or, on a cluster without GPUs, one CPU actor per node; each opens the
  model file once.
  Pixels go from the decode tasks to the actors through the object store and stop there.

The actors make the records (the local scan's judge_file and make_record) and write each batch's report lines
as a part file in ``REPORT.parts/`` beside the first report (reports/parts.py; the folder must be one every node
can write: a shared file system); the driver writes the parts of the records it makes itself (missing files,
non-images) and takes from ``iter_batches`` only one tally per batch (records by verdict and provenance), for
the same :class:`~synthsight.scanner.session.Session` as a local scan: counts, manifest, Ctrl-C and
``--resume``. When the scan ends the session merges the parts into the reports in listing order (the external
merge of ``synthsight merge``) and removes them. The manifest's ``ray.driver_cpu_seconds`` is what the driver
process spent from the first entry to the reports made (all its threads; ``..._main_thread``: listing, tallies
and the merge).
Ray is optional: ``pip install 'synthsight[cluster]'``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import resource
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from synthsight.errors import SynthsightError, UsageError
from synthsight.machine import parse_device
from synthsight.reports.parts import Tally, parts_folder, remove, write_part
from synthsight.reports.writers import writer_for
from synthsight.runtime.base import Backend
from synthsight.scanner.ray.connect import connect, mute_stopping_executor, quiet, raylet_probe, reason, stop_if_asked
from synthsight.scanner.ray.plan import ActorPlan, plan_actors
from synthsight.scanner.ray.watchdog import watched
from synthsight.scanner.session import (
    ModelFacts,
    ScanSummary,
    Session,
    StopFlag,
)
from synthsight.scanner.walk import Entry, Walker
from synthsight.scanner.worker import ReadOptions, rows_per_image

RUNNER_KEYS = ("host", "pid", "model", "sha256")  # what an actor adds to its Backend.describe()
# Memory a decode task uses besides its block's pixels: the worker process (Ray, numpy, Pillow, the provenance
# readers) and a decoder's working set. Ray's memory monitor saw 682 MiB used against 262 MiB reserved: a
# reservation below use lets Ray crowd a node with decode tasks until the OOM killer picks one.
DECODE_BASE_MEMORY = 768 << 20
TASK_ROWS_PER_BATCH = 8  # files per decode task, in batches: the unit of work (and of a retry) on the cluster


def scan_on_ray(
    walker: Walker, model: Any, outs: list[Path], opts: Any, previous: Any, evidence: Any = None
) -> ScanSummary:
    """Run the scan ``opts`` describes on the Ray cluster ``opts.ray`` (see the module docstring)."""
    if isinstance(model, Backend):
        raise UsageError("--ray opens the model on the cluster's workers: pass the model file, not an open backend")
    if opts.workers is not None:
        raise UsageError("--workers sets local decode processes; with --ray, decode tasks run on every free CPU")
    if opts.gradcam_dir and opts.gradcam_for != "none":
        raise UsageError("--gradcam needs the pixels on this machine: run it without --ray (or on the flagged files)")
    from synthsight.runtime.info import read_model_spec

    spec = read_model_spec(model)
    facts = ModelFacts.of(str(model), spec, opts.threshold)
    session = Session(walker, outs, opts, previous, facts, evidence)
    # Ctrl-C or SIGTERM while Ray starts (seconds to minutes on a cluster) stops the scan before anything is
    # read or written: 130 / 143, one line; from the session on, the session's own handling.
    with StopFlag() as stop, connect(opts.ray, stop) as address:
        stop_if_asked(stop)
        plan = plan_actors(address, opts, facts)
        # Without --out, a private name.
        folder = parts_folder(outs[0]) if outs else Path(f".synthsight-parts-{uuid.uuid4().hex}").absolute()
        source = RaySource(plan, opts, facts, folder, evidence, line_formats(outs) or (".jsonl",))
        session.check(source.describe())  # before any decoding: a refused --resume costs only the cluster's start
        remove(folder)  # a dead driver's parts of an earlier scan (--resume has appended them to the reports)
        folder.mkdir(parents=True)  # here, not by the parts: a batch still running after the scan ends writes none
        stop_if_asked(stop)
        return session.run(source)


def line_formats(outs: list[Path]) -> tuple[str, ...]:
    """The line formats the reports ``outs`` are written in (a JSON report takes JSONL lines)."""
    from synthsight.reports.writers import writer_for

    wanted = {".jsonl" if writer_for(o).extension == ".json" else writer_for(o).extension for o in outs}
    return tuple(sorted(wanted))


def cluster_precision(model: str, asked: str | None, gpu_actors: bool) -> str:
    """What every inference actor runs: an explicit ``--precision`` as asked; ``auto``, the file as exported.

    A local ``auto`` measures this machine; on a cluster each node measuring for itself could put two
    precisions in one report, so the driver decides once, from the file.
    """
    from synthsight.artifacts import file_precision, model_kind
    from synthsight.runtime.engine_sidecar import read_sidecar

    if asked not in (None, "", "auto"):
        return asked
    kind = model_kind(model)
    if kind == "onnx":
        return file_precision(model)
    if kind == "engine":
        return str(read_sidecar(model).get("precision", "fp16"))
    return "fp16" if gpu_actors else "fp32"  # a bundle: PyTorch's default on the actors' device


class RaySource:
    """Records from Ray Data: the entries go out as blocks, scored rows come back in walk order."""

    def __init__(
        self,
        plan: ActorPlan,
        opts: Any,
        facts: ModelFacts,
        parts: Path,
        evidence: Any = None,
        formats: tuple[str, ...] = (".jsonl",),
    ):
        self.plan, self.opts, self.facts, self.evidence = plan, opts, facts, evidence
        self.formats = formats  # the report line formats the actors make (see line_formats)
        self.parts = parts
        self.precision = cluster_precision(facts.path, opts.precision, bool(plan.actor_gpus))
        self.runners: dict[str, dict[str, Any]] = {}
        self.listing: Any = None  # feed.Listing: the inventory on its way to the cluster
        self.node_gone: Any = lambda: False  # connect.raylet_probe(), once the dataset runs
        self.run_id = uuid.uuid4().hex
        self.cpu_from: tuple[float, float] | None = None  # (process, thread) CPU seconds when records() started

    def describe(self) -> dict[str, Any]:
        runners = sorted(self.runners.values(), key=lambda r: (r["host"], r["pid"]))
        # The first actor's Backend.describe() (the actors' own lines are under ray.actors_seen); before any
        # actor reported, what was asked.
        first = {k: v for k, v in (runners[0] if runners else {}).items() if k not in RUNNER_KEYS}
        since = self.cpu_from or (_cpu_seconds(), time.thread_time())
        cpu, main = _cpu_seconds() - since[0], time.thread_time() - since[1]
        return {
            "backend": self.opts.backend,
            "device": self.plan.device,
            "precision": self.precision,
            **first,
            "decode_workers": None,  # Ray's decode tasks: as many as the cluster has free CPUs
            "decode_worker_deaths": None,
            "gradcam": None,
            "ray": {
                **self.plan.describe(),
                **(self.listing.describe() if self.listing else {"list_blocks": 0}),
                "parts": str(self.parts),
                "actors_seen": runners,
                "driver_cpu_seconds": round(cpu, 3),
                "driver_cpu_seconds_main_thread": round(main, 3),
            },
        }

    def records(self, entries: Iterator[Entry], stop: StopFlag) -> Iterator[Tally]:
        # From here to the manifest (describe, after the session merged the parts into the reports): every thread of
        # this process, Ray's own (the streaming executor, the core worker) and the merge. What one driver sustains.
        self.cpu_from = (_cpu_seconds(), time.thread_time())
        yield from self._records_of(entries, stop)

    def _records_of(self, entries: Iterator[Entry], stop: StopFlag) -> Iterator[Tally]:
        from synthsight.scanner.ray.feed import Listing

        self._say("ray: listing the files to scan...")
        read = ReadOptions.for_scan(self.facts.spec.preprocess, self.opts, self.evidence)
        listing = self.listing = Listing(entries, read, stop, self._write_settled)
        try:
            if listing.wait_first():
                yield from self._from_cluster(listing, stop)
            if stop.signal is None:
                listing.finish()
            yield from listing.take_tallies()  # the settled entries' parts, written while listing
        finally:
            listing.close(wait=not self.node_gone())  # with the node gone, its queue is gone too

    def _from_cluster(self, listing: Any, stop: StopFlag) -> Iterator[Tally]:
        p = self.plan
        on = f"{p.actors} GPU actors" if p.actor_gpus else f"{p.actors} CPU actors x {p.threads} threads"
        self._say(
            f"ray: decoding {TASK_ROWS_PER_BATCH * self._images()} files per task as they are listed; inference "
            f"on {on}, decoding on the other CPUs"
        )
        with _data_context():
            # No prefetch: with it, Ray hands over a block only once the next one is ready too, so a slow block
            # would hold back the records of the one before it (measured: they reach the report seconds late).
            rows = self._dataset(listing).iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=0)
            ended = False
            try:
                # While no batch comes, the settled parts the listing wrote meanwhile (a listing that moves is
                # no stall).
                gone = self.node_gone = raylet_probe()
                for batch in watched(iter(rows), stop, self.opts.stall_timeout, listing.progress, gone):
                    yield from batch if isinstance(batch, list) else self._records(batch)
                ended = True
            except (SynthsightError, GeneratorExit):
                raise
            except Exception as exc:
                if stop.signal is not None:  # a Ctrl-C that reached the workers too: still an interruption
                    raise KeyboardInterrupt from None
                raise SynthsightError(f"the Ray scan failed: {reason(exc)}") from None
            finally:  # Ray's iterator is closed by watched()'s feeder thread, the one that iterates it
                from synthsight.scanner.ray.tasks import forget_notes

                forget_notes(self.run_id)
                if not ended:  # stalled, interrupted, node lost: Ray Data's executor thread stops on its own
                    mute_stopping_executor()

    def _dataset(self, listing: Any):
        import ray.data

        from synthsight.scanner.ray.tasks import Inferencer, decode_block

        opts, plan, spec = self.opts, self.plan, self.facts.spec.preprocess
        read = ReadOptions.for_scan(spec, opts, self.evidence)
        images = self._images()
        rows = TASK_ROWS_PER_BATCH * images
        # Reserving a block's pixels keeps Ray from crowding a node's memory with decode tasks, and keeps it
        # from fusing the decode tasks into the inference actors (it fuses maps with equal reservations).
        block_memory = rows * read.rows * spec.size**2 * 3 * 2 + DECODE_BASE_MEMORY  # pixels in and out, views
        decode_kwargs = dict(options=read, run_id=self.run_id, decode_timeout=opts.decode_timeout)
        device = "cpu" if plan.actor_gpus == 0 else ("cuda" if parse_device(opts.device).kind == "cuda" else "auto")
        actor_kwargs = dict(
            model=self.facts.path,
            backend=opts.backend,
            device=device,
            precision=self.precision,
            batch_size=opts.batch_size,
            threads=plan.threads,
            facts=self.facts,
            formats=self.formats,
            parts=str(self.parts),
        )
        return (
            _cut(listing.dataset(), rows)  # streamed: list blocks cut into decode tasks' shares
            .map_batches(
                decode_block, batch_size=None, num_cpus=1, memory=block_memory, fn_kwargs=decode_kwargs,
                udf_modifying_row_count=False,
            )
            .map_batches(
                # One actor first, growing with its use: two drivers that plan at once from the same free CPUs
                # would each start pools that take every CPU, and Ray Data never shrinks a pool that had no input
                # yet, so neither decoded anything (issue 24 item 3, tests/test_scanner_cluster_drivers.py).
                Inferencer, batch_size=images, compute=ray.data.ActorPoolStrategy(
                    min_size=1, max_size=plan.actors, initial_size=1
                ),
                num_cpus=plan.actor_cpus, num_gpus=plan.actor_gpus, fn_constructor_kwargs=actor_kwargs,
                udf_modifying_row_count=False,
            )
        )  # fmt: skip

    def _records(self, batch: dict[str, np.ndarray]) -> Iterator[Tally]:
        """The tallies of the parts the actors wrote (one per actor call)."""
        for raw in batch["tally"]:
            records, verdicts, provenance, runner = json.loads(raw)
            self._check_runner(runner)
            self.listing.returned(records)
            yield Tally(records, verdicts, provenance)

    def _write_settled(self, settled: list[tuple[int, Entry]]) -> Tally:
        """The records of entries that need no reading (missing, unreadable, not images), as a part written here."""
        from synthsight.scanner.judging import make_record

        records = [make_record(entry, None, None) for _, entry in settled]
        lines = {suffix: writer_for(f"r{suffix}").encode(records) for suffix in self.formats}
        write_part(self.parts, [seq for seq, _ in settled], lines)
        return Tally.of(records)

    def _images(self) -> int:
        """Files per inference batch: as many as fit in --batch-size model inputs (a tiles model: N each)."""
        return max(1, self.opts.batch_size // rows_per_image(self.facts.spec.preprocess, self.opts.stability))

    def _check_runner(self, runner: str) -> None:
        """Every actor must have opened the very model file this report names (same sha256)."""
        if runner in self.runners:
            return
        from synthsight.scanner.ray.tasks import refuse_other_model

        info = json.loads(runner)
        refuse_other_model(info, self.facts.sha256)  # the actor refused already; a second look costs nothing
        self.runners[runner] = info

    def _say(self, line: str) -> None:
        if not self.opts.quiet:
            print(line, file=sys.stderr, flush=True)


def _cut(ds: Any, rows: int) -> Any:
    """``ds.repartition(target_num_rows_per_block=rows)``, its tasks reserving no CPU.

    A read block is up to feed.MAX_BLOCK_BYTES (~200,000 entries): cutting one takes a task for as long as the
    decode tasks downstream take its pieces, and with a CPU reserved that task held the one CPU a 2-CPU Ray
    has for decoding (the other is the inference actor's), so nothing was decoded until the listing ended.
    Dataset.repartition takes no resources (Ray 2.60, pinned): the same logical operator, made here.
    """
    from ray.data import Dataset
    from ray.data._internal.logical.interfaces import LogicalPlan
    from ray.data._internal.logical.operators.map_operator import StreamingRepartition

    dag = ds._logical_plan.dag
    op = StreamingRepartition(target_num_rows_per_block=rows, input_dependencies=[dag], ray_remote_args={"num_cpus": 0})
    return Dataset._from_parent(ds, LogicalPlan(op, ds.context))


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def _data_context() -> Iterator[None]:
    """Ray Data settings for a scan: blocks handed over as they finish (the reports are ordered by the merge of the
    parts, by listing number, so one slow file holds back nothing), no progress bars or stats of its own, blocks of
    at most feed.MAX_BLOCK_BYTES; restored after."""
    from ray.data import DataContext

    from synthsight.scanner.ray.feed import MAX_BLOCK_BYTES

    ctx = DataContext.get_current()
    saved = (ctx.execution_options.preserve_order, ctx.enable_progress_bars, ctx.enable_auto_log_stats)
    saved_more = (ctx.print_on_execution_start, ctx.target_max_block_size)
    ctx.execution_options.preserve_order = False
    ctx.enable_progress_bars = ctx.enable_auto_log_stats = ctx.print_on_execution_start = False
    ctx.target_max_block_size = MAX_BLOCK_BYTES
    try:
        with quiet("ray.data", logging.WARNING), quiet("ray.data._internal.progress"):
            yield
    finally:
        ctx.execution_options.preserve_order, ctx.enable_progress_bars, ctx.enable_auto_log_stats = saved
        ctx.print_on_execution_start, ctx.target_max_block_size = saved_more
