"""What every source of scan records shares: writers, run manifests, --resume, counts, Ctrl-C.

A scan is a :class:`Session` fed by one *source* of records: the local decode pool (pipeline.py) or a Ray
cluster (cluster.py). The source turns walk entries into batches of :class:`Record`; the session alone
writes them, so every guarantee holds whatever produced them: one record per entry, CSV/JSONL flushed
batch by batch, the manifest written at the start (``running``) and at the end, Ctrl-C / SIGTERM stopping at
the next batch with valid reports, ``--resume`` skipping what the reports already hold.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from synthsight import __version__
from synthsight.artifacts import file_sha256, weights_file, weights_sha256
from synthsight.errors import ScanInterrupted, SynthsightError, UsageError
from synthsight.image.preprocess import PreprocessSpec
from synthsight.image.views import describe as describe_views
from synthsight.provenance import PROVENANCE_CLASSES, ProvenanceReader
from synthsight.reports import manifest as manifests
from synthsight.reports import parts
from synthsight.reports.record import JUDGED, VERDICTS
from synthsight.reports.writers import (
    ConsoleWriter,
    Record,
    encode_path,
    summary_line,
    write_records,
    writer_for,
)
from synthsight.scanner.progress import Progress
from synthsight.scanner.walk import UNRECORDED, Entry, Lookahead, Walker
from synthsight.spec import ModelSpec
from synthsight.verdicts.judge import Judge, check_weights


def check_tile_cap(spec: PreprocessSpec, max_pixels: int) -> None:
    """Refuse a tiles model whose one tile is already above the pixel cap: no image could ever be scored."""
    if spec.resize == "tiles" and spec.size * spec.size > max_pixels:
        raise UsageError(
            f"--max-pixels {max_pixels} is smaller than one {spec.size}x{spec.size} tile of this model "
            f"({spec.size * spec.size} pixels): raise it"
        )


def check_stability(spec: PreprocessSpec, stability: int) -> None:
    """--stability re-encodes the image the model sees whole; a tiles model sees windows of the full-resolution
    file, whose views are not defined yet: say so rather than score something else."""
    if stability and spec.resize == "tiles":
        raise UsageError(
            f"--stability {stability} does not combine with a tiles model (resize: tiles) yet: its re-encoded views "
            "are made of the image resized to the model's input; scan without --stability"
        )


class StopFlag:
    """SIGINT/SIGTERM ask the scan to stop at the next batch; a second Ctrl-C stops at once."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def reclaim(self) -> None:
        """Take the signals back from a library that set its own handlers (ray.init sets SIGTERM's)."""
        for sig in self._old:
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal = signum

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


@dataclass
class ScanSummary:
    counts: dict[str, int]
    images: int
    seconds: float
    outputs: list[Path]
    interrupted: bool
    manifest: dict[str, Any] = field(default_factory=dict)
    walked: dict[str, int] = field(default_factory=dict)  # what the walk found that got no record this run
    provenance: dict[str, int] = field(default_factory=dict)  # files per provenance class (empty: not read)
    signal: int | None = None  # the signal that stopped an interrupted scan (SIGINT, SIGTERM)

    @property
    def line(self) -> str:
        unscanned = [(self.walked.get(key, 0), why) for key, why in UNRECORDED.items()]
        return summary_line(self.counts, self.seconds, self.outputs, unscanned, self.provenance)


@dataclass(frozen=True)
class ModelFacts:
    """What judged the records: the model file (and its hash), its spec and the verdict rule in force."""

    path: str
    sha256: str
    spec: ModelSpec
    judge: Judge

    @property
    def threshold(self) -> float:
        return self.judge.threshold

    @classmethod
    def of(cls, source: str, spec: ModelSpec, threshold: float | None) -> ModelFacts:
        """Refuses (ModelFileError) a calibration that was fitted for other weights than this model's."""
        path = os.path.abspath(source) if source else ""  # a report outlives the working directory
        check_weights(spec, _weights(path, spec), path or "the model")
        return cls(path, model_sha256(path), spec, Judge(spec, threshold))

    def manifest(self) -> dict[str, Any]:
        return {
            "model": {"path": self.path, "sha256": self.sha256, "arch": self.spec.arch},
            **self.judge.manifest(),
            "classes": list(self.spec.classes),
            "positive_class": self.spec.positive_class,
            "preprocess": self.spec.preprocess.to_dict(),
        }


class Source(Protocol):
    """Turns walk entries into batches of records (in walk order), and says how, for the manifest."""

    def records(self, entries: Iterator[Entry], stop: StopFlag) -> Iterator[list[Record]]: ...

    def describe(self) -> dict[str, Any]: ...


