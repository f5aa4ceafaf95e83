"""Write the review page: ``OUT.html`` plus ``OUT_files/`` (thumbnails, overlays, record data) beside it.

The page opens from disk in any browser: no server, no network, nothing to build. Its
Content-Security-Policy allows only its own inline script and style (by hash) and files from its
folder, so even a string that slipped through as markup could neither run nor load anything.
Data reaches the page as JSON (inside the HTML with ``<``, ``>``, ``&`` and U+2028/2029 escaped,
or in the folder's data files) and is put into the document with ``textContent`` only.
"""

from __future__ import annotations

import base64
import glob
import hashlib
import html as html_lib
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

from synthsight import __version__
from synthsight.atomic import write_atomic
from synthsight.errors import SynthsightError, UsageError
from synthsight.image.read_window import DEFAULT_MAX_PIXELS
from synthsight.review import DEFAULT_PAGE_SIZE, DEFAULT_THUMBS, PAGE_SIZES
from synthsight.review import data as page_data
from synthsight.review.records import Merged, inert, load_reports
from synthsight.review.thumbs import Job, Media, make_all

MARKER = ".synthsight-review"  # in the folder beside the page: only such a folder is ever rewritten
_MEDIA_NAME = re.compile(r"^[0-9a-f]{64}\.(jpg|png)$")


@dataclass
class ReviewConfig:
    """Everything `synthsight report` can be told."""

    reports: list[str]
    html: str
    thumbs: int = DEFAULT_THUMBS
    page_size: int = DEFAULT_PAGE_SIZE
    workers: int | None = None  # thumbnail processes; None: the usable cores
    title: str | None = None
    overwrite: bool = False
    max_pixels: int | None = None  # None: the scan's own cap, from its manifest
    quiet: bool = False


@dataclass
class ReviewResult:
    html: Path
    folder: Path
    records: int
    thumbs_made: int
    thumbs_missing: int
    seconds: float
    bytes: int

    @property
    def line(self) -> str:
        return (
            f"review page: {self.html} ({self.records} records, {self.thumbs_made} thumbnails"
            + (f", {self.thumbs_missing} placeholders" if self.thumbs_missing else "")
            + f"; {self.bytes / 1e6:.1f} MB with {self.folder.name}/, {self.seconds:.1f} s)"
        )


def folder_for(html: Path) -> Path:
    return html.with_name(html.stem + "_files")


