"""`synthsight synth`, `train` and `eval` end to end, and their one-line failures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from synthsight.cli import cli
from synthsight.model import read_spec

REPO = Path(__file__).resolve().parents[1]


def _invoke(*args: str):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def held_out(tmp_path_factory) -> Path:
    """A synthetic set the trained model never saw (another seed), made through the CLI."""
    out = tmp_path_factory.mktemp("held") / "held"
    result = _invoke("synth", str(out), "--n", "200", "--size", "64", "--seed", "11")
    assert "wrote 200" in result.output
    return out / "train"  # 160 images in class folders: the unsplit layout, all of it evaluated


def test_eval_writes_metrics_plots_perturbations_and_threshold(trained_bundle, held_out, tmp_path):
    bundle = Path(shutil.copytree(trained_bundle, tmp_path / "bundle"))
    (held_out / "ai" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    report, plots = tmp_path / "eval.json", tmp_path / "plots"
    result = _invoke(
        "eval", str(bundle), str(held_out), "--json", str(report), "--plots", str(plots),
        "--target-fpr", "0.01", "--write-threshold", "--perturb", "jpeg=90,75,50", "--perturb", "resize=0.5",
    )  # fmt: skip
    metrics = json.loads(report.read_text())
    for key in ("accuracy", "precision", "recall", "f1", "roc_auc", "average_precision", "confusion_matrix"):
        assert key in metrics
    assert metrics["n"] == 160 and metrics["accuracy"] >= 0.9
    assert metrics["excluded_files"] == 1 and "broken.jpg" in (tmp_path / "excluded_files.csv").read_text()
    assert metrics["false_positive_rate"] <= 0.01  # on the data the threshold was chosen on
    cm = np.array(metrics["confusion_matrix"])
    assert cm[1, 0] <= 0.01 * cm[1].sum()  # real called AI
    assert list(metrics["perturbations"]) == ["jpeg=90", "jpeg=75", "jpeg=50", "resize=0.5"]
    # downscaling erases a period-2 trace: the robustness report has to show it
    assert metrics["perturbations"]["resize=0.5"]["roc_auc"] < metrics["roc_auc"] - 0.2
    for row in ("clean", "jpeg=90", "jpeg=75", "jpeg=50", "resize=0.5"):
        assert f"\n{row} " in result.output
    assert (plots / "confusion_matrix.png").stat().st_size > 1000 and (plots / "roc.png").stat().st_size > 1000
    spec = read_spec(bundle)
    assert spec.threshold == pytest.approx(metrics["threshold"]) and "target FPR 0.01" in spec.threshold_source
    assert read_spec(trained_bundle).threshold == 0.5  # the shared fixture is untouched


def test_train_command_end_to_end(tmp_path):
    data = tmp_path / "data"
    _invoke("synth", str(data), "--n", "24", "--size", "32", "--seed", "3")
    out = tmp_path / "model"
    result = _invoke(
        "train", str(data), "--out", str(out), "--arch", "convnext_atto", "--size", "32", "--init", "random",
        "--epochs", "1", "--batch-size", "8", "--workers", "0", "--quiet",
    )  # fmt: skip
    assert f"model bundle: {out}" in result.output
    spec = read_spec(out)
    assert spec.data["train"]["n"] == 20 and spec.data["val"]["n"] == 4 and "accuracy" in spec.metrics
    assert (out / "history.png").exists() and (out / "checkpoints" / "last_state.pt").exists()


def _run(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "synthsight", *args], capture_output=True, text=True, cwd=REPO,
        env={**os.environ, **env}, timeout=300,
    )  # fmt: skip


def test_imagenet_init_offline_is_one_line_exit_2(tmp_path):
    data = tmp_path / "data"
    _invoke("synth", str(data), "--n", "8", "--size", "32")
    result = _run(
        "train", str(data), "--out", str(tmp_path / "m"), "--arch", "convnext_atto", "--size", "32",
        "--init", "imagenet", HF_HUB_OFFLINE="1",
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "ImageNet weights" in lines[0] and "--init random" in lines[0]


def test_user_errors_are_one_line(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _run("eval", str(empty), str(empty))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_eval_takes_the_device_in_any_case(tiny_onnx, held_out, tmp_path):
    """`--device CPU` is the CPU: ONNX Runtime once compared the raw string and said its GPU providers failed."""
    out = tmp_path / "upper.json"
    _invoke("eval", str(tiny_onnx["onnx"]), str(held_out), "--json", str(out), "--device", "CPU")
    assert json.loads(out.read_text())["n"] == 160


def test_eval_accepts_an_onnx_model_with_the_same_verdicts(tiny_bundle, tiny_onnx, held_out, tmp_path):
    reports = {}
    for name, model in (("bundle", tiny_bundle), ("onnx", tiny_onnx["onnx"])):
        reports[name] = tmp_path / f"{name}.json"
        _invoke("eval", str(model), str(held_out), "--json", str(reports[name]), "--device", "cpu")
    a, b = (json.loads(reports[k].read_text()) for k in ("bundle", "onnx"))
    assert a["n"] == b["n"] == 160
    assert a["roc_auc"] == pytest.approx(b["roc_auc"], abs=0.01)
    assert a["confusion_matrix"] == b["confusion_matrix"]
    with pytest.raises(Exception, match="needs a model bundle"):
        CliRunner().invoke(
            cli, ["eval", str(tiny_onnx["onnx"]), str(held_out), "--target-fpr", "0.1", "--write-threshold"],
            catch_exceptions=False,
        )  # fmt: skip
