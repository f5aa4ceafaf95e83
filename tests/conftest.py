"""Shared fixtures: a tiny random-init model bundle and the shared corpora (skipped when absent).

Every part tests against the same small model (convnext_atto at 64 px): the same code
paths as convnext_tiny at 224 px, fast enough for a 2-core CPU.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")
# OpenMP threads that sleep at a barrier instead of spinning: on a 2-core machine shared with other
# processes, spinning threads made a training step 5-10x slower (the trained_bundle fixture went from
# 83 s to over 600 s under a load of 8); on an idle machine the two are alike.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# The suite starts from this machine's own CPU flags; a test simulates another CPU kind through the
# simulated_cpu fixture (the feature reader's SYNTHSIGHT_CPUINFO), never by what the shell left set.
os.environ.pop("SYNTHSIGHT_CPUINFO", None)
os.environ.pop("SYNTHSIGHT_CPU_DISABLE", None)
# Caches (--precision auto measurements, ORT TensorRT engines) go to a folder of this test session,
# never the user's ~/.cache: a test must not find a measurement an earlier run left behind.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="synthsight-tests-cache-")

REPO = Path(__file__).resolve().parents[1]
# The shared corpora live beside the checkout; SYNTHSIGHT_CORPORA points elsewhere (e.g. from a git worktree).
CORPORA = Path(os.environ.get("SYNTHSIGHT_CORPORA") or REPO.parent / "shared" / "corpora")
TINY_ARCH = "convnext_atto"
TINY_SIZE = 64


def _corpus(name: str) -> Path:
    path = CORPORA / name
    if not path.is_dir():
        pytest.skip(f"shared corpus {path} is absent (it lives beside the checkout, not in the repository)")
    return path


@pytest.fixture
def simulated_cpu(request, tmp_path_factory, monkeypatch):
    """The CPU kind ``request.param`` (a key of cpu_kinds.KINDS) simulated through the feature reader, for
    this process and its subprocesses; returns its CpuFeatures. Use with ``indirect=True``."""
    from cpu_kinds import cpuinfo_file

    from synthsight.runtime.cpu.features import CPUINFO_ENV, DISABLE_ENV, here

    monkeypatch.setenv(CPUINFO_ENV, str(cpuinfo_file(tmp_path_factory.mktemp("cpu"), request.param)))
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    return here()


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray of 2 CPUs and a declared GPU for one test module's in-process scans (a scan uses a Ray already
    initialised as it is)."""
    ray = pytest.importorskip("ray", reason="Ray is the optional extra synthsight[cluster] (make test installs it)")
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(address="local", num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False,
             object_store_memory=256 << 20)  # fmt: skip
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def badinputs_dir() -> Path:
    return _corpus("badinputs")


@pytest.fixture(scope="session")
def realworld_dir() -> Path:
    return _corpus("realworld")


@pytest.fixture(scope="session")
def tiny_spec():
    from synthsight.image.preprocess import PreprocessSpec
    from synthsight.spec import ModelSpec

    return ModelSpec(arch=TINY_ARCH, preprocess=PreprocessSpec(size=TINY_SIZE))


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory, tiny_spec) -> Path:
    """A random-init convnext_atto bundle (seeded): for plumbing, not for accuracy claims."""
    import torch

    from synthsight.model import build, save_bundle

    torch.manual_seed(0)
    model = build(tiny_spec, "random").eval()
    return save_bundle(model, tiny_spec, tmp_path_factory.mktemp("bundle") / "tiny")


@pytest.fixture(scope="session")
def tiny_onnx(tiny_bundle, tmp_path_factory) -> dict[str, Path]:
    """tiny_bundle exported once per session: {"onnx": FP32 model.onnx, "fp16": mixed-FP16 model.fp16.onnx}."""
    from synthsight.export.fp16 import convert_fp16
    from synthsight.export.onnx import export_onnx
    from synthsight.model import load_bundle

    model, spec = load_bundle(tiny_bundle)
    out = tmp_path_factory.mktemp("tiny_onnx")
    fp32 = export_onnx(model, spec, out / "model.onnx")
    return {"onnx": fp32, "fp16": convert_fp16(fp32, out / "model.fp16.onnx")}


