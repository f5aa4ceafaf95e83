"""The writers that store scan records, one table of formats, and reading reports back.

The record schema is in record.py. CSV cells that a spreadsheet would run as a formula (starting
with ``= + - @``, tab or CR) get a leading ``'``; the path's exact bytes are then in ``path_b64``.
A CSV record is always one physical line.

CSV and JSONL are streamed and flushed after each batch (crash-safe, resumable); JSON (records +
run manifest) is written to a temporary file beside the target and renamed at the end (atomic).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from synthsight.atomic import Atomic
from synthsight.errors import SynthsightError, UsageError
from synthsight.reports.record import (
    COLUMNS,
    DETAIL_FIELDS,
    FORMULA_START,
    VERDICTS,
    Record,
    decode_path,
    encode_path,
    mtime_text,
    printable,
)

__all__ = ["COLUMNS", "DETAIL_FIELDS", "VERDICTS", "Record", "decode_path", "encode_path", "mtime_text"]


def _csv_safe(value: Any) -> str:
    if value.__class__ is str:  # most cells: one check, no conversion
        return "'" + value if value.startswith(FORMULA_START) else value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6f}"
    if isinstance(value, (list, tuple)):  # a tile box
        return ",".join(str(v) for v in value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_header(row: list[str] | None) -> tuple[str, ...]:
    """The columns a report's CSV header names: today's, or an older synthsight's (fewer of them)."""
    header = tuple(row or ())
    if "path" not in header or "verdict" not in header or not set(header) <= set(COLUMNS):
        raise UsageError("not a synthsight scan CSV (unexpected header)")
    return header


def csv_unsafe(text: str) -> str:
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_START) else text


class StreamWriter:
    """Base of the appendable line formats: ``write`` a batch of records, flushed at once.

    ``streamed``: every batch is on disk as it is written, so a report is valid after an interruption
    and ``--resume`` continues it. A writer class also knows how to read its own format back (``read``).
    """

    extension = ""
    streamed = True

    def __init__(self, path: Path, append: bool = False):
        self.path = Path(path)
        self.fh: TextIO = open(self.path, "a" if append else "w", encoding="utf-8", newline="")  # noqa: SIM115
        if self.fh.tell() == 0:
            self._header()

    def _header(self) -> None:
        pass

    def write(self, records: Iterable[Record]) -> None:
        # One write call per batch: an interruption between batches never leaves half a line.
        text = self.encode(records)
        if text:
            self._write(text)

    @classmethod
    def encode(cls, records: Iterable[Record]) -> str:
        """The lines of ``records`` in this format, as ``write`` writes them (also where records are made)."""
        return "".join(cls._line(r) for r in records)

    def write_lines(self, lines: list[str]) -> None:
        """Lines already in this format (a merge copying them), as one batch."""
        if lines:
            self._write("".join(lines))

    def _write(self, text: str) -> None:
        try:
            self.fh.write(text)
            self.fh.flush()
        except OSError as exc:
            raise write_failed(self.path, exc, self.fh) from None

    @staticmethod
    def _line(record: Record) -> str:
        raise NotImplementedError

    def close(self, manifest: dict[str, Any] | None = None) -> None:
        if not self.fh.closed:
            try:
                self.fh.flush()
                os.fsync(self.fh.fileno())
                self.fh.close()
            except OSError as exc:
                raise write_failed(self.path, exc, self.fh) from None

    def abort(self) -> None:
        """The run failed: keep every complete line written so far (``--resume`` continues from them)."""
        with contextlib.suppress(OSError):
            self.fh.close()

    @classmethod
    def read(cls, data: bytes) -> tuple[list[Record], int]:
        """Records of a report's bytes, read up to its last complete line, and that line's end offset."""
        good = data.rfind(b"\n") + 1
        return list(cls.records(data[:good].decode("utf-8").splitlines(keepends=True))), good

    @staticmethod
    def records(lines: Iterable[str]) -> Iterator[Record]:
        """The records of a report's complete lines, one by one: the one parser of this format."""
        raise NotImplementedError


def write_failed(path: Path, exc: OSError, fh: Any) -> SynthsightError:
    """Disk full, quota, I/O error: one line for the user; the file keeps every complete line written before."""
    with contextlib.suppress(OSError):
        fh.close()  # closing retries the flush of the unwritten tail, which may fail again: it is lost anyway
    return SynthsightError(
        f"cannot write the report {path}: {exc.strerror or exc}; the lines written before are intact: "
        "make room and run the same command with --resume"
    )


class _LineBuffer:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    @property
    def text(self) -> str:
        return "".join(self.parts)