class Session:
    """One scan's reports: ``check()`` before any work, then ``run(source)``."""

    def __init__(
        self,
        walker: Walker,
        outs: list[Path],
        opts: Any,
        previous: Any,
        model: ModelFacts,
        evidence: ProvenanceReader | None = None,
    ):
        self.walker, self.outs, self.opts, self.previous, self.model = walker, outs, opts, previous, model
        check_tile_cap(model.spec.preprocess, opts.max_pixels)
        check_stability(model.spec.preprocess, opts.stability)
        self.evidence = evidence  # reads each file's provenance (None: --no-provenance)
        self.counts = dict.fromkeys(VERDICTS, 0)
        self.provenance_counts = dict.fromkeys(PROVENANCE_CLASSES, 0)
        self.started = datetime.now(timezone.utc)
        self.walk: Lookahead | None = None
        self.earlier_runs: dict[Path, list[dict[str, Any]]] = {}
        self.written: dict[Path, int] = dict.fromkeys(outs, 0)  # records written to each report in this run

    @property
    def images(self) -> int:
        return sum(self.counts[v] for v in JUDGED)

    def check(self, how: dict[str, Any] | None = None) -> None:
        """Refuse to resume a report made by another model, threshold, preprocessing or shard."""
        manifest = self._manifest(how or {}, 0.0, status="running")  # how: the source's backend and precision
        for out in self._stream_outs():
            earlier = _earlier_manifest(out) if self.opts.resume and out.exists() else None
            manifests.check_resumable(out, earlier, manifest)
            self.earlier_runs[out] = manifests.history(earlier)

    def run(self, source: Source) -> ScanSummary:
        skip = self.previous.should_skip if self.previous else None
        running = self._manifest(source.describe(), 0.0, status="running")
        for out in self._stream_outs():
            manifests.write_manifest(out, running, self.earlier_runs[out])
        writers = self._open_writers()
        t0 = time.perf_counter()
        interrupted, failed, stopped_by = False, True, None
        walk = self.walk = Lookahead(self.walker, skip)
        progress = Progress(walk, self.opts.quiet)
        stop = StopFlag()
        try:
            with stop:
                batches = source.records(iter(walk), stop)
                try:
                    for records in batches:
                        self._write(writers, records)
                        progress.update(len(records))
                        if stop.signal is not None:
                            break
                finally:
                    batches.close()
                interrupted = stop.signal is not None  # also when the source stopped early for it
                stopped_by = stop.signal
            failed = False
        except KeyboardInterrupt:  # a second Ctrl-C, or a signal while a cluster source waited (SIGTERM: 143)
            interrupted, failed, stopped_by = True, False, stop.signal or signal.SIGINT
        except ScanInterrupted:  # valid reports, resumable; the error's line is the user's message
            interrupted, failed = True, False
            raise
        finally:
            progress.close()
            walk.close()
            seconds = time.perf_counter() - t0
            self._fold(writers, getattr(source, "parts", None))
            manifest = self._manifest(source.describe(), seconds, interrupted=interrupted, failed=failed)
            self._close_writers(writers, manifest, failed)
            if not (interrupted or failed) and self.previous:
                self.previous.compact()
            self._end_manifests(manifest, failed)
        provenance = dict(self.provenance_counts) if self.evidence else {}
        return ScanSummary(
            dict(self.counts), self.images, seconds, self.outs, interrupted, manifest, self._walked(), provenance,
            stopped_by,
        )  # fmt: skip

    def _write(self, writers: list, records: list[Record] | parts.Tally) -> None:
        if isinstance(records, parts.Tally):  # the records are in a part file (a Ray actor wrote them)
            for counts, add in ((self.counts, records.verdicts), (self.provenance_counts, records.provenance)):
                for k, n in add.items():
                    counts[k] = counts.get(k, 0) + n
            return
        for r in records:
            self.counts[r.verdict] += 1
            if r.provenance:
                self.provenance_counts[r.provenance] += 1
        for w in writers:
            fresh = self.previous.fresh_for(w.path, records) if self.previous else records
            write_records(w, fresh, records)
            if w.path is not None:
                self.written[w.path] += len(fresh)

    def _fold(self, writers: list, folder: Path | None) -> None:
        """A source's part files into the reports, in listing order (reports/parts.py), then removed."""
        if folder is None or not folder.is_dir():
            return
        for w in writers:
            keep = self.previous.keep_line(w.path, parts.part_format(w.path.suffix.lower())) if (
                self.previous and w.path is not None) else None
            n = parts.fold(folder, w, w.path.suffix.lower() if w.path else ".jsonl", keep)
            if w.path is not None:
                self.written[w.path] += n
        parts.remove(folder)

    def _stream_outs(self) -> list[Path]:
        return [o for o in self.outs if writer_for(o).streamed]

    def _end_manifests(self, manifest: dict[str, Any], failed: bool) -> None:
        for out in self._stream_outs():
            try:
                counted = {**manifest, "report_records": self._records_in(out)}
                manifests.write_manifest(out, counted, self.earlier_runs.get(out, []))
            except SynthsightError:
                if not failed:  # when a report write already failed, that error is the one to show
                    raise

    def _records_in(self, out: Path) -> int:
        """The records ``out`` holds now (merge checks a shard's report against it)."""
        previous = self.previous
        if previous is not None and out in previous.compacted:
            return previous.compacted[out]
        return (previous.records_in(out) if previous is not None else 0) + self.written.get(out, 0)

    def _open_writers(self) -> list:
        if not self.outs:
            return [ConsoleWriter(sys.stdout)]
        writers = []
        for out in self.outs:
            append = self.opts.resume and writer_for(out).streamed and out.exists()
            if append:
                self.previous.truncate_partial(out)
            writers.append(writer_for(out)(out, append=append))
        return writers

    def _close_writers(self, writers: list, manifest: dict, failed: bool) -> None:
        for w in writers:
            if failed:
                w.abort()
                continue
            if self.previous and not w.streamed:  # the JSON report holds the earlier records too
                w.write(self.previous.remaining())
            w.close(manifest)

    def _walked(self) -> dict[str, int]:
        """What the walk found that got no record in this run, by Walker.unrecorded key."""
        walk = self.walk
        resumed = {"already_in_report": walk.resumed} if walk is not None and walk.resumed else {}
        return {**resumed, **self.walker.unrecorded}

    def _all_counts(self) -> dict[str, int]:
        """Counts over every record of the reports: this run's plus the earlier runs' still standing."""
        total = dict(self.counts)
        for r in self.previous.remaining():
            total[r.verdict] = total.get(r.verdict, 0) + 1
        return total

    def _manifest(
        self,
        how: dict[str, Any],
        seconds: float,
        interrupted: bool = False,
        failed: bool = False,
        status: str | None = None,
    ) -> dict[str, Any]:
        opts, shard = self.opts, self.walker.shard
        return {
            "tool": "synthsight",
            "version": __version__,
            "command_line": opts.command_line or " ".join(sys.argv),
            "status": status or ("failed" if failed else "interrupted" if interrupted else "complete"),
            "resumed": bool(self.previous),
            **self.model.manifest(),
            **how,  # the source: backend, device, precision, decode workers, cluster
            "batch_size": opts.batch_size,
            "hash": "sha256" if opts.hash_files else None,
            "provenance": {**self.evidence.describe(), "counts": dict(self.provenance_counts)}
            if self.evidence
            else {"enabled": False},
            "max_pixels": opts.max_pixels,
            "stability": describe_views(opts.stability),
            "source": describe_source(self.walker, opts),
            "shard": shard.to_dict() if shard else None,
            "shard_keys": self.walker.shard_keys() if shard else None,
            "started": self.started.isoformat(timespec="seconds"),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(seconds, 3),
            "counts": dict(self.counts),
            "walked": {"records": sum(self.counts.values()), **self._walked()},
            "counts_with_earlier_runs": self._all_counts() if self.previous else None,
            "images_per_second": round(self.images / seconds, 2) if seconds > 0 else None,
            "outputs": [str(p) for p in self.outs],
        }


