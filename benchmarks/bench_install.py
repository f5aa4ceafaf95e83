"""What the scan-only install saves: install time and venv size on disk, base vs full (issue 26).

    python benchmarks/bench_install.py [--full] [--work DIR]

Builds the wheel of this checkout, then into fresh venvs from a cold pip cache (a new cache folder, from the
registry pip is configured with): the base (`pip install synthsight-*.whl`) and, with ``--full``, what
`make install` installs (the pinned torch pair, then the wheel with ``[all,dev]``). Prints the wall time of
each pip step, each venv's size (`du`, with its own pip and setuptools) and the base's wheelhouse (`pip
download` of the wheel's dependencies). Not part of `make bench`: the full venv is about 7 GB and 10 minutes.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, emit, log, machine_line, parser  # noqa: E402

CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}


def _torch_pins() -> list[str]:
    """The torch pair `make install` pins (the Makefile's TORCH_PINS: one home)."""
    line = re.search(r"^TORCH_PINS := (.+)$", (REPO / "Makefile").read_text(encoding="utf-8"), re.MULTILINE)
    assert line, "Makefile: TORCH_PINS"
    return line.group(1).split()


def _timed(cmd: list[str]) -> float:
    log("$ " + " ".join(cmd))
    start = time.monotonic()
    subprocess.run(cmd, check=True, env=CLEAN_ENV, stdout=subprocess.DEVNULL)
    return time.monotonic() - start


def _size(path: Path) -> int:
    return int(subprocess.run(["du", "-sb", str(path)], check=True, capture_output=True, text=True).stdout.split()[0])


def _wheel(work: Path) -> Path:
    src = work / "src"
    shutil.copytree(REPO / "synthsight", src / "synthsight", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []  # as the test builds
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q", "-w", str(work / "dist"),
                    str(src)], check=True)  # fmt: skip
    return next((work / "dist").glob("synthsight-*.whl"))


def _venv(work: Path, name: str, installs: list[list[str]]) -> dict:
    env = work / name
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True, env=CLEAN_ENV)
    empty = _size(env)
    pip = [str(env / "bin" / "python"), "-m", "pip", "install", "-q", "--cache-dir", str(work / f"cache-{name}")]
    seconds = sum(_timed([*pip, *args]) for args in installs)
    return {"seconds": seconds, "bytes": _size(env), "empty_bytes": empty}


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f} / {five:.1f}"


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--full", action="store_true", help="also the full install (about 7 GB, 10 minutes)")
    p.add_argument("--work", type=Path, default=None, help="scratch folder [a temporary one, removed]")
    args = p.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-install-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        loads = [_load()]
        wheel = _wheel(work)
        base = _venv(work, "base", [[str(wheel)]])
        loads.append(_load())
        house = work / "wheelhouse"
        _timed([str(work / "base" / "bin" / "python"), "-m", "pip", "download", "-q", "-d", str(house),
                "--cache-dir", str(work / "cache-base"), str(wheel)])  # fmt: skip
        rows = [("base: `pip install synthsight`", base)]
        if args.full:
            full = _venv(work, "full", [_torch_pins(), [f"synthsight[all,dev] @ {wheel.as_uri()}"]])
            loads.append(_load())
            rows.append(("full: what `make install` installs (torch pair, then `[all,dev]`)", full))
        lines = [f"Machine: {machine_line()}; load average (1 / 5 min) {' -> '.join(loads)} during the run.", "",
                 "| install | pip wall time | venv on disk |", "|---|---:|---:|"]  # fmt: skip
        for label, r in rows:
            lines.append(f"| {label} | {r['seconds']:.0f} s | {r['bytes'] / 1e6:.0f} MB |")
        lines.append(f"\nThe base's wheelhouse (the wheel and every dependency, `pip download`): "
                     f"{_size(house) / 1e6:.0f} MB.")  # fmt: skip
        if args.full:
            lines.append(f"Base / full: {base['bytes'] / full['bytes']:.1%} of the disk, "
                         f"{base['seconds'] / full['seconds']:.1%} of the install time.")  # fmt: skip
        emit("\n".join(lines), {"base": base, **({"full": full} if args.full else {})}, args.json)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
