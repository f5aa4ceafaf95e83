"""The package's shape: imports flow one way, and the CLI starts without heavy libraries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "onnxruntime", "tensorrt", "timm", "onnx", "pytorch_grad_cam", "matplotlib", "sklearn")


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]


def test_help_loads_no_heavy_library():
    code = (
        "import sys; from synthsight.cli import cli\n"
        "try:\n    cli.main(['--help'], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last == "HEAVY:", f"--help imported {last.removeprefix('HEAVY:')}"
    for name in ("synth", "train", "eval", "export", "info", "scan", "explain", "report", "bench"):
        assert f"  {name} " in result.stdout, f"command {name} missing from --help"
    assert "unavailable" not in result.stdout


def test_import_synthsight_is_light():
    code = (
        "import sys, synthsight, synthsight.spec, synthsight.image.preprocess\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_the_documented_python_api_keeps_its_paths():
    """docs/design.md "Python API": synthsight.preprocess stays a thin re-export of synthsight.image.preprocess."""
    from synthsight.image import preprocess
    from synthsight.preprocess import PreprocessSpec, load_image
    from synthsight.runtime import open_backend
    from synthsight.scanner import scan

    assert load_image is preprocess.load_image and PreprocessSpec is preprocess.PreprocessSpec
    assert open_backend.__module__ == "synthsight.runtime" and scan.__module__ == "synthsight.scanner.pipeline"


def test_the_contract_and_what_help_reads_load_no_numpy_or_pil():
    """spec.py is stdlib only (`python -X importtime -c 'import synthsight.spec'`), and so is every module the CLI
    reads its choices and defaults from."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", "import synthsight.spec"],
                            capture_output=True, text=True, cwd=REPO)  # fmt: skip
    loaded = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines() if "|" in line}
    assert result.returncode == 0 and "synthsight" in loaded, result.stderr[-2000:]
    assert not {"numpy", "PIL"} & loaded, sorted(loaded)
    code = (
        "import sys, synthsight.artifacts, synthsight.machine, synthsight.runtime.registry, synthsight.cli.options\n"
        "print([m for m in ('numpy', 'PIL') if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_scan_flags_take_their_defaults_from_scan_options():
    """One place for scan defaults: every `scan` flag that is a ScanOptions field defaults to its value there."""
    import click

    from synthsight.cli.scan import scan
    from synthsight.scanner.options import DEFAULTS

    ctx = click.Context(scan)
    checked = [p for p in scan.params if hasattr(DEFAULTS, p.name) and not getattr(p, "multiple", False)]
    assert {"batch_size", "max_pixels", "decode_timeout", "gradcam_for", "recursive", "hash_files"} <= {
        p.name for p in checked
    }
    for param in checked:
        assert param.get_default(ctx) == getattr(DEFAULTS, param.name), param.name
