"""Helpers for the review-page tests: a report with known records (some hostile), and a DOM reader."""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthsight.reports.writers import JsonWriter, Record
from synthsight.review.browser import find_chromium

PWNED = "pwned"
# Each would set document.title to PWNED if it ever ran as markup or script.
PAYLOAD_NAME = "<img src=x onerror=\"document.title='pwned'\">.png"
PAYLOAD_SCRIPT = "<script>document.title='pwned'</script>"
PAYLOAD_ATTR = '" onerror="document.title=\'pwned\'" x="'
PAYLOAD_LINK = "javascript:document.title='pwned'"
RTL_NAME = "photo-\u202egnp.exe"  # shows as photo-exe.png in a naive viewer


def png_bytes(w: int, h: int, seed: int, fmt: str = "PNG") -> bytes:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt)
    return buf.getvalue()


@dataclass
class Corpus:
    report: Path
    root: Path
    records: list[Record] = field(default_factory=list)

    def count(self, verdict: str) -> int:
        return sum(r.verdict == verdict for r in self.records)


def _record(path: Path, data: bytes, score: float, threshold: float, **extra) -> Record:
    path.write_bytes(data)
    verdict = "ai" if score >= threshold else "real"
    return Record(
        path=os.fsdecode(path), verdict=verdict, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data),
        format="PNG", width=40, height=30, score=score, **extra,
    )  # fmt: skip


def make_corpus(root: Path, n: int = 60, threshold: float = 0.5) -> Corpus:
    """``n`` images in folder-a/ and folder-b/ with spread scores, plus hostile and broken records."""
    images = root / "images"
    for sub in ("folder-a", "folder-b", "gradcam"):
        (images / sub).mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(n):
        sub = "folder-a" if i % 3 else "folder-b"
        score = round((i * 37 % n) / n, 4)
        records.append(_record(images / sub / f"img{i:03d}.png", png_bytes(40, 30, i), score, threshold))
    overlay = images / "gradcam" / "overlay.png"
    overlay.write_bytes(png_bytes(64, 64, 999))
    max(records, key=lambda r: r.score).gradcam = str(overlay)
    records.append(
        _record(
            images / PAYLOAD_NAME, png_bytes(40, 30, 1001), 0.999, threshold,
            provenance="ai-declared", evidence=PAYLOAD_SCRIPT, notes=PAYLOAD_ATTR, gradcam=PAYLOAD_LINK,
            provenance_detail={"claim_generator": PAYLOAD_SCRIPT, "prompt": PAYLOAD_NAME},
        )
    )  # fmt: skip
    records.append(_record(images / RTL_NAME, png_bytes(40, 30, 1002), 0.01, threshold, provenance="camera-signed"))
    records.append(_record(Path(os.fsdecode(os.fsencode(images) + b"/caf\xe9.png")), png_bytes(40, 30, 1003), 0.2, 0.5))
    records.append(Record(path=str(images / "broken.png"), verdict="error", error="truncated: " + PAYLOAD_SCRIPT))
    records.append(Record(path=str(images / "notes.txt"), verdict="skipped"))
    report = root / "verdicts.json"
    writer = JsonWriter(report)
    writer.write(records)
    writer.close(
        {
            "tool": "synthsight", "status": "complete", "threshold": threshold, "threshold_source": "model",
            "model": {"path": "/models/model.onnx", "sha256": "ab" * 32, "arch": "convnext_atto"},
            "backend": "onnxruntime", "device": "cpu", "precision": "fp32", "started": "2026-12-01T10:00:00+00:00",
            "command_line": "synthsight scan " + PAYLOAD_NAME,
        }
    )  # fmt: skip
    return Corpus(report, images, records)


def read_payload(path: Path):
    """The data inside one of the page's data files (``synthsightData(kind, k, JSON.parse('...'))``)."""
    import json
    import re

    text = path.read_text(encoding="ascii")
    inner = text[text.index("JSON.parse('") + len("JSON.parse('") : text.rindex("'));")]
    return json.loads(re.sub(r"\\(.)", r"\1", inner))  # the JS string's own escapes: \\ and \'


def need_chromium() -> str:
    exe = find_chromium()
    if exe is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)")
    return exe


# ---- reading a dumped DOM -----------------------------------------------------------------------


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list = field(default_factory=list)
    parent: Node | None = None

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    def iter(self, tag: str | None = None):
        for c in self.children:
            if isinstance(c, Node):
                if tag is None or c.tag == tag:
                    yield c
                yield from c.iter(tag)

    def find_id(self, ident: str) -> Node:
        return next(n for n in self.iter() if n.attrs.get("id") == ident)


VOID = {"meta", "link", "img", "input", "br", "hr", "source", "col", "area", "base", "wbr"}


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.cur = self.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: v or "" for k, v in attrs}, parent=self.cur)
        self.cur.children.append(node)
        if tag not in VOID:
            self.cur = node

    def handle_endtag(self, tag):
        node = self.cur
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.cur = node.parent

    def handle_data(self, data):
        self.cur.children.append(data)


def parse(html: str) -> Node:
    builder = _Builder()
    builder.feed(html)
    return builder.root


def table_rows(dom: Node) -> list[Node]:
    return list(dom.find_id("rows").iter("tr"))


def records_on_first_screen(html: Path) -> tuple[int, int]:
    """(records shown whole, the window's height) when ``html`` opens in the 1400x1000 browser window
    (review/browser.py), measured in a copy of the page with one measuring script added (the copy drops the
    policy that would block it)."""
    import re

    from synthsight.review.browser import dump_dom

    probe = html.with_name(f"first-screen-{html.stem}.html")
    text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html.read_text(encoding="utf-8"))
    measure = (
        "<script>var t = setInterval(function () { var rows = document.querySelectorAll('#rows tr');"
        " if (document.getElementById('status').dataset.state !== 'ready' || !rows.length) return;"
        " clearInterval(t); var seen = 0; rows.forEach(function (r) {"
        " if (r.getBoundingClientRect().bottom <= window.innerHeight) seen += 1; });"
        " document.body.setAttribute('data-rows-seen', seen + ' of ' + window.innerHeight); }, 50);</script>"
    )
    probe.write_text(text.replace("</body>", measure + "</body>"), encoding="utf-8")
    seen = re.search(r'data-rows-seen="(\d+) of (\d+)"', dump_dom(probe.as_uri())[0])
    assert seen, "the measuring script did not run"
    return int(seen.group(1)), int(seen.group(2))
