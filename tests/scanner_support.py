"""Helpers for the scanner tests: a generated file tree whose expected outcome per file is known."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import time
from pathlib import Path

import numpy as np
from PIL import Image

from synthsight.runtime.base import Backend

FORMATS = [("PNG", ".png"), ("JPEG", ".jpg"), ("BMP", ".bmp"), ("GIF", ".gif"), ("WEBP", ".webp"), ("TIFF", ".tif")]
# Names a forensic scan meets in the wild (bytes: some are not UTF-8).
NASTY_NAMES = [
    b"comma, and space.png",
    b'double "quoted".png',
    b"new\nline.png",
    b"=HYPERLINK(1).png",
    b"+plus.png",
    b"-minus.png",
    b"@at.png",
    b"\tTab.png",
    b"latin1-\xe9t\xe9.png",
    b"\xff\xfe-not-utf8.png",
    "unicode-\u00e9\u4e2d.png".encode(),
]


class MeanBackend(Backend):
    """A deterministic numpy 'model' for pool and plumbing tests (logit = brightness)."""

    name = "numpy-test"

    def _infer(self, pixels: np.ndarray) -> np.ndarray:
        m = pixels.reshape(len(pixels), -1).mean(1, dtype=np.float64)
        return np.stack([(m - 127.0) / 10.0, np.zeros_like(m)], 1).astype(np.float32)


REPO = Path(__file__).resolve().parents[1]


def child_env() -> dict[str, str]:
    """The environment of a `python -m synthsight` child in the tests, as this process has it now: output
    unbuffered (a test reads it as it comes) and Ray's usage statistics off (nothing leaves the machine). Now, not
    at import: a Ray started in this process sets RAY_AUTH_MODE=token, and a child joining that Ray needs it too."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", "RAY_USAGE_STATS_ENABLED": "0"}


RAY_ENV = child_env()  # for children that start a Ray of their own


def image_bytes(fmt: str, w: int, h: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    im = Image.fromarray(arr)
    if fmt == "GIF":
        im = im.convert("P")
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()


def tiled_tree(root: Path) -> Path:
    """Files for a tiles model of 64 px: a large JPEG, PNGs that fill a grid or not, one smaller than a tile,
    a WebP, a truncated JPEG and a text file (with ``all_files``)."""
    root.mkdir(parents=True, exist_ok=True)
    for name, fmt, w, h in [("big.jpg", "JPEG", 700, 500), ("a.png", "PNG", 256, 256), ("b.png", "PNG", 200, 130),
                            ("small.png", "PNG", 40, 30), ("c.webp", "WEBP", 150, 150)]:  # fmt: skip
        (root / name).write_bytes(image_bytes(fmt, w, h, len(name)))
    (root / "broken.jpg").write_bytes(image_bytes("JPEG", 300, 200, 9)[:900])
    (root / "notes.txt").write_text("not an image\n")
    return root


def random_pngs(folder: Path, n: int, size: tuple[int, int] = (96, 80), seed: int = 0) -> Path:
    """``n`` noise PNGs of ``size`` (w, h) named 00.png, 01.png, ... in a new ``folder``."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    return folder


def make_tree(root: Path, n_images: int = 900) -> dict[str, str]:
    """Build a tree under ``root``; returns {path: expected} with expected in ok|error|skipped|ignored."""
    expected: dict[str, str] = {}
    root.mkdir(parents=True, exist_ok=True)

    def put(rel: bytes | str, data: bytes, outcome: str) -> None:
        raw = os.fsencode(root) + b"/" + (rel if isinstance(rel, bytes) else rel.encode())
        os.makedirs(os.path.dirname(raw), exist_ok=True)
        with open(raw, "wb") as fh:
            fh.write(data)
        expected[os.fsdecode(raw)] = outcome

    for i in range(n_images):
        fmt, ext = FORMATS[i % len(FORMATS)]
        folder = f"d{i % 7}/sub{i % 3}" if i % 2 else f"d{i % 7}"
        put(f"{folder}/img{i:04d}{ext}", image_bytes(fmt, 8 + (i * 7) % 90, 8 + (i * 13) % 70, i), "ok")
    jpeg = image_bytes("JPEG", 64, 64, 1)
    png = image_bytes("PNG", 20, 20, 2)
    for i in range(20):
        put(f"broken/trunc{i:02d}.jpg", jpeg[: 200 + i], "error")
        put(f"broken/zero{i:02d}.png", b"", "error")
        put(f"broken/text{i:02d}.jpg", b"not an image at all\n" * (i + 1), "error")
        put(f"misc/notes{i:02d}.txt", b"hello", "ignored")
        put(f"misc/data{i:02d}.json", b"{}", "ignored")
    put("misc/png-named.dat", png, "ok")
    put("misc/jpeg-named.jpg.bak", jpeg, "ok")
    for name in NASTY_NAMES:
        put(b"nasty/" + name, png, "ok")
    loop = root / "d0" / "loop-to-root"
    os.symlink("../", loop)
    expected[str(loop)] = "skipped"
    return expected


def records_by_path(records) -> dict[str, object]:
    out = {}
    for r in records:
        assert r.path not in out, f"two records for {r.path!r}"
        out[r.path] = r
    return out


def calibrated_copy(onnx: Path, out: Path, scores: list[float], weights: str = "ab" * 32) -> Path:
    """A copy of an exported model with a hand-made calibration (T = 1) whose two thresholds cut ``scores``
    (the model's scores on the test images) in thirds: the scan plumbing sees all three verdicts."""
    import shutil

    from synthsight.artifacts import onnx_spec
    from synthsight.export.onnx import embed_spec
    from synthsight.verdicts.rule import Calibration, Rule

    ordered = sorted(scores)
    t_real, t_ai = ordered[len(ordered) // 3], ordered[2 * len(ordered) // 3]
    rule = Rule(400, 400, t_ai, t_real, 0.009, 0.048)
    calibration = Calibration(1.0, 0.01, 0.05, 0.95, {"pooled": rule}, data={"folder": "/calib", "files": 800},
                              weights_sha256=weights, created="2026-12-02T00:00:00+00:00")  # fmt: skip
    target = Path(shutil.copy(onnx, out))
    spec = onnx_spec(target)
    spec.calibration, spec.weights_sha256 = calibration.to_dict(), weights
    embed_spec(target, spec)
    return target


def slow_tree(root: Path, images: int, sparse_every: int, sparse_mib: int) -> Path:
    """``images`` small PNGs and, after every ``sparse_every``-th, a sparse file of ``sparse_mib`` MiB named .jpg:
    reading (or hashing) one holds its decode task for a while, so a cluster test can act mid-scan."""
    root.mkdir()
    for i in range(images):
        (root / f"i{i:03d}.png").write_bytes(image_bytes("PNG", 20 + i % 9, 24, i))
        if i % sparse_every == sparse_every - 1:
            with open(root / f"i{i:03d}-sparse.jpg", "wb") as fh:
                fh.truncate(sparse_mib << 20)
    return root


def wait_for_parts(folder: Path, n: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Until the whole parts of a ``--ray`` scan in ``folder`` hold ``n`` records (8 bytes of listing number
    each) while ``proc`` runs; fails if it ends first or the time is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError):
            if sum(p.stat().st_size for p in folder.glob("*.seq")) >= 8 * n:
                return
        time.sleep(0.02)
    err = proc.stderr.read() if proc.stderr and proc.poll() is not None else ""
    raise AssertionError(f"{folder} never held {n} records (exit {proc.poll()}): {err}")