CSV_HEADER = ",".join(COLUMNS) + "\r\n"  # the header line CsvWriter writes (a merge compares against it)


def csv_record(columns: Iterable[str], row: list[str]) -> Record:
    """The record of one parsed CSV row under ``columns`` (today's, or an older synthsight's header)."""
    return Record.from_dict({c: csv_unsafe(v) for c, v in zip(columns, row, strict=False)})


def jsonl_record(line: str) -> Record:
    """The record of one JSONL line."""
    return Record.from_dict(json.loads(line))


class CsvWriter(StreamWriter):
    extension = ".csv"

    def _header(self) -> None:
        self._write(CSV_HEADER)

    @classmethod
    def encode(cls, records: Iterable[Record]) -> str:
        # One csv.writer per batch, not per record (it was a third of the writer's time).
        buf = _LineBuffer()
        csv.writer(buf).writerows([_csv_safe(row[c]) for c in COLUMNS] for row in (r.to_dict() for r in records))
        return buf.text

    @staticmethod
    def records(lines: Iterable[str]) -> Iterator[Record]:
        rows = csv.reader(lines)
        first = next(rows, None)
        if first is None:
            return
        header = csv_header(first)  # today's columns, or an older synthsight's
        for row in rows:
            if row:
                yield csv_record(header, row)


class JsonlWriter(StreamWriter):
    extension = ".jsonl"

    @staticmethod
    def _line(record: Record) -> str:
        return json.dumps(record.to_dict(detail=True), ensure_ascii=False) + "\n"

    @staticmethod
    def records(lines: Iterable[str]) -> Iterator[Record]:
        return (jsonl_record(line) for line in lines if line.strip())


class JsonWriter:
    """``{"records": [...], "manifest": {...}}`` streamed to a temporary file, renamed on close.

    Not ``streamed``: the report exists only once the scan ends, and holds the earlier runs' records
    of a resumed scan too (the pipeline hands them over before closing).
    """

    extension = ".json"
    streamed = False

    def __init__(self, path: Path, append: bool = False):
        self.path = Path(path)
        self.atomic = Atomic(self.path)
        self.fh = open(self.atomic.tmp, "w", encoding="utf-8")  # noqa: SIM115
        self.fh.write('{"records": [')
        self.count = 0

    def write(self, records: Iterable[Record]) -> None:
        for record in records:
            line = json.dumps(record.to_dict(detail=True), ensure_ascii=False)
            self.fh.write(("\n" if self.count == 0 else ",\n") + line)
            self.count += 1

    def write_lines(self, lines: list[str]) -> None:
        """JSONL lines (one JSON record each) written as records of this report."""
        for line in lines:
            self.fh.write(("\n" if self.count == 0 else ",\n") + line.rstrip("\r\n"))
            self.count += 1

    def close(self, manifest: dict[str, Any] | None = None) -> None:
        if self.fh.closed:
            return
        self.fh.write('\n],\n"manifest": ' + json.dumps(manifest or {}, indent=2, ensure_ascii=False) + "}\n")
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        self.atomic.commit()

    def abort(self) -> None:
        with contextlib.suppress(OSError):  # a full disk fails the final flush too
            self.fh.close()
        self.atomic.discard()

    @staticmethod
    def read(data: bytes) -> tuple[list[Record], int]:
        doc = json.loads(data.decode("utf-8"))
        return [Record.from_dict(r) for r in doc.get("records", [])], len(data)


class ConsoleWriter:
    """Without --out: one tab-separated line per file on stdout (verdict, score, path, error)."""

    path = None
    streamed = True

    def __init__(self, stream: TextIO):
        self.fh = stream

    def write(self, records: Iterable[Record]) -> None:
        lines = []
        for r in records:
            score = "" if r.score is None else f"{r.score:.4f}"
            lines.append("\t".join([r.verdict, score, encode_path(r.path)[0], printable(r.error)]) + "\n")
        try:
            self.fh.write("".join(lines))
            self.fh.flush()
        except BrokenPipeError:  # `synthsight scan ... | head`: the reader is gone, so is the point of going on
            os.dup2(os.open(os.devnull, os.O_WRONLY), self.fh.fileno())
            raise SynthsightError("standard output was closed; scan stopped") from None

    def close(self, manifest: dict[str, Any] | None = None) -> None:
        self.fh.flush()

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self.fh.flush()


