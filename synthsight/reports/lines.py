"""A report's lines as they are on disk, with the two fields a merge needs (path, verdict) read from each.

A merge copies every record's line unchanged when the merged report has the lines' format (CSV to CSV with
the same columns, JSONL to JSONL or JSON): whatever columns the record schema has, they pass through, and
nothing is parsed but the path and the verdict (json.decoder.scanstring on a JSONL line, a split on a CSV
line whose first columns are not quoted; the full parser otherwise). A JSONL line into a CSV becomes the CSV
line the CSV writer would write for its record, without the record (:func:`jsonl_to_csv`). Into another
format, or from a CSV of other columns (an older synthsight's), a line becomes a :class:`Record` and is
written by the target's writer.
"""

from __future__ import annotations

import base64
import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from json.decoder import scanstring
from pathlib import Path
from typing import Any

from synthsight.errors import UsageError
from synthsight.reports.record import (
    COLUMNS,
    FORMULA_START,
    PRINTABLE_FIELDS,
    Record,
    box,
    decode_path,
    encode_path,
    flag,
    printable,
)
from synthsight.reports.writers import _csv_safe, _LineBuffer, csv_header, csv_record, csv_unsafe, jsonl_record

_JSONL_START = '{"path": "'
_JSONL_B64 = ', "path_b64": "'
_JSONL_VERDICT = ', "verdict": "'


@dataclass(frozen=True)
class Lines:
    """How to read the lines of one report: its format and, for a CSV, the columns its header names."""

    suffix: str  # ".csv" or ".jsonl"
    columns: tuple[str, ...] = COLUMNS

    @property
    def same_columns(self) -> bool:
        return self.columns == COLUMNS

    def passes_to(self, target_suffix: str) -> bool:
        """Can a line of this report be written into a ``target_suffix`` report as it is?"""
        if self.suffix == ".csv":
            return target_suffix == ".csv" and self.same_columns
        return target_suffix in (".jsonl", ".json")

    def fields(self, line: str) -> tuple[bytes, str]:
        """(the path's exact bytes, verdict) of one complete line."""
        if self.suffix == ".csv":
            return self._csv_fields(line)
        return _jsonl_fields(line)

    def record(self, line: str) -> Record:
        if self.suffix == ".csv":
            return csv_record(self.columns, next(csv.reader([line])))
        return jsonl_record(line)

    def _csv_fields(self, line: str) -> tuple[bytes, str]:
        cols = self.columns
        p, b, v = cols.index("path"), cols.index("path_b64"), cols.index("verdict")
        last = max(p, b, v)
        cells = line.split(",", last + 1)
        if len(cells) <= last or any(c.startswith('"') for c in cells[: last + 1]):
            cells = next(csv.reader([line]))  # a quoted cell among them: let the CSV parser read it
        return path_bytes(csv_unsafe(cells[p]), cells[b]), cells[v]


def path_bytes(text: str, b64: str) -> bytes:
    """The exact bytes of a record's path (as record.decode_path, without making a str of them)."""
    return base64.b64decode(b64) if b64 else text.encode("utf-8")


def _jsonl_fields(line: str) -> tuple[bytes, str]:
    # A string of JSON cannot hold an unquoted '"', so the first ', "verdict": "' is that key's.
    if line.startswith(_JSONL_START):
        text, end = scanstring(line, len(_JSONL_START))
        at = line.find(_JSONL_VERDICT, end)
        if line.startswith(_JSONL_B64, end) and at > 0:
            b64, _ = scanstring(line, end + len(_JSONL_B64))
            verdict, _ = scanstring(line, at + len(_JSONL_VERDICT))
            return path_bytes(text, b64), verdict
    data = json.loads(line)  # keys in another order (another producer): read it whole
    return path_bytes(data.get("path") or "", data.get("path_b64") or ""), data.get("verdict") or ""


def _number(kind: type) -> Callable[[Any], Any]:
    return lambda value: None if value == "" else kind(value)


# How Record.from_dict reads a field back, by the field's type in Record (its annotation, a string).
_READ_BACK: dict[str, Callable[[Any], Any]] = {
    "str": lambda value: value or "",
    "int | None": _number(int),
    "float | None": _number(float),
    "bool | None": flag,
    "list[int] | None": box,
}


def _cell_readers() -> list[tuple[str, Callable[[Any], Any], type | None]]:
    """(column, how it is read back, the JSON type whose cell is written without reading back: None for none)."""
    kinds = {f.name: f.type for f in fields(Record)}
    out = []
    for column in COLUMNS[2:]:  # after path and path_b64
        read = _READ_BACK[kinds[column]]
        direct = {"str": str, "float | None": float}.get(kinds[column])
        if column in PRINTABLE_FIELDS:
            read, direct = (lambda r: lambda value: printable(r(value)))(read), None
        out.append((column, read, direct))
    return out


_CELLS = _cell_readers()


def jsonl_to_csv(lines: list[str]) -> str:
    """The CSV lines of JSONL record lines: what ``CsvWriter.encode([jsonl_record(x) for x in lines])`` writes,
    without making the records (a merge of JSONL shards into a CSV spent two thirds of its time on them)."""
    rows = []
    for line in lines:
        data = json.loads(line)
        text, b64 = encode_path(decode_path(data.get("path") or "", data.get("path_b64") or ""))
        row = [_csv_safe(text), _csv_safe(b64)]
        get, add = data.get, row.append
        for column, read, direct in _CELLS:
            value = get(column)
            if value is None:
                add("")
            elif value.__class__ is direct:  # _csv_safe(read(value)), inline for the common cells
                add(f"{value:.6f}" if direct is float else "'" + value if value.startswith(FORMULA_START) else value)
            else:
                add(_csv_safe(read(value)))
        rows.append(row)
    buf = _LineBuffer()
    csv.writer(buf).writerows(rows)
    return buf.text


def open_lines(path: Path) -> tuple[Lines, Iterator[str]]:
    """How ``path``'s lines read, and its complete record lines one by one (a last line cut mid-way is not one)."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise UsageError(f"{path} is not a .csv or .jsonl report")
    fh = open(path, encoding="utf-8", newline="")  # noqa: SIM115 (closed by the generator)
    columns = COLUMNS
    if suffix == ".csv":
        first = fh.readline()
        if first and not first.endswith("\n"):
            first = ""
        if first:
            try:
                columns = csv_header(next(csv.reader([first])))
            except UsageError as exc:
                fh.close()
                raise UsageError(f"{path}: {exc}") from None
    return Lines(suffix, columns), _complete(fh, suffix == ".jsonl")


def _complete(fh, jsonl: bool) -> Iterator[str]:
    with fh:
        for line in fh:
            if line[-1:] == "\n" and line.strip():
                yield line
