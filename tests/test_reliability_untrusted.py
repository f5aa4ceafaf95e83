"""Untrusted files: checkpoints, ONNX files and engines from elsewhere, and hostile names near output folders.

- A pickle is never run: a .pth whose unpickling would create a file is refused, and the file never appears.
- An ONNX file without synthsight metadata, or whose metadata disagrees with its graph, is refused with one
  line (exit 2) by open_backend, `synthsight info` and `synthsight scan`, before any report is started.
- A TensorRT engine whose sidecar does not match this TensorRT / GPU is refused before the plan is
  deserialised (checked with a stand-in TensorRT: the real one is absent here).
- Grad-CAM overlays and report files are written only inside their folders, whatever the scanned names hold.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import hostile
import onnx
import pytest
import torch

from synthsight.errors import ModelFileError, SynthsightError
from synthsight.runtime import open_backend

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def synthsight(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "synthsight", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=120, cwd=cwd)


def one_line_exit_2(done: subprocess.CompletedProcess, *words: str) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert all(w in lines[0] for w in words), lines[0]


# -- pickles ---------------------------------------------------------------------------------------------------


class _Creates:
    """Unpickling this calls ``open(path, "w")``: the file would appear."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


class _Runs:
    """Unpickling this runs a shell command that creates the file."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch '{self.path}'",))


@pytest.fixture(params=["open", "os.system"])
def evil_pth(request, tmp_path) -> tuple[Path, Path]:
    sentinel = tmp_path / "pwned"
    payload = (_Creates if request.param == "open" else _Runs)(str(sentinel))
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"stem.0.weight": torch.zeros(1), "x": payload}}, path)
    return path, sentinel


def test_malicious_checkpoint_is_refused_by_build(evil_pth, tiny_spec):
    from synthsight.model import build

    path, sentinel = evil_pth
    with pytest.raises(ModelFileError, match="refused to load"):
        build(tiny_spec, path)
    assert not sentinel.exists()


def _pickle_bundle(pth: Path, tiny_bundle: Path, root: Path) -> Path:
    bundle = root / "bundle"
    bundle.mkdir()
    shutil.copy(tiny_bundle / "model.json", bundle / "model.json")
    shutil.copy(pth, bundle / "model.safetensors")
    return bundle


def test_pickle_posing_as_a_bundle_is_refused(evil_pth, tiny_bundle, tmp_path):
    """A bundle folder whose model.safetensors is really a pickle; and a .pth given as the model."""
    from synthsight.model import load_bundle

    path, sentinel = evil_pth
    bundle = _pickle_bundle(path, tiny_bundle, tmp_path)
    with pytest.raises(ModelFileError, match="safetensors"):
        load_bundle(bundle)
    with pytest.raises(SynthsightError):
        open_backend(str(bundle))
    with pytest.raises(ModelFileError, match="not a model file"):
        open_backend(str(path))  # the runtime never opens a .pth at all
    assert not sentinel.exists()


def test_pickle_bundle_through_the_cli(tiny_bundle, tmp_path):
    sentinel = tmp_path / "pwned"
    pth = tmp_path / "evil.pth"
    torch.save({"state_dict": {"x": _Runs(str(sentinel))}}, pth)
    bundle = _pickle_bundle(pth, tiny_bundle, tmp_path)
    image = tmp_path / "x.png"
    hostile.noise(16, 16).save(image)
    one_line_exit_2(synthsight("scan", image, "--model", bundle, "--out", tmp_path / "r.csv"), "safetensors")
    assert not sentinel.exists() and not (tmp_path / "r.csv").exists()


# -- ONNX metadata ----------------------------------------------------------------------------------------------


def _spec_json(model: onnx.ModelProto) -> dict:
    return json.loads(next(p.value for p in model.metadata_props if p.key == "synthsight.spec"))


def _set_spec(model: onnx.ModelProto, value: str | None) -> None:
    keep = [p for p in model.metadata_props if p.key != "synthsight.spec"]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    if value is not None:
        onnx.helper.set_model_props(model, {**{p.key: p.value for p in keep}, "synthsight.spec": value})


def _variant(model: onnx.ModelProto, kind: str) -> onnx.ModelProto:
    spec = _spec_json(model)
    if kind == "missing":
        _set_spec(model, None)
    elif kind == "garbage":
        _set_spec(model, "{not json")
    elif kind == "size":
        spec["preprocess"]["size"] = 2 * spec["preprocess"]["size"]
        _set_spec(model, json.dumps(spec))
    elif kind == "classes":
        spec["classes"] = ["ai", "real", "other"]
        _set_spec(model, json.dumps(spec))
    elif kind == "positive":
        spec["positive_class"] = "cat"
        _set_spec(model, json.dumps(spec))
    return model


ONNX_CASES = {
    "missing": ("no 'synthsight.spec' metadata",),
    "garbage": ("not valid JSON",),
    "size": ("does not match",),
    "classes": ("does not match",),
    "positive": ("cat",),
}


@pytest.mark.parametrize("kind", list(ONNX_CASES))
def test_onnx_metadata_missing_or_inconsistent_is_refused(tiny_onnx, tmp_path, kind):
    bad = tmp_path / f"{kind}.onnx"
    onnx.save(_variant(onnx.load(str(tiny_onnx["onnx"])), kind), str(bad))
    with pytest.raises(ModelFileError) as info:
        open_backend(str(bad), backend="onnxruntime", device="cpu")
    text = str(info.value)
    assert "\n" not in text and str(bad) in text, text
    assert any(w in text for w in ONNX_CASES[kind]), text


@pytest.mark.parametrize("kind", ["missing", "size"])
def test_onnx_refusal_through_the_cli(tiny_onnx, tmp_path, kind):
    bad = tmp_path / f"{kind}.onnx"
    onnx.save(_variant(onnx.load(str(tiny_onnx["onnx"])), kind), str(bad))
    image = tmp_path / "x.png"
    hostile.noise(16, 16).save(image)
    one_line_exit_2(synthsight("info", bad), *ONNX_CASES[kind][:1])
    one_line_exit_2(synthsight("scan", image, "--model", bad, "--out", tmp_path / "r.csv"), *ONNX_CASES[kind][:1])
    assert not (tmp_path / "r.csv").exists()


# -- TensorRT engine sidecar --------------------------------------------------------------------------------------

HERE = {"tensorrt_version": "10.12.0.36", "gpu_name": "NVIDIA H100 80GB HBM3", "compute_capability": (9, 0)}


@pytest.fixture
def fake_tensorrt(monkeypatch):
    """A stand-in for TensorRT + a CUDA GPU that records whether a plan was deserialised."""
    import synthsight.runtime.tensorrt as trt_backend

    seen: list[bytes] = []

    class Runtime:
        def __init__(self, logger):
            pass

        def deserialize_cuda_engine(self, plan: bytes):
            seen.append(plan)
            return None  # -> "could not deserialise": far enough to prove the sidecar was accepted

    trt = types.SimpleNamespace(__version__=HERE["tensorrt_version"], Logger=lambda level: None, Runtime=Runtime)
    trt.Logger.ERROR = 0
    props = types.SimpleNamespace(name=HERE["gpu_name"], major=9, minor=0)
    cuda = types.SimpleNamespace(get_device_properties=lambda i: props, device=lambda i: _NullContext())
    monkeypatch.setattr(
        trt_backend, "require_tensorrt", lambda device="auto": (trt, types.SimpleNamespace(cuda=cuda), 0)
    )
    return seen


class _NullContext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


ENGINE_CASES = {
    "good": None,
    "tensorrt": ("tensorrt_version", "10.8.0"),
    "capability": ("compute_capability", "8.6"),
    "gpu": ("gpu_name", "NVIDIA A100-SXM4-80GB"),
    "no-spec": ("spec", None),
    "no-sidecar": "delete",
    "garbage": "garbage",
}


@pytest.mark.parametrize("kind", list(ENGINE_CASES))
def test_engine_with_mismatched_sidecar_is_refused_before_deserialising(fake_tensorrt, tiny_spec, tmp_path, kind):
    from synthsight.runtime.engine_sidecar import make_sidecar, sidecar_path

    engine = tmp_path / "model.engine"
    engine.write_bytes(b"not really a plan")
    sidecar = make_sidecar(tiny_spec, **HERE, profile={"min": 1, "opt": 8, "max": 32})
    change = ENGINE_CASES[kind]
    if isinstance(change, tuple):
        sidecar[change[0]] = change[1]
    text = "{garbage" if change == "garbage" else json.dumps(sidecar)
    if change != "delete":
        sidecar_path(engine).write_text(text)
    with pytest.raises(ModelFileError) as info:
        open_backend(str(engine), backend="tensorrt", device="cuda")
    message = str(info.value)
    if kind == "good":
        assert "could not deserialise" in message and fake_tensorrt == [b"not really a plan"]
    else:
        assert fake_tensorrt == [], "the plan was deserialised despite a mismatched sidecar"
        assert "re-export" in message and "\n" not in message, message


# -- output folders -----------------------------------------------------------------------------------------------


def test_overlay_names_cannot_leave_their_folder():
    from synthsight.explain import overlay_name

    tricky = ["../../etc/passwd.png", "/abs/olute.png", "..", ".hidden.png", "a/../../b.png", "\\..\\win.png"]
    tricky += [os.fsdecode(b"\xff/../\xfe.png"), "x" * 5000 + ".png", "con.png", "=cmd|' /C calc'!A0.png"]
    names = [overlay_name(t) for t in tricky]
    for name in names:
        assert "/" not in name and "\\" not in name and not name.startswith(".") and name.endswith(".png"), name
        assert len(name.encode()) < 255
    assert len(set(names)) == len(names)


def test_scan_writes_only_inside_its_output_folders(corpus_names, tiny_bundle, tmp_path, monkeypatch):
    """Grad-CAM for every image of the hostile-names folder plus equal basenames in two folders."""
    from click.testing import CliRunner

    from synthsight.cli.scan import scan

    names_dir, n_images = corpus_names
    cams, reports = tmp_path / "cams", tmp_path / "reports"
    reports.mkdir()
    before = _tree(tmp_path)
    outs = [reports / "r.csv", reports / "r.json"]
    monkeypatch.chdir(tmp_path)  # in this process, in that folder: pytorch-grad-cam's imports are paid once
    args = [str(names_dir), "--model", str(tiny_bundle), *sum((["--out", str(o)] for o in outs), [])]
    args += ["--gradcam", str(cams), "--gradcam-for", "all", "--workers", "0", "--quiet"]
    done = CliRunner().invoke(scan, args)
    assert done.exit_code == 0, done.output
    new = _tree(tmp_path) - before
    expected = {str(o) for o in outs} | {f"{outs[0]}.manifest.json"}  # a CSV's run manifest lies beside it
    outside = {p for p in new if not (p.startswith(str(cams) + "/") or p in expected) and p != str(cams)}
    assert not outside, f"files written outside the output folders: {outside}"
    overlays = list(cams.iterdir())
    assert len(overlays) == n_images, "one overlay per image, none overwritten"
    records = hostile.read_report(outs[0])
    assert all(r["gradcam"] for r in records if r["verdict"] in ("ai", "real"))


def _tree(root: Path) -> set[str]:
    return {os.path.join(d, n) for d, dirs, files in os.walk(root) for n in dirs + files}


@pytest.fixture
def corpus_names(tmp_path) -> tuple[Path, int]:
    root = tmp_path / "names_in"
    png = hostile.encode(hostile.noise(24, 24, 5), "PNG")
    count = 0
    tricky = [hostile.NASTY_NAMES[k] for k in ("comma", "newline", "formula", "not_utf8", "dots", "traversal_like")]
    for name in tricky + ["a/same.png", "b/same.png", "a/b/same.png"]:
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Path(path).write_bytes(png)
        count += 1
    return root, count
