"""Part files: the records of a ``scan --ray`` written where they are made, and made into the reports after.

Each inference actor writes the records of each batch it scores as one *part* in the parts folder beside the
first report (``REPORT.parts/``, named in the manifest): the report lines in every format the scan writes
(``NAME.csv``, ``NAME.jsonl``: a JSON report takes the JSONL lines) and, last, the listing numbers of its
records (``NAME.seq``, int64): a part without its ``.seq`` is not done and is not read. Each file is written
under a temporary name and renamed, so a part is whole or absent; a batch Ray runs again writes the same part
again (its name is its first listing number). The driver writes the parts of the records it makes itself
(missing files, non-images) the same way, and receives from the actors only a :class:`Tally` per batch.

When the scan ends (complete, interrupted or failed) the parts are merged into the reports by listing number
with the external merge of ``synthsight merge`` (runs.py: parts that follow each other are read one after the
other, overlapping ones are merged), so the reports hold the plain scan's records in its order; then the folder
is removed. A driver that died (kill -9, its node lost) leaves the folder: ``--resume`` first appends its parts
to the reports (:func:`fold_leftovers`), skipping any record a report already holds, so a crash costs nothing
that a part holds and folding twice never doubles a record.
"""

from __future__ import annotations

import array
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthsight.reports.lines import Lines
from synthsight.reports.runs import Run, Spill
from synthsight.reports.writers import writer_for

SEQ = ".seq"
WRITE_LINES = 4096  # lines per write into a report


@dataclass
class Tally:
    """What the driver learns of one part: how many records, by verdict and provenance class."""

    records: int
    verdicts: dict[str, int] = field(default_factory=dict)
    provenance: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.records

    @classmethod
    def of(cls, records: list[Any]) -> Tally:
        tally = cls(len(records))
        for r in records:
            tally.verdicts[r.verdict] = tally.verdicts.get(r.verdict, 0) + 1
            if r.provenance:
                tally.provenance[r.provenance] = tally.provenance.get(r.provenance, 0) + 1
        return tally


def parts_folder(report: Path) -> Path:
    return report.with_name(report.name + ".parts")


def part_format(suffix: str) -> str:
    """The part lines a report of ``suffix`` is made from (a JSON report: JSONL lines)."""
    return ".jsonl" if suffix == ".json" else suffix


def write_part(folder: str | Path, seqs: list[int], lines: dict[str, str]) -> None:
    """One part: ``lines`` by format (".csv", ".jsonl") of the records listed as ``seqs`` (increasing).

    The driver makes the folder before the scan; a part for a folder that is gone is dropped: the driver has
    folded the parts into the reports and removed it (a batch still running when the scan stopped), and making
    it again would leave a folder of stray parts beside finished reports (its files are rescanned by --resume).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return
    name = f"{seqs[0]:012d}-{seqs[-1]:012d}"  # the merge plans from the names, reading no part before its turn
    done = [(suffix, text.encode("utf-8")) for suffix, text in lines.items()]
    done.append((SEQ, array.array("q", seqs).tobytes()))  # last: it says the part is whole
    for suffix, data in done:
        tmp = folder / f".{name}{suffix}.{os.getpid()}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, folder / f"{name}{suffix}")


def _seqs(path: Path) -> array.array:
    seqs = array.array("q")
    seqs.frombytes(path.read_bytes())
    return seqs


def part_runs(folder: Path, suffix: str) -> list[Run]:
    """The whole parts of ``folder`` as runs of ``(listing number, line)`` in the ``suffix`` format; a part is
    read only when the merge reaches it (in memory meanwhile: its name)."""
    runs = []
    for seq_file in sorted(folder.glob(f"*{SEQ}")):
        lines_file = seq_file.with_suffix(suffix)
        first, _, last = seq_file.stem.partition("-")
        if not (first.isdigit() and last.isdigit() and lines_file.is_file()):
            continue

        def items(lines_file: Path = lines_file, seq_file: Path = seq_file) -> Iterator[tuple]:
            with open(lines_file, encoding="utf-8", newline="") as fh:
                yield from zip(_seqs(seq_file), fh, strict=True)

        runs.append(Run(items, int(first), int(last), seq_file.stat().st_size // 8))
    return runs


def part_lines(folder: Path, suffix: str) -> Iterator[str]:
    """Every record line of the parts, in listing order; a record in two parts (Ray ran a batch again,
    cut otherwise) once."""
    with Spill(folder / "merge") as spill:
        last = None
        for seq, line in spill.merged(part_runs(folder, suffix)):
            if seq != last:
                yield line
            last = seq


def fold(folder: Path, writer: Any, suffix: str, keep: Callable[[str], bool] | None = None) -> int:
    """Write the parts' lines into ``writer`` (a report of ``suffix``) in listing order; returns how many.

    ``keep(line)``: False for a line the report must not repeat (--resume: it holds an equal record already).
    Without ``write_lines`` (the console), the lines are read back into records.
    """
    fmt = Lines(part_format(suffix))
    copy = getattr(writer, "write_lines", None)
    written, chunk = 0, []
    for line in part_lines(folder, fmt.suffix):
        if keep is not None and not keep(line):
            continue
        chunk.append(line)
        written += 1
        if len(chunk) >= WRITE_LINES:
            copy(chunk) if copy else writer.write([fmt.record(x) for x in chunk])
            chunk = []
    if chunk:
        copy(chunk) if copy else writer.write([fmt.record(x) for x in chunk])
    return written


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def fold_leftovers(report: Path, first: Path, keep_of: Callable[[Path, Lines], Callable[[str], bool]]) -> int:
    """Append the parts a dead driver left beside ``first`` (the scan's first report) to the stream report
    ``report``, without the records it holds already (``keep_of(report, lines)``); returns how many."""
    folder = parts_folder(first)
    if not folder.is_dir():
        return 0
    writer = writer_for(report)(report, append=report.exists() and report.stat().st_size > 0)
    try:
        return fold(folder, writer, report.suffix.lower(), keep_of(report, Lines(report.suffix.lower())))
    finally:
        writer.close()
