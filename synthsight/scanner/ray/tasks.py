"""What runs on the Ray workers of ``scan --ray``: the decode task and the inference actor.

Rows travel as a pickled ``(seq, Entry)`` and a pickled :class:`FileMeta`, never field by field, so every
field the local scan records (provenance included) crosses the cluster unchanged; pixels travel in a uint8
tensor column from the decode task to an inference actor and are dropped there: they never reach the driver.
The actor makes each file's record (judge_file and make_record, the local scan's own) and its report lines, so
the driver receives records ready to write.

A decode task reads each file with :func:`~synthsight.scanner.worker.read_file`, the reader of the local
decode pool, and turns any exception into that file's error record. A decoder that crashes the process
(or one that hangs: a watchdog stops the process after ``decode_timeout``) makes Ray run the block again
(Ray Data retries dead tasks without limit), so the task notes in a small file on the node which file it is
reading, and the next attempt knows. As in the local pool, a file whose reading died is read once more (the
death may have been the machine's: memory, preemption); only a file that killed two attempts gets the
``worker-died`` record (a hang: ``timed-out`` at once), and the block goes on with the others.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from synthsight.errors import TIMED_OUT, WORKER_DIED, SynthsightError
from synthsight.reports.parts import Tally, write_part
from synthsight.reports.writers import Record, writer_for
from synthsight.scanner.judging import judge_file, make_record
from synthsight.scanner.session import ModelFacts
from synthsight.scanner.walk import Entry
from synthsight.scanner.worker import FileMeta, ReadOptions, read_file

NOTES_DIR = "synthsight-ray"
NOTES_STALE_S = 86_400.0  # notes a crashed driver's tasks left on a node are removed a day later
MAX_ATTEMPTS = 2  # as the local pool: a file whose reading killed a decode process is read once more
_NOTE_TIMED_OUT = b"T"
_NOTE_READING = b"R"


def pack(seq: int, entry: Entry) -> bytes:
    return pickle.dumps((seq, entry), protocol=pickle.HIGHEST_PROTOCOL)


def decode_block(batch: dict[str, np.ndarray], options: ReadOptions, run_id: str, decode_timeout: float) -> dict:
    """Read every row of ``batch``; returns the rows with their pickled FileMeta, pixels (zeros when none) and how
    many model inputs each filled (``[rows, options.rows, S, S, 3]``: a tiles model's tiles, or the image and its
    --stability views)."""
    rows = [pickle.loads(raw) for raw in batch["entry"]]
    size, per = options.spec.size, options.rows
    pixels = np.zeros((len(rows), per, size, size, 3), np.uint8)
    inputs = np.zeros(len(rows), np.int32)  # 0: nothing decoded
    metas = []
    with _Notes(run_id, rows[0][0] if rows else 0, decode_timeout) as notes:
        for k, (seq, entry) in enumerate(rows):
            meta, px = FileMeta(), None
            if seq in notes.failed:
                meta = FileMeta(error=notes.failed[seq])
            elif options.needs_reading(entry):
                notes.reading(seq)
                try:
                    meta, px = read_file(entry.path, options, entry.kind == "image")
                except Exception as exc:  # read_file raises nothing by design: if it ever does, one record says so
                    meta, px = FileMeta(error=f"unreadable: {type(exc).__name__}: {exc}"), None
                notes.done()
            if px is not None and not meta.error:
                px = px.reshape((-1, size, size, 3))
                pixels[k, : len(px)], inputs[k] = px, len(px)
            metas.append(pickle.dumps(meta, protocol=pickle.HIGHEST_PROTOCOL))
    return {"entry": batch["entry"], "meta": np.array(metas, dtype=object), "pixels": pixels, "inputs": inputs}


def forget_notes(run_id: str) -> None:
    """Remove a scan's (by then empty) notes folder on this node; on the others, the next scan's first task there
    removes it a day later (a task removing its own folder could race another task of the scan creating it)."""
    shutil.rmtree(Path(tempfile.gettempdir()) / NOTES_DIR / run_id, ignore_errors=True)


class _Notes:
    """Which file of this block the task is reading, kept in a file on the node for the next attempt."""

    def __init__(self, run_id: str, block: int, timeout: float):
        top = Path(tempfile.gettempdir()) / NOTES_DIR
        self.folder = top / run_id
        self.folder.mkdir(parents=True, exist_ok=True)
        _forget_stale(top, run_id)
        self.now, self.dead = self.folder / f"{block}.reading", self.folder / f"{block}.died"
        self.timeout = timeout
        self.failed: dict[int, str] = {}  # files that get an error record instead of another read
        self._since: float | None = None
        self._fd = -1
        self._stop = threading.Event()

    def __enter__(self) -> _Notes:
        self._collect()
        self._fd = os.open(self.now, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        threading.Thread(target=self._watch, name="synthsight-decode-watchdog", daemon=True).start()
        return self

    def _collect(self) -> None:
        """The files earlier attempts of this block died on (a note left behind means the process died)."""
        if self.now.exists():
            note = self.now.read_bytes()
            if len(note) > 1:
                with open(self.dead, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps([int(note[1:]), note[:1] == _NOTE_TIMED_OUT]) + "\n")
        deaths: dict[int, int] = {}
        if self.dead.exists():
            for line in self.dead.read_text(encoding="utf-8").splitlines():
                seq, timed_out = json.loads(line)
                deaths[seq] = deaths.get(seq, 0) + 1
                if timed_out:
                    self.failed[seq] = (
                        f"{TIMED_OUT}: decode took longer than {self.timeout:g} s; the decode task was stopped"
                    )
                elif deaths[seq] >= MAX_ATTEMPTS:
                    self.failed[seq] = f"{WORKER_DIED}: decode tasks died twice while reading this file"

    def reading(self, seq: int) -> None:
        os.pwrite(self._fd, _NOTE_READING + b"%020d" % seq, 0)
        self._since = time.monotonic()

    def done(self) -> None:
        self._since = None

    def _watch(self) -> None:
        while not self._stop.wait(min(1.0, self.timeout / 4)):
            since = self._since
            if since is not None and time.monotonic() - since > self.timeout:
                os.pwrite(self._fd, _NOTE_TIMED_OUT, 0)
                os._exit(1)  # the only way to stop a decoder stuck in C code; Ray runs the block again

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        os.close(self._fd)
        if exc[0] is None:
            self.now.unlink(missing_ok=True)
            self.dead.unlink(missing_ok=True)


def _forget_stale(top: Path, run_id: str) -> None:
    """Remove the notes of scans that ended a day ago or more without cleaning up (their driver crashed)."""
    now = time.time()
    with contextlib.suppress(OSError):
        for folder in top.iterdir():
            with contextlib.suppress(OSError):
                if folder.name != run_id and now - folder.stat().st_mtime > NOTES_STALE_S:
                    shutil.rmtree(folder, ignore_errors=True)


def refuse_other_model(runner: dict[str, Any], sha256: str) -> None:
    """Every actor must run the very model file the scan's report names (same SHA-256). An actor refuses a node's
    other file when it starts, before it writes a part: the reports are made of the parts, also those of a scan
    that failed, and ``--resume`` takes them in, so a record of another model must never be written."""
    if runner["sha256"] != sha256:
        raise SynthsightError(
            f"the inference actor on {runner['host']} opened {runner['model']} with sha256 {runner['sha256'][:12]}, "
            f"not the model this scan started with ({sha256[:12]}): every node needs the same file"
        )


class Inferencer:
    """An inference actor: opens the model once, scores the decoded rows of each batch, drops the pixels, makes
    each file's record (the driver's Judge, sent to it) and writes the batch's report lines in ``formats`` as a
    part file in the folder ``parts`` (reports/parts.py); the driver receives one small tally per batch (its CPU
    per record is what one driver can feed)."""

    def __init__(
        self,
        model: str,
        backend: str,
        device: str,
        precision: str,
        batch_size: int,
        threads: int | None,
        facts: ModelFacts,
        formats: tuple[str, ...],
        parts: str,
    ):
        from synthsight.runtime import open_backend
        from synthsight.scanner.session import model_sha256

        self.facts, self.formats, self.parts = facts, formats, parts
        here = {"host": os.uname().nodename, "pid": os.getpid(), "model": model, "sha256": model_sha256(model)}
        refuse_other_model(here, facts.sha256)  # before any part is written
        self.backend = open_backend(
            model, backend=backend, device=device, precision=precision, max_batch=batch_size, threads=threads
        )
        self.runner = json.dumps({**self.backend.describe(), **here}, sort_keys=True)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        """One row: the batch's tally and which actor made it (JSON: records, by verdict, by provenance, actor)."""
        inputs = np.asarray(batch["inputs"], np.int64)
        pixels = np.asarray(batch["pixels"])
        classes = self.backend.model_spec.num_classes
        logits = np.full((len(inputs), pixels.shape[1], classes), np.nan, np.float32)  # NaN: no model input
        if inputs.any():
            index = [(k, t) for k, n in enumerate(inputs) for t in range(n)]  # tiles of several files in one batch
            rows, cols = np.array(index).T
            logits[rows, cols] = self.backend.infer(np.ascontiguousarray(pixels[rows, cols]))
        listed = [pickle.loads(raw) for raw in batch["entry"]]
        records = [
            file_record(self.facts, entry, pickle.loads(meta), z)
            for (_, entry), meta, z in zip(listed, batch["meta"], logits, strict=True)
        ]
        lines = {suffix: writer_for(f"r{suffix}").encode(records) for suffix in self.formats}
        write_part(self.parts, [seq for seq, _ in listed], lines)  # the records stay here: the driver gets a tally
        tally = Tally.of(records)
        return {"tally": np.array([json.dumps([tally.records, tally.verdicts, tally.provenance, self.runner])])}


def file_record(facts: ModelFacts, entry: Entry, meta: FileMeta, logits: np.ndarray) -> Record:
    """The record of one file from its model inputs' logits ``[spec.rows, C]`` (NaN past ``meta.inputs``), as the
    local scan makes it."""
    rows = np.asarray(logits).reshape((-1, facts.spec.num_classes))[: meta.inputs]
    outcome = stability = tiles = None
    if not (meta.error or np.isnan(rows).all()):  # NaN logits of a decoded file: the Judge's error record
        outcome, stability, tiles = judge_file(facts.judge, facts.spec, meta, rows)
    return make_record(entry, meta, outcome, stability=stability, tiles=tiles)
