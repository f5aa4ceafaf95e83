"""benchmarks/bench_provenance.py: runs in its quick mode, and its on/off throughput helper is fair."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_quick_run_prints_one_row_per_file_with_its_class(tmp_path):
    cmd = [sys.executable, str(REPO / "benchmarks" / "bench_provenance.py"), "--quick", "--cache", str(tmp_path)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith(("| 0.3MP", "| 2MP", "| 512"))]
    assert len(rows) == 5
    assert "`ai-signed`" in rows[0] and "`none`" in rows[1] and "`camera-declared`" in rows[2]
    assert "`ai-declared`" in rows[3] and "`none`" in rows[4]
    scans = [line for line in done.stdout.splitlines() if line.startswith(("| mixed", "| 2 MP camera"))]
    assert len(scans) == 2 and all(" met |" in line or "NOT met" in line for line in scans), scans


def test_throughput_ratio_alternates_on_and_off(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    bench = importlib.import_module("bench_provenance")
    calls = []

    def scan(provenance: bool) -> float:
        calls.append(provenance)
        return 90.0 if provenance else 100.0

    assert bench.throughput_ratio(scan, repeats=3) == {"on": 90.0, "off": 100.0, "ratio": 0.9}
    assert calls == [True, False, False, True, True, False]
