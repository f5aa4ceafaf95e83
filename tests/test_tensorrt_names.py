"""Every TensorRT name synthsight's GPU code uses exists in the TensorRT 11.4 Python bindings.

The GPU paths cannot run here, so a misspelt or removed TensorRT call would only show on the first
GPU machine. tests/data/tensorrt-11.4-names.txt lists the identifiers in the real 11.4 bindings
(how it was made is in its header); two checks compare our code against it:
- the source: every attribute read from ``trt`` or a TensorRT object (builder, network, engine,
  execution context, ...) in the GPU modules, found with ``ast``;
- the build path run against tests/trt_fakes.py: every name it actually touched.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NAMES_FILE = REPO / "tests" / "data" / "tensorrt-11.4-names.txt"
GPU_SOURCES = [
    "synthsight/export/tensorrt.py",
    "synthsight/runtime/tensorrt.py",
    "tests/test_export_tensorrt.py",
    "tests/test_runtime_tensorrt.py",
    "tests/test_gpu_parity.py",
]
# Variable names that hold the tensorrt module or a TensorRT object in those files.
TRT_ROOTS = {
    "trt",
    "tensorrt",
    "builder",
    "network",
    "build_config",
    "profile",
    "parser",
    "error",
    "engine",
    "loaded",
    "runtime",
    "context",
    "levels",
    "_engine",
    "_context",
    "_runtime",
}


def _bindings() -> tuple[set[str], list[str]]:
    names = [line.strip() for line in NAMES_FILE.read_text().splitlines() if line.strip() and line[0] != "#"]
    return set(names), names


def in_bindings(name: str) -> bool:
    """Present as an identifier, or as a whole word ending one: the linker shares a string's tail with a longer
    one ("Builder" lives only as the end of "IExprBuilder", "ERROR" of "INTERNAL_ERROR"), so a tail counts when
    it starts a word of the longer name (after ``_``, or a capital after a lower-case letter). A short
    misspelling that is merely the end of a real name ("uilder", "nput_shape") does not pass."""
    exact, names = _bindings()
    return name in exact or any(_ends_with_word(n, name) for n in names)


def _ends_with_word(longer: str, name: str) -> bool:
    if len(longer) <= len(name) or not longer.endswith(name):
        return False
    prefix, first = longer[: -len(name)], name[0]
    before = prefix[-1]
    # "I" + name: TensorRT's interface classes (ILogger holds Logger's string)
    return before == "_" or (first.isupper() and (before.islower() or before.isdigit() or prefix == "I"))


def _chain(node: ast.AST) -> tuple[str | None, list[str]]:
    """``a.b(x).c[0].d`` -> ("a", ["b", "c", "d"]); self._engine.x -> ("_engine", ["x"])."""
    attrs: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            attrs.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Subscript):
            node = node.value
        else:
            break
    attrs.reverse()
    root = node.id if isinstance(node, ast.Name) else None
    if root == "self" and attrs:
        root, attrs = attrs[0], attrs[1:]
    return root, attrs


def used_names(source: str) -> set[str]:
    """TensorRT attribute names read in ``source`` (stops at a dunder such as ``__version__.split``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            root, attrs = _chain(node)
            if root in TRT_ROOTS:
                for attr in attrs:
                    if attr.startswith("__"):
                        found.add(attr) if attr == "__version__" else None
                        break
                    found.add(attr)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr":
            target, name = node.args[0], node.args[1] if len(node.args) > 1 else None
            if _chain(target)[0] in TRT_ROOTS and isinstance(name, ast.Constant) and isinstance(name.value, str):
                found.add(name.value)
    return found


def test_the_names_file_is_the_11_4_bindings():
    exact, _ = _bindings()
    assert len(exact) > 2000
    for name in ("execute_async_v3", "set_input_shape", "build_serialized_network", "STRONGLY_TYPED"):
        assert name in exact
    # What TensorRT 11 removed is absent, so the check can fail.
    for removed in ("FP16", "EXPLICIT_BATCH", "execute_async_v2", "build_engine", "platform_has_fast_fp16"):
        assert not in_bindings(removed), removed


def test_the_source_scan_finds_names_and_catches_a_typo():
    names = used_names("engine.get_tensor_name(0)\nself._context.set_input_shapes('x', s)\ntrt.__version__.split('.')")
    assert names == {"get_tensor_name", "set_input_shapes", "__version__"}
    assert not in_bindings("set_input_shapes")


def test_a_short_misspelling_that_ends_a_real_name_is_refused():
    assert in_bindings("Builder") and in_bindings("ERROR")  # stored only as tails of longer strings
    for typo in ("uilder", "nput_shape", "xecute_async_v3", "RROR"):
        assert not in_bindings(typo), typo


@pytest.mark.parametrize("path", GPU_SOURCES)
def test_gpu_sources_use_only_tensorrt_11_4_names(path):
    source = REPO / path
    if not source.is_file():
        pytest.fail(f"{path} is listed as a GPU source but does not exist")
    names = used_names(source.read_text(encoding="utf-8"))
    missing = sorted(n for n in names if not in_bindings(n))
    assert not missing, f"{path} uses names the TensorRT 11.4 bindings do not have: {missing}"


def test_the_build_path_touches_only_tensorrt_11_4_names(monkeypatch, tiny_onnx, tiny_spec, tmp_path):
    from trt_fakes import Behaviour, FakeTensorRT, recorded

    import synthsight.export.tensorrt as export_trt
    from synthsight.export.tensorrt import EngineConfig, build_engine

    touched: set[str] = set()
    for behaviour in (Behaviour(), Behaviour(version="10.12.0.36", accept_cache=False), Behaviour(parse_ok=False)):
        trt = FakeTensorRT(behaviour)
        monkeypatch.setattr(export_trt, "require_builder", lambda trt=trt: trt)
        monkeypatch.setattr(export_trt, "_gpu_identity", lambda: ("NVIDIA H200", (9, 0)))
        cache = tmp_path / "timing.cache"
        cache.write_bytes(b"old cache")
        config = EngineConfig(batch=2, max_batch=8, timing_cache=cache)
        try:
            build_engine(tiny_onnx["fp16"], tmp_path / "m.engine", tiny_spec, config, echo=lambda _: None)
        except Exception as exc:  # the parse failure case
            assert "cannot parse" in str(exc)
        touched |= recorded()
    assert {"Builder", "create_network", "set_timing_cache", "build_serialized_network", "desc"} <= touched
    missing = sorted(n for n in touched if not in_bindings(n))
    assert not missing, f"the build path uses names the TensorRT 11.4 bindings do not have: {missing}"