def _earlier_manifest(report: Path) -> dict[str, Any] | None:
    """The manifest --resume checks a report against (see reports/manifest.py)."""
    try:
        return manifests.manifest_of(report)
    except manifests.ManifestUnreadable as exc:
        raise UsageError(
            f"--resume: {exc.path} is unreadable ({exc.reason}); move it away to resume without the check"
        ) from None


def describe_source(walker: Walker, opts: Any) -> dict[str, Any]:
    """What was scanned and the options that decide which files get a record (shards of one scan agree on it).

    Paths are stored as records store them: display text, plus the exact bytes in base64 when the text is not
    exact (see record.encode_path); :func:`synthsight.reports.manifest.source_roots` reads them back.
    """
    desc: dict[str, Any] = {}
    for key, value in walker.describe().items():
        if key == "roots":
            coded = [encode_path(p) for p in value]
            desc["roots"] = [text for text, _ in coded]
            if any(b64 for _, b64 in coded):
                desc["roots_b64"] = [b64 for _, b64 in coded]
        elif key == "files_from":
            desc["files_from"], b64 = encode_path(value)
            if b64:
                desc["files_from_b64"] = b64
        else:
            desc[key] = value
    desc.update(
        recursive=opts.recursive,
        include=list(opts.include),
        exclude=list(opts.exclude),
        follow_symlinks=opts.follow_symlinks,
        all_files=opts.all_files,
    )
    return desc


def _weights(path: str, spec: ModelSpec) -> str:
    try:
        return weights_sha256(path, spec) if path else spec.weights_sha256
    except SynthsightError:
        return spec.weights_sha256


def model_sha256(path: str) -> str:
    """Hash of the file that is run (a bundle's weights, however the bundle was named) so a report names
    exactly what judged it and ``--resume`` sees new weights."""
    if not path:
        return ""
    try:
        p = weights_file(path)
    except SynthsightError:
        return ""
    return file_sha256(p) if p.is_file() else ""
