"""A walked entry's record, and a decoded file's outcome from its logits: the local pool and the Ray actors
make records with these two functions, so a record is the same whoever made it.
"""

from __future__ import annotations

import numpy as np

from synthsight.reports.writers import Record, mtime_text
from synthsight.runtime.tiles import TileScores, image_logits, score_file
from synthsight.scanner.walk import Entry
from synthsight.scanner.worker import FileMeta
from synthsight.spec import ModelSpec
from synthsight.verdicts.judge import Judge, Outcome, Stability


def make_record(
    entry: Entry,
    meta: FileMeta | None,
    outcome: Outcome | None,
    gradcam: str = "",
    stability: Stability | None = None,
    tiles: TileScores | None = None,
) -> Record:
    """The record of one walked entry, from what reading it found (``meta``) and its outcome, if it was judged
    (with --stability, how its views agreed; for a tiles model, what each tile scored)."""
    meta = meta or FileMeta()
    rec = Record(
        path=entry.path,
        verdict="skipped" if entry.kind == "skipped" else "error",
        sha256=meta.sha256,
        bytes=entry.size if meta.bytes is None else meta.bytes,
        mtime=mtime_text(entry.mtime_ns if meta.mtime_ns is None else meta.mtime_ns),
        format=meta.format,
        width=meta.width,
        height=meta.height,
        error=meta.error or entry.message,
        notes=meta.notes,
        gradcam=gradcam,
    )
    if meta.provenance is not None:  # the file's own evidence, beside the verdict, never merged into it
        prov = meta.provenance
        rec.provenance, rec.evidence, rec.provenance_detail = prov.klass, prov.evidence, prov.detail or None
        rec.notes = "; ".join(filter(None, [rec.notes, *(f"provenance: {n}" for n in prov.notes)]))
    if meta.error:
        rec.verdict = "error"
    elif outcome is not None:
        rec.verdict, rec.score, rec.raw_score, rec.stratum = (
            outcome.verdict, outcome.score, outcome.raw_score, outcome.stratum
        )
        rec.error = outcome.error or rec.error
    if stability is not None and rec.judged:
        rec.stability, rec.score_min, rec.score_max = stability.stability, stability.score_min, stability.score_max
        rec.unstable = stability.unstable
    if tiles is not None and rec.judged:
        rec.tiles, rec.aggregate, rec.top_tile = len(tiles.scores), tiles.rule, tiles.top_box
        rec.tile_scores, rec.tile_boxes = tiles.scores, tiles.boxes
    return rec


def judge_file(
    judge: Judge, spec: ModelSpec, meta: FileMeta, logits: np.ndarray
) -> tuple[Outcome, Stability | None, TileScores | None]:
    """A decoded file's outcome from the logits of its model inputs ``[meta.inputs, C]`` (the local pool and the
    Ray driver alike): a tiles model's tiles make one image's logits by its aggregate; with --stability the
    file's own logits come first, then its views', which give its stability."""
    fmt, width, height = meta.format, meta.width or 0, meta.height or 0
    z = np.asarray(logits, dtype=np.float32)
    tiles = None
    if spec.preprocess.resize == "tiles":
        _, tiles = score_file(spec, z, meta.boxes)
        z = image_logits(spec, z)[None]
    rows = z.astype(np.float64).tolist()
    clean = judge.outcome(rows[0], fmt, width, height)
    if len(rows) == 1:
        return clean, None, tiles
    return clean, judge.stability(clean, [judge.outcome(r, fmt, width, height) for r in rows[1:]]), tiles