class Encoded(list):
    """Records that arrive with their report lines already made where the records were (a Ray actor): ``text``
    holds, by format (".csv", ".jsonl"), the lines ``encode`` gives for all of them, so the process writing the
    report does not format them again (one driver's CPU per record is what limits a cluster scan)."""

    def __init__(self, records: Iterable[Record], text: dict[str, str]):
        super().__init__(records)
        self.text = text


def write_records(writer: Any, records: list[Record], made: list[Record]) -> None:
    """Write ``records`` (all of ``made``, or some of them) with ``writer``: lines ``made`` carries encoded
    already are copied when every record is written and they are in the writer's format (JSON takes JSONL's)."""
    suffix = getattr(writer, "extension", "")
    text = made.text.get(".jsonl" if suffix == ".json" else suffix) if isinstance(made, Encoded) else None
    if text is None or len(records) != len(made):
        writer.write(records)
    elif suffix == ".json":
        writer.write_lines(text.split("\n")[:-1])  # JSON escapes a newline in a string: each "\n" ends a line
    else:
        writer.write_lines([text])


# The one table of report formats: what each can do is an attribute of its writer class.
WRITERS: dict[str, type] = {w.extension: w for w in (CsvWriter, JsonlWriter, JsonWriter)}
STREAM_FORMATS = tuple(ext for ext, writer in WRITERS.items() if writer.streamed)


def writer_for(path: str | Path) -> type:
    suffix = Path(path).suffix.lower()
    if suffix not in WRITERS:
        raise UsageError(f"--out {path}: unknown format {suffix or '(none)'}; use one of {', '.join(WRITERS)}")
    return WRITERS[suffix]


def check_output(path: str | Path, resume: bool, overwrite: bool) -> Path:
    """Refuse, before any scanning, an output that cannot be written or would destroy a report."""
    out = Path(os.path.abspath(path))
    if out.is_dir():
        raise UsageError(f"--out {out}: is a folder; give a file name ending in {', '.join(WRITERS)}")
    writer_for(out)
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise UsageError(f"--out {out}: not writable")
    if out.exists() and out.stat().st_size > 0 and not (resume or overwrite):
        raise UsageError(f"--out {out} already exists: pass --resume to continue that scan or --overwrite")
    return out


def read_records(path: str | Path) -> tuple[list[Record], int]:
    """Records of a CSV/JSONL/JSON report, and the byte length of its complete lines.

    A stream cut mid-line (power loss, kill -9) is read up to its last complete line; the
    caller truncates the file there before appending.
    """
    return writer_for(path).read(Path(path).read_bytes())


def iter_records(path: str | Path) -> Iterator[Record]:
    """The records of a CSV/JSONL report one by one, in constant memory (``synthsight merge`` of huge shards).

    As :func:`read_records`, a last line cut mid-way (power loss, kill -9) is not a record.
    """
    path = Path(path)
    writer = writer_for(path)
    with open(path, "rb") as fh:
        try:
            yield from writer.records(raw.decode("utf-8") for raw in fh if raw.endswith(b"\n"))
        except UsageError as exc:
            raise UsageError(f"{path}: {exc}") from None


def summary_line(
    counts: dict[str, int],
    seconds: float,
    outputs: Iterable[Path],
    unscanned: Iterable[tuple[int, str]] = (),
    provenance: dict[str, int] | None = None,
) -> str:
    """``scanned 74 of 85 files walked: 22 ai, ... (provenance: 3 ai-signed, 71 none); not scanned: 11 not images
    (...); 17.3 files/s; report: X``.

    The rate is the progress line's (scanner/progress.py): every record of this run over the whole scan, so the
    last progress line and this one show one figure, not files/s then images/s (issue 18 item 12).
    """
    parts = ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS)
    declared = ", ".join(f"{n} {klass}" for klass, n in (provenance or {}).items() if n)
    if declared:
        parts += f" (provenance: {declared})"
    where = ", ".join(str(p) for p in outputs) or "(no --out given)"
    unscanned = [(n, why) for n, why in unscanned if n]
    scanned = sum(counts.values())
    rate = scanned / seconds if seconds > 0 else 0.0
    if not unscanned:
        return f"scanned {files(scanned)}: {parts}; {rate:.1f} files/s; report: {where}"
    walked = scanned + sum(n for n, _ in unscanned)
    others = ", ".join(f"{n} {why}" for n, why in unscanned)
    tail = f"not scanned: {others}; {rate:.1f} files/s; report: {where}"
    return f"scanned {scanned} of {files(walked)} walked: {parts}; {tail}"


def files(n: int) -> str:
    """``1 file``, ``2 files``: the count the summary and progress lines say."""
    return f"{n} file" if n == 1 else f"{n} files"