def check_target(html: str | Path, overwrite: bool) -> Path:
    """Refuse, before any work, a page that cannot be written or would replace something not ours."""
    out = Path(os.path.abspath(html))
    if out.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--html {html}: give a file name ending in .html")
    if out.is_dir():
        raise UsageError(f"--html {html}: is a folder")
    if not out.parent.is_dir():
        raise UsageError(f"--html {html}: folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK):
        raise UsageError(f"--html {html}: folder {out.parent} is not writable")
    if out.exists() and not overwrite:
        raise UsageError(f"--html {html} already exists: pass --overwrite to replace it")
    folder = folder_for(out)
    if folder.exists() and not (folder / MARKER).is_file():
        raise UsageError(
            f"{folder} exists and was not made by synthsight report: move it away or choose another --html"
        )
    other = _owner(folder, out)
    if other is not None:  # audit.html and audit.htm share audit_files/: the first page would show the second's
        raise UsageError(
            f"--html {html}: {folder.name}/ beside it holds the data of the page {other.name}, which would then "
            f"show this page's records: choose another name, or remove {other.name} and {folder.name}/ first"
        )
    return out


def _owner(folder: Path, page: Path) -> Path | None:
    """Another page that exists and uses ``folder`` (named in the folder's marker; for a folder from before
    pages were named there, any other page of the same stem), or None."""
    try:
        named = [ln[6:].strip() for ln in (folder / MARKER).read_text().splitlines() if ln.startswith("page: ")]
    except (OSError, UnicodeDecodeError):
        named = []
    if named:
        candidates = [folder.parent / named[0]]
    else:
        candidates = [
            p for p in folder.parent.glob(f"{glob.escape(page.stem)}.*") if p.suffix.lower() in (".html", ".htm")
        ]
    return next((p for p in candidates if p.name != page.name and p.is_file()), None)


def for_scan(html: str, outputs: list[str], thumbs: int, overwrite: bool, quiet: bool) -> ReviewConfig:
    """The page of ``scan --html``, checked before the scan starts; read from the richest --out report.

    A page is made from a report file, not from the scan's memory: so it shows exactly what the
    report holds, and ``synthsight report`` can remake it at any time.
    """
    if not outputs:
        raise UsageError(
            "--html needs a report to build the page from: add --out REPORT.json (or .jsonl / .csv), "
            "or run `synthsight report REPORT --html PAGE.html` on an existing report"
        )
    rank = {".json": 0, ".jsonl": 1, ".csv": 2}  # JSON and JSONL carry provenance detail, JSON its manifest too
    report = min(outputs, key=lambda o: rank.get(Path(o).suffix.lower(), 3))
    check_target(html, overwrite)
    return ReviewConfig([report], html, thumbs=thumbs, overwrite=overwrite, quiet=quiet)


def write_review(config: ReviewConfig) -> ReviewResult:
    """Build the page for ``config.reports``; see the module docstring for what is written where."""
    t0 = time.perf_counter()
    if config.page_size not in PAGE_SIZES:
        raise UsageError(f"--page-size must be one of {', '.join(map(str, PAGE_SIZES))}")
    html = check_target(config.html, config.overwrite)
    merged = load_reports(list(config.reports))
    folder = folder_for(html)
    new = not folder.exists()
    _prepare(folder, html)
    try:
        media = _media(merged, folder, config)
        _write_data(folder, merged, media, config.thumbs)
        _prune(folder, media)
        summary = page_data.summary(merged, media, config.thumbs)
        summary.update(_about(merged, config, folder))
        _atomic_write(html, render(summary, config.title or _default_title(merged)))
    except BaseException:  # Ctrl-C or a failure: a page never written leaves no folder behind
        if new:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    size = html.stat().st_size + sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    missing = summary["thumbs"]["missing"]
    return ReviewResult(
        html, folder, len(merged.records), summary["thumbs"]["made"], missing, time.perf_counter() - t0, size
    )


def _prepare(folder: Path, page: Path) -> None:
    try:
        folder.mkdir(exist_ok=True)
        (folder / MARKER).write_text(
            f"made by synthsight report; rewritten by the next run for this page\npage: {page.name}\n"
        )
    except OSError as exc:
        raise UsageError(f"cannot create {folder}: {exc.strerror or exc}") from None


def media_jobs(merged: Merged, limit: int) -> dict[int, Job]:
    """The records that get a thumbnail: the highest-scoring flagged ones, then the highest-scoring others."""
    chosen: dict[int, Job] = {}
    for verdict in ("ai", "uncertain", "real"):
        for i, r in enumerate(merged.records):
            if len(chosen) >= limit:
                return chosen
            if r.verdict == verdict:
                chosen[i] = Job(r.path, r.sha256, r.gradcam)
    return chosen


def _media(merged: Merged, folder: Path, config: ReviewConfig) -> dict[int, Media]:
    from tqdm import tqdm

    from synthsight.machine import usable_cores

    jobs = media_jobs(merged, config.thumbs)
    caps = [(s.manifest or {}).get("max_pixels") for s in merged.sources]
    cap = config.max_pixels or min([c for c in caps if isinstance(c, int) and c > 0] or [DEFAULT_MAX_PIXELS])
    workers = usable_cores() if config.workers is None else config.workers
    workers = min(workers, max(0, len(jobs) // 16))  # a process pool pays off only past a handful of files
    if sys.stderr.isatty() or config.quiet or not jobs:
        bar = tqdm(total=len(jobs), desc="thumbnails", unit="file", disable=config.quiet or not jobs, leave=False)
    else:
        bar = _PlainLines(len(jobs))  # a log file gets lines, not a bar's carriage returns
    try:
        made = make_all(list(jobs.values()), folder, workers, cap, bar.update)
    finally:
        bar.close()
    return dict(zip(jobs, made, strict=True))


class _PlainLines:
    """``thumbnails 120/500`` on stderr every few seconds and at the end, as the scan's plain progress."""

    EVERY_S = 10.0

    def __init__(self, total: int):
        self.total, self.done, self.last = total, 0, time.monotonic()

    def update(self, n: int = 1) -> None:
        self.done += n
        if time.monotonic() - self.last >= self.EVERY_S:
            self.last = time.monotonic()
            print(f"thumbnails {self.done}/{self.total}", file=sys.stderr, flush=True)

    def close(self) -> None:
        print(f"thumbnails {self.done}/{self.total}", file=sys.stderr, flush=True)


def _write_data(folder: Path, merged: Merged, media: dict[int, Media], thumbs: int) -> None:
    """Index and row chunks into a fresh data folder, swapped in whole."""
    new, final, old = folder / "data.new", folder / "data", folder / "data.old"
    for stale in (new, old):
        shutil.rmtree(stale, ignore_errors=True)
    try:
        new.mkdir()
        (new / "index.js").write_text(page_data.script_payload("index", 0, page_data.index(merged)), "ascii")
        for k, rows in enumerate(page_data.row_chunks(merged, media, thumbs)):
            (new / f"rows-{k:05d}.js").write_text(page_data.script_payload("rows", k, rows), "ascii")
        if final.exists():
            final.rename(old)
        new.rename(final)
    except OSError as exc:
        shutil.rmtree(new, ignore_errors=True)
        raise SynthsightError(f"cannot write the page's data into {folder}: {exc.strerror or exc}") from None
    shutil.rmtree(old, ignore_errors=True)


def _prune(folder: Path, media: dict[int, Media]) -> None:
    """Remove thumbnails and overlays of earlier runs that this page no longer shows."""
    keep = {f"{m.thumb}.jpg" for m in media.values() if m.thumb} | {f"{m.overlay}.png" for m in media.values()}
    for sub in ("thumbs", "gradcam"):
        for path in (folder / sub).glob("*") if (folder / sub).is_dir() else ():
            if _MEDIA_NAME.match(path.name) and path.name not in keep:
                path.unlink(missing_ok=True)


def _about(merged: Merged, config: ReviewConfig, folder: Path) -> dict:
    return {
        "folder": folder.name,
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "tool": f"synthsight {__version__}",
        "page_size": config.page_size,
        "page_sizes": list(PAGE_SIZES),
    }


def _default_title(merged: Merged) -> str:
    names = ", ".join(s.path.name for s in merged.sources[:3]) + (" …" if len(merged.sources) > 3 else "")
    return f"synthsight review: {names}"


def _atomic_write(path: Path, text: str) -> None:
    try:
        write_atomic(path, text)
    except OSError as exc:
        raise SynthsightError(f"cannot write {path}: {exc.strerror or exc}") from None


# ---- the HTML -----------------------------------------------------------------------------------


# One inline script (its hash is in the CSP), in this order: each part uses the ones before it.
SCRIPTS = ("cells.js", "summary.js", "page.js")


def _asset(name: str) -> str:
    return (resources.files("synthsight.review") / "static" / name).read_text(encoding="utf-8")


def json_for_html(value: object) -> str:
    """JSON safe inside a <script type="application/json"> element: no ``<``, ``>``, ``&`` or line separators."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def content_security_policy(script: str, style: str) -> str:
    """Nothing remote, ever: only the inline script and style by hash, and files from the page's own place.

    ``file:`` beside ``'self'``: Firefox gives each file:// document an origin of its own, where
    ``'self'`` would not match the page's folder. Neither source reaches the network.
    """
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src {_csp_hash(script)} 'self' file:",
            f"style-src {_csp_hash(style)}",
            "img-src 'self' file:",
            "connect-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
            "object-src 'none'",
            "frame-src 'none'",
        ]
    )


def render(summary: dict, title: str) -> str:
    """The page's HTML: a template whose every inserted value is escaped for where it goes."""
    script = "\n".join(_asset(name) for name in SCRIPTS)
    style, template = _asset("page.css"), _asset("page.html")
    if "</script" in script.lower() or "</style" in style.lower():
        raise AssertionError("an asset would end its own element")
    title = inert(title, 200)
    values = {
        "csp": html_lib.escape(content_security_policy(script, style), quote=True),
        "title": html_lib.escape(title, quote=True),
        "style": style,
        "script": script,
        "summary": json_for_html(summary),
    }
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], template)
