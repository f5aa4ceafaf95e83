"""benchmarks/run_all.py (what `make bench` runs) and the GPU benchmark without a GPU, in tiny modes."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"


@pytest.fixture()
def run_all(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    return importlib.import_module("run_all")


def test_regenerating_keeps_prose_and_replaces_old_figures(run_all, tmp_path):
    results = tmp_path / "RESULTS.md"
    run_all.update_section(
        results, "scan", "| a | b |\n|---|---|\n| old | 1 |", "python benchmarks/bench_scan.py", "m1"
    )
    text = results.read_text()
    assert "## End-to-end scan" in text and "| old | 1 |" in text
    assert "Command: `python benchmarks/bench_scan.py`" in text and "m1" in text and "UTC" in text
    prose = "The lead's reading of these figures: decode-bound on 12 MP photos."
    results.write_text(text.replace("## End-to-end scan", prose + "\n\n## End-to-end scan"))

    run_all.update_section(
        results, "scan", "| a | b |\n|---|---|\n| new | 2 |", "python benchmarks/bench_scan.py", "m2"
    )
    text = results.read_text()
    assert prose in text
    assert "| new | 2 |" in text and "| old | 1 |" not in text
    assert text.count("<!-- bench:scan:begin -->") == 1 and "m1" not in text


def test_missing_failing_and_slow_scripts_get_a_section_that_says_so(run_all, tmp_path, monkeypatch):
    (tmp_path / "bench_ok.py").write_text("print('| x |\\n|---|\\n| 1 |')\n")
    (tmp_path / "bench_fail.py").write_text("import sys\nprint('partial')\nsys.exit(3)\n")
    (tmp_path / "bench_slow.py").write_text("import time\ntime.sleep(30)\n")
    monkeypatch.setattr(run_all, "BENCH_DIR", tmp_path)
    monkeypatch.setattr(
        run_all,
        "SUITE",
        {
            "ok": ("bench_ok.py", "OK", 20, []),
            "fail": ("bench_fail.py", "Fail", 20, []),
            "slow": ("bench_slow.py", "Slow", 1, []),
            "absent": ("bench_absent.py", "Absent", 20, []),
        },
    )
    out = {name: run_all.run_one(name, quick=True, limit=run_all.SUITE[name][2]) for name in run_all.SUITE}
    assert out["ok"][0].startswith("| x |") and out["ok"][1] == "python benchmarks/bench_ok.py --quick"
    assert "exit code 3" in out["fail"][0] and "partial" in out["fail"][0]
    assert "Timed out after 1 s" in out["slow"][0]
    assert "does not exist" in out["absent"][0]


def test_make_bench_quick_rewrites_results_with_figures_command_date_machine(tmp_path):
    results = tmp_path / "RESULTS.md"
    cmd = [sys.executable, str(BENCH / "run_all.py"), "--quick", "--only", "decode", "--results", str(results)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    text = results.read_text()
    section = text.split("<!-- bench:decode:begin -->")[1].split("<!-- bench:decode:end -->")[0]
    assert "Command: `python benchmarks/bench_decode.py --quick`" in section
    assert "cores" in section and "UTC" in section  # the machine and the date
    assert "| exact (full decode) |" in section and "verdict agreement" in section
    assert "<!-- bench:summary:begin -->" in text and "run_all.py --quick --only decode" in text


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="a GPU machine runs the real GPU benchmark")
def test_gpu_benchmark_without_cuda_fails_with_one_line():
    done = subprocess.run([sys.executable, str(BENCH / "bench_gpu.py")], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 2, done.stderr  # nothing measured is never a pass
    assert (
        done.stdout.strip()
        == "not run: no CUDA device visible: nvidia-smi not found on PATH (no NVIDIA driver installed)"
    )
