"""The folder `train` writes its bundle into: new or empty, or replaced only when the user says so.

Training into a folder that already holds a bundle replaces its weights; the exports beside them would
then name the old model (and scan with its verdicts). So a non-empty ``--out`` is refused unless
``--overwrite`` (or ``--resume``, which continues into it) is given, and then its exports are removed
before the first epoch: they would be stale the moment the new weights are written.
"""

from __future__ import annotations

import sys
from pathlib import Path

from synthsight.errors import UsageError


def prepare_out(out: Path, overwrite: bool, resume: bool) -> list[Path]:
    """Make ``out`` ready to train into; returns the stale exports removed from it (each said on stderr)."""
    from synthsight.runtime.made_from import exports_in

    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file: name a folder for the bundle")
    present = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if present and not (overwrite or resume):
        shown = ", ".join(present[:3]) + (f" and {len(present) - 3} more" if len(present) > 3 else "")
        raise UsageError(
            f"--out {out} is not empty ({shown}): add --overwrite to train into it (its exports are removed, "
            "they would name the old weights), or name a new folder"
        )
    removed = exports_in(out) if out.is_dir() else []
    for path in removed:
        path.unlink(missing_ok=True)
        print(f"removed {path}: an export of the weights this training replaces", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    return removed
