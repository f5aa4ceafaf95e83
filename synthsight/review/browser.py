"""Headless Chromium for the review page: a screenshot for `make demo`, the DOM for the tests.

Chromium is optional: :func:`find_chromium` returns None where it is absent and callers say so.
Every run uses a fresh profile and turns off what would reach the network (component updates,
sync, background requests), so opening a page contacts nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from synthsight.errors import SynthsightError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """``$SYNTHSIGHT_CHROMIUM``, else the first Chromium or Chrome on PATH (Debian: /usr/bin/chromium)."""
    named = os.environ.get("SYNTHSIGHT_CHROMIUM")
    if named:
        return named if shutil.which(named) else None
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


def headless_args(profile: str | Path, width: int = 1400, height: int = 1000) -> list[str]:
    return [
        "--headless",
        "--no-sandbox",  # containers and root (CI) have no user namespaces for the sandbox; our own page only
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--no-first-run",
        "--no-default-browser-check",
        "--hide-scrollbars",
        "--mute-audio",
        f"--window-size={width},{height}",
        f"--user-data-dir={profile}",
    ]


def run_chromium(
    url: str, extra: list[str], budget_ms: int = 5000, timeout: float = 90.0, width: int = 1400, height: int = 1000
) -> subprocess.CompletedProcess:
    """Open ``url`` headless for ``budget_ms`` of virtual time (data files and images load within it)."""
    exe = find_chromium()
    if exe is None:
        raise SynthsightError("chromium is not installed (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="synthsight-chromium-", ignore_cleanup_errors=True) as profile:
        args = [exe, *headless_args(profile, width, height), f"--virtual-time-budget={budget_ms}", *extra, url]
        try:
            return subprocess.run(args, capture_output=True, text=True, timeout=timeout, errors="replace")
        except subprocess.TimeoutExpired:
            raise SynthsightError(f"chromium did not finish within {timeout:.0f} s") from None


def screenshot(html: str | Path, png: str | Path, width: int = 1400, height: int = 1400) -> Path:
    """A PNG of the page as a browser shows it on opening (the top ``height`` pixels)."""
    png = Path(png).resolve()
    done = run_chromium(Path(html).resolve().as_uri(), [f"--screenshot={png}"], width=width, height=height)
    if not png.is_file():
        raise SynthsightError(f"chromium wrote no screenshot (exit {done.returncode}): {done.stderr.strip()[-300:]}")
    return png


def dump_dom(url: str, budget_ms: int = 5000, console: bool = False) -> tuple[str, str]:
    """(the page's DOM after its scripts ran, chromium's log: with ``console``, the page's console lines)."""
    extra = ["--dump-dom"] + (["--enable-logging=stderr", "--v=0"] if console else [])
    done = run_chromium(url, extra, budget_ms)
    if done.returncode != 0 or not done.stdout.strip():
        raise SynthsightError(f"chromium failed (exit {done.returncode}): {done.stderr.strip()[-300:]}")
    return done.stdout, done.stderr
