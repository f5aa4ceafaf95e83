"""The run manifest beside each streamed report, and the check that keeps --resume from mixing models.

A CSV or JSONL report holds records only, so ``REPORT.manifest.json`` next to it says which model,
threshold and preprocessing produced them, for every run that wrote to it (an audit trail for
resumed scans). It is written when a scan starts (status ``running``) and rewritten when it ends.
``--resume`` refuses to append to a report whose manifest names another model file, precision,
threshold, calibration, ``--stability`` views or preprocessing: such a report would hold verdicts that no
single model gave (an INT8 or bf16 run of the same model is another model for this purpose).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from synthsight.atomic import write_atomic
from synthsight.errors import SynthsightError, UsageError
from synthsight.reports.record import decode_path

SHARD_IDENTITY = "shard (--shard K/N)"
# What must be equal for earlier records to stand beside new ones.
IDENTITY = (
    ("model sha256", lambda m: (m.get("model") or {}).get("sha256")),
    ("precision", lambda m: m.get("precision")),
    ("threshold", lambda m: m.get("threshold")),
    ("calibration", lambda m: m.get("calibration")),
    ("--stability views", lambda m: _views_identity(m.get("stability") or {})),
    ("preprocessing", lambda m: m.get("preprocess")),
    ("classes", lambda m: m.get("classes")),
    # Records with and without provenance, or judged against other trust lists, must not mix either.
    ("provenance settings", lambda m: _provenance_identity(m.get("provenance") or {})),
    # A report holding hashed and unhashed records cannot tell copies apart for half of its files.
    ("hashing (--hash/--no-hash)", lambda m: m.get("hash")),
    (SHARD_IDENTITY, lambda m: m.get("shard")),
)


def _views_identity(stability: dict[str, Any]) -> tuple:
    """The views' names and what they are made from (views of another working image are other views)."""
    return tuple(v.get("name") for v in stability.get("views") or ()), stability.get("made_from")


def _provenance_identity(provenance: dict[str, Any]) -> tuple:
    return bool(provenance.get("enabled")), tuple(t.get("sha256") for t in provenance.get("trust_lists") or ())


def manifest_path(report: Path) -> Path:
    return report.with_name(report.name + ".manifest.json")


class ManifestUnreadable(UsageError):
    """A run manifest is there but cannot be read: ``path`` is the file, ``reason`` why. Callers say what it costs."""

    def __init__(self, path: Path, reason: Exception):
        super().__init__(f"{path} is unreadable ({reason})")
        self.path, self.reason = path, reason


def manifest_of(report: str | Path) -> dict[str, Any] | None:
    """The run manifest of a report: inside a JSON report, beside a CSV or JSONL one (``REPORT.manifest.json``).

    None when the report has none (a report from before manifests existed, or a damaged one that is no object);
    :class:`ManifestUnreadable` when one is there but unreadable. The one reader of manifests: ``--resume``,
    ``merge`` and the review page all call it.
    """
    report = Path(report)
    inline = report.suffix.lower() == ".json"
    path = report if inline else manifest_path(report)
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ManifestUnreadable(path, exc) from None
    if inline:
        data = data.get("manifest") if isinstance(data, dict) else None
    return data if isinstance(data, dict) else None


def check_resumable(report: Path, earlier: dict[str, Any] | None, now: dict[str, Any]) -> None:
    """Refuse to resume ``report`` with a different model, threshold, preprocessing or classes."""
    if earlier is None:
        return
    differ = [name for name, get in IDENTITY if get(earlier) != get(now)]
    if not differ:
        return
    before = earlier.get("model") or {}
    raise UsageError(
        f"--resume: {report} was written by {before.get('path') or 'another model'} "
        f"(sha256 {str(before.get('sha256'))[:12]}, precision {earlier.get('precision')}, threshold "
        f"{earlier.get('threshold')}); this run differs in {', '.join(differ)}: resume with the same model, "
        "--precision, --threshold, --stability, --shard and hashing (and calibration), or write a new report "
        "(another --out, or --overwrite)"
    )


def history(earlier: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Earlier runs of a resumed report, oldest first, each without its own history."""
    if earlier is None:
        return []
    runs = list(earlier.get("earlier_runs") or [])
    runs.append({k: v for k, v in earlier.items() if k != "earlier_runs"})
    return runs


def write_manifest(report: Path, manifest: dict[str, Any], earlier_runs: list[dict[str, Any]]) -> None:
    """Atomically (temporary file + rename) write the manifest beside ``report``."""
    path = manifest_path(report)
    data = {**manifest, "report": str(report), "earlier_runs": earlier_runs}
    try:
        write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise SynthsightError(
            f"cannot write {path}: {exc.strerror or exc}; make room and run the same command with --resume"
        ) from None


def source_roots(manifest: dict[str, Any]) -> list[str]:
    """The exact scan roots a manifest's ``source`` names (empty for a ``--files-from`` scan)."""
    source = manifest.get("source") or {}
    roots = source.get("roots") or []
    b64 = source.get("roots_b64") or [""] * len(roots)
    return [decode_path(t, b) for t, b in zip(roots, b64, strict=False)]
