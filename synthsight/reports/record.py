"""The scan record: one per walked file, the same schema in every report format.

Columns (docs/output-format.md; docs/design.md "Scan records", plus what a forensic reader needs):
``path, path_b64, sha256, bytes, mtime, format, width, height, verdict, score, raw_score, stratum, stability,
score_min, score_max, unstable, tiles, aggregate, top_tile, provenance, evidence, error, notes, gradcam``; JSON
and JSONL add ``provenance_detail`` (and, for a tiles model, ``tile_scores`` and
``tile_boxes``), the structured evidence behind ``provenance`` (one class) and ``evidence`` (one line).
The CNN verdict and the file's own provenance evidence stand side by side, never merged into one number.

``verdict`` is ``ai``, ``uncertain`` (a calibrated model only: between its two thresholds), ``real``,
``error`` or ``skipped``; ``score`` is the calibrated probability of the AI class (the raw softmax for an
uncalibrated model), ``raw_score`` the model's own softmax, ``stratum`` the calibration stratum whose
thresholds judged the file (empty unless calibrated ``--by``). With ``scan --stability K``: ``stability`` is
the share of the K re-encoded views whose verdict equals the file's, ``score_min`` / ``score_max`` the range
of the score over the file and its views, ``unstable`` true when any view's verdict differs.

A model with ``resize: tiles`` scores windows of its input size at the file's own pixels: ``tiles`` is how
many it scored, ``aggregate`` the rule that made the image's logits from theirs (``mean``, ``max``, ``topK``),
``top_tile`` the box ``left,top,right,bottom`` of the tile that points most towards AI (in the pixels of the
image as oriented), ``tile_scores`` each tile's own softmax probability of the AI class and ``tile_boxes``
their boxes, in the same order (reading order). Other models leave the three columns empty.
Reports written before these columns existed are still read (their header names the columns they have).

Paths hold any bytes. ``path`` is always valid UTF-8 text for display: bytes that are not UTF-8
appear as ``\\xNN``, control characters (newline, tab...) as Python escapes. Whenever that text is
not the exact name, ``path_b64`` holds the exact bytes in base64 and is the authority, so every
path round-trips losslessly, in CSV as in JSON(L). Text that a spreadsheet would run as a formula
(starting with ``= + - @``, tab or CR) also gets ``path_b64``.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from synthsight.errors import WORKER_DIED

VERDICTS = ("ai", "uncertain", "real", "error", "skipped")
JUDGED = ("ai", "uncertain", "real")  # verdicts the model gave (an image was scored)
COLUMNS = (
    "path",
    "path_b64",
    "sha256",
    "bytes",
    "mtime",
    "format",
    "width",
    "height",
    "verdict",
    "score",
    "raw_score",
    "stratum",
    "stability",
    "score_min",
    "score_max",
    "unstable",
    "tiles",
    "aggregate",
    "top_tile",
    "provenance",
    "evidence",
    "error",
    "notes",
    "gradcam",
)
# Fields that only the JSON formats carry (nested objects have no place in a CSV cell).
DETAIL_FIELDS = ("provenance_detail", "tile_scores", "tile_boxes")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PRINTABLE_FIELDS = ("evidence", "error", "notes", "gradcam")  # made printable (one line, valid UTF-8) on output


@dataclass
class Record:
    """The outcome for one file. ``path`` is the OS path (``str``, surrogate-escaped bytes allowed)."""

    path: str
    verdict: str
    sha256: str = ""
    bytes: int | None = None
    mtime: str = ""
    format: str = ""
    width: int | None = None
    height: int | None = None
    score: float | None = None
    raw_score: float | None = None
    stratum: str = ""
    stability: float | None = None  # scan --stability K only
    score_min: float | None = None
    score_max: float | None = None
    unstable: bool | None = None
    tiles: int | None = None  # resize "tiles": how many tiles were scored
    aggregate: str = ""  # resize "tiles": the rule that made the image's logits from its tiles'
    top_tile: list[int] | None = None  # [left, top, right, bottom] of the tile ranked first
    provenance: str = ""
    evidence: str = ""
    error: str = ""
    notes: str = ""
    gradcam: str = ""  # path of the Grad-CAM overlay, when the scan made one
    provenance_detail: dict[str, Any] | None = None
    tile_scores: list[float] | None = None  # JSON only: each tile's softmax probability of the positive class
    tile_boxes: list[list[int]] | None = None  # JSON only: each tile's [left, top, right, bottom]

    def to_dict(self, detail: bool = False) -> dict[str, Any]:
        """Serialisable form: the display path plus ``path_b64`` when the display text is not exact.

        ``detail`` adds the JSON-only fields (:data:`DETAIL_FIELDS`).
        """
        text, b64 = encode_path(self.path)
        out = dict(self.__dict__)  # the fields, in order (dataclasses.fields() costs a writer ~15% per record)
        out["path"], out["path_b64"] = text, b64
        for key in PRINTABLE_FIELDS:
            out[key] = printable(out[key])
        return {k: out[k] for k in COLUMNS + (DETAIL_FIELDS if detail else ())}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        def num(key: str, kind: type) -> Any:
            value = data.get(key)
            return None if value in (None, "") else kind(value)

        return cls(
            path=decode_path(data.get("path") or "", data.get("path_b64") or ""),
            verdict=data.get("verdict") or "",
            sha256=data.get("sha256") or "",
            bytes=num("bytes", int),
            mtime=data.get("mtime") or "",
            format=data.get("format") or "",
            width=num("width", int),
            height=num("height", int),
            score=num("score", float),
            raw_score=num("raw_score", float),
            stratum=data.get("stratum") or "",
            stability=num("stability", float),
            score_min=num("score_min", float),
            score_max=num("score_max", float),
            unstable=flag(data.get("unstable")),
            tiles=num("tiles", int),
            aggregate=data.get("aggregate") or "",
            top_tile=box(data.get("top_tile")),
            provenance=data.get("provenance") or "",
            evidence=data.get("evidence") or "",
            error=data.get("error") or "",
            notes=data.get("notes") or "",
            gradcam=data.get("gradcam") or "",
            provenance_detail=data.get("provenance_detail") or None,
            tile_scores=[float(v) for v in data.get("tile_scores") or []] or None,
            tile_boxes=[box(b) for b in data.get("tile_boxes") or []] or None,
        )

    @property
    def judged(self) -> bool:
        return self.verdict in JUDGED

    @property
    def transient(self) -> bool:
        """True when the record says nothing about the file itself (retried on resume)."""
        return self.verdict == "error" and self.error.partition(":")[0] == WORKER_DIED


def flag(value: Any) -> bool | None:
    """A boolean cell: JSON true/false, CSV "true"/"false", empty for none."""
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() == "true"
def box(value: Any) -> list[int] | None:
    """A tile box from JSON (``[l, t, r, b]``) or a CSV cell (``"l,t,r,b"``); None when empty."""
    if value in (None, "", []):
        return None
    parts = value.split(",") if isinstance(value, str) else value
    out = [int(v) for v in parts]
    if len(out) != 4:
        raise ValueError(f"a tile box has 4 numbers, got {value!r}")
    return out


def mtime_text(mtime_ns: int | None) -> str:
    """ISO-8601 UTC with microseconds; also the key --resume compares."""
    if mtime_ns is None:
        return ""
    secs, ns = divmod(mtime_ns, 1_000_000_000)
    return datetime.fromtimestamp(secs, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{ns // 1000:06d}Z"


def printable(text: str) -> str:
    """Valid UTF-8 on one line: undecodable bytes as \\xNN, control characters escaped."""
    if isinstance(text, str) and text.isprintable():  # the common case, in C: no control characters or
        return text  # surrogates (undecodable bytes), so the text is valid UTF-8 as it is
    raw = os.fsencode(text) if isinstance(text, str) else bytes(text)
    shown = raw.decode("utf-8", "backslashreplace")
    if shown.isprintable():
        return shown
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii") for c in shown)


def encode_path(path: str) -> tuple[str, str]:
    """(display text, base64 of the exact bytes or '' when the text is exact and spreadsheet-safe)."""
    text = printable(path)
    exact = (text is path or text.encode("utf-8") == os.fsencode(path)) and not text.startswith(FORMULA_START)
    raw = b"" if exact else os.fsencode(path)
    return text, "" if exact else base64.b64encode(raw).decode("ascii")


def decode_path(text: str, b64: str) -> str:
    if b64:
        return os.fsdecode(base64.b64decode(b64))
    return os.fsdecode(text.encode("utf-8"))
