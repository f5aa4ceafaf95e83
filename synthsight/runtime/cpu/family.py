"""The files of one export and what they carry: metadata, certificates, which INT8 file belongs to which FP32.

``model.int8.onnx`` names the ``model.onnx`` it was made from and that file's SHA-256 (written last by
the export), so a stale INT8 file from an older export is never mixed into a newer one. Metadata, precision
and hashes come from :mod:`synthsight.artifacts` (read once per file version).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from synthsight.artifacts import file_precision, file_sha256, int8_sibling, read_props
from synthsight.spec import CERTIFICATES_KEY, SOURCE_KEY


def certificates(path: str | Path) -> dict[str, dict]:
    """The certificates stored in an exported file, keyed ``precision/runtime`` (empty when none)."""
    try:
        data = json.loads(read_props(path).get(CERTIFICATES_KEY, "{}"))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


@dataclass
class Family:
    """The FP32 file and the INT8 file made from it (either may be missing), and what was noticed."""

    fp32: Path | None
    int8: Path | None
    notes: list[str] = field(default_factory=list)

    def file(self, which: str) -> Path | None:
        return self.fp32 if which == "fp32" else self.int8


def family(path: str | Path) -> Family:
    """The export family of ``path`` (an FP32 or INT8 ``.onnx``); INT8 files are tied to their source by SHA-256."""
    path = Path(path)
    precision = file_precision(path)
    if precision == "int8":
        source = _source(path)
        fp32 = path.parent / source.get("file", "")
        if source.get("file") and fp32.is_file() and file_sha256(fp32) == source.get("sha256"):
            return Family(fp32, path)
        note = f"{path.name}: the FP32 file it was made from ({source.get('file') or '?'}) is not beside it unchanged"
        return Family(None, path, [note])
    if precision != "fp32":
        return Family(None, None, [f"{path.name} is a {precision} file: it runs as exported"])
    sibling = int8_sibling(path)
    if not sibling.is_file():
        return Family(path, None)
    if _source(sibling).get("sha256") != file_sha256(path):
        note = f"{sibling.name} was made from another {path.name}: ignored (re-export it with --format int8)"
        return Family(path, None, [note])
    return Family(path, sibling)


def _source(int8: Path) -> dict:
    try:
        data = json.loads(read_props(int8).get(SOURCE_KEY, "{}"))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