@pytest.fixture(scope="session")
def tiles_model(tmp_path_factory) -> dict[str, Path]:
    """A random-init convnext_atto bundle with ``resize: tiles`` (64 px, up to 4 tiles, aggregate max) and its
    FP32 ONNX export: {"bundle": folder, "onnx": model.onnx beside the bundle}. For plumbing, not accuracy."""
    import torch

    from synthsight.export.onnx import export_onnx
    from synthsight.image.preprocess import PreprocessSpec
    from synthsight.model import build, save_bundle
    from synthsight.spec import ModelSpec

    preprocess = PreprocessSpec(size=TINY_SIZE, resize="tiles", tiles=4, tile_aggregate="max")
    spec = ModelSpec(arch=TINY_ARCH, preprocess=preprocess)
    torch.manual_seed(1)
    model = build(spec, "random").eval()
    bundle = save_bundle(model, spec, tmp_path_factory.mktemp("tiles") / "bundle")
    return {"bundle": bundle, "onnx": export_onnx(model, spec, bundle / "model.onnx")}


@pytest.fixture(scope="session")
def trained_bundle(tmp_path_factory) -> Path:
    """convnext_atto (64 px) trained from random init on a small synthetic set to >= 90 % val accuracy.

    Trained on the CPU on every machine (a GPU would train with AMP + channels_last: another model, which
    might miss the 90 %), so the GPU parity tests compare the GPU paths on the model CI knows.

    For tests that need trained weights (FP16 parity, scanner verdicts). The training data lies
    beside the bundle: ``trained_bundle.parent / "data"`` (synthsight.train.synthetic layout, seed 0).
    """
    from synthsight.model import read_spec
    from synthsight.train.loop import TrainConfig, fit
    from synthsight.train.synthetic import make_synthetic

    root = tmp_path_factory.mktemp("trained")
    data = make_synthetic(root / "data", n=320, size=TINY_SIZE, seed=0)
    config = TrainConfig(
        data=str(data),
        out=str(root / "bundle"),
        arch=TINY_ARCH,
        size=TINY_SIZE,
        init="random",
        epochs=8,
        batch_size=32,
        lr=5e-4,
        patience=2,
        seed=0,
        device="cpu",
        workers=0,
        progress=False,
        augment="none",  # the model the suite's tests were written against (the default became web later)
    )
    bundle = fit(config)
    accuracy = read_spec(bundle).metrics["accuracy"]
    if accuracy < 0.9:
        pytest.fail(f"trained_bundle reached only {accuracy:.3f} validation accuracy (needs >= 0.9)")
    return bundle


@pytest.fixture(scope="session")
def reduced_export(trained_bundle, tmp_path_factory) -> dict[str, Path]:
    """trained_bundle exported with ``--format int8`` (32 calibration images): model.onnx + model.int8.onnx,
    each with its certificates (measured where this CPU runs the option natively)."""
    from synthsight.export.pipeline import ExportConfig, export_model

    out = tmp_path_factory.mktemp("reduced")
    config = ExportConfig(model=trained_bundle, format="int8", out=out, calibration_count=32)
    result = export_model(config, echo=lambda message: None)
    return {"onnx": result.files["onnx"], "int8": result.files["int8"], "dir": out}


# ---- make gpu-check: a GPU test of a wanted row fails instead of skipping ---------------------------------


def _gpu_rows(item) -> tuple[str, ...]:
    """The rows a ``@pytest.mark.gpu("engine", ...)`` test belongs to (all rows when none is named)."""
    from synthsight.gpucheck import ROWS

    marker = item.get_closest_marker("gpu")
    return tuple(marker.args) if marker and marker.args else tuple(ROWS)


def pytest_collection_modifyitems(config, items):
    from synthsight.gpucheck import strict, wanted_rows

    if not strict():
        return
    wanted = set(wanted_rows())
    for item in items:
        rows = _gpu_rows(item) if item.get_closest_marker("gpu") else ()
        if rows and not wanted & set(rows):
            item.add_marker(pytest.mark.skip(reason=f"row(s) {', '.join(rows)} left out by GPU_ROWS"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or item.get_closest_marker("gpu") is None:
        return
    from synthsight.gpucheck import strict, wanted_rows

    if strict() and set(wanted_rows()) & set(_gpu_rows(item)):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        report.outcome = "failed"
        report.longrepr = f"GPU test skipped under make gpu-check, which counts as a failure: {reason}"
