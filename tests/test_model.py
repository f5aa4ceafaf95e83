"""Model bundles: bit-exact round trip, weights-only loading, clear refusals."""

from __future__ import annotations

import os

import pytest
import torch

from synthsight.artifacts import is_bundle
from synthsight.errors import ModelFileError, UsageError
from synthsight.model import build, load_bundle, read_spec, save_bundle, write_spec
from synthsight.spec import ModelSpec


def _pixels(n: int = 4, size: int = 64) -> torch.Tensor:
    return torch.randint(0, 256, (n, size, size, 3), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)


def test_round_trip_gives_bit_identical_logits(tiny_spec, tmp_path):
    torch.manual_seed(3)
    model = build(tiny_spec, "random").eval()
    with torch.inference_mode():
        before = model(_pixels())
    path = save_bundle(model, tiny_spec, tmp_path / "b")
    assert is_bundle(path) and (path / "model.safetensors").exists() and (path / "model.json").exists()
    loaded, spec = load_bundle(path)
    with torch.inference_mode():
        after = loaded(_pixels())
    assert torch.equal(before, after)
    assert spec.to_dict() == read_spec(path).to_dict()
    assert spec.versions["torch"] == torch.__version__ and spec.created


def test_state_dict_pth_is_accepted_as_init(tiny_spec, tmp_path):
    torch.manual_seed(4)
    source = build(tiny_spec, "random").eval()
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.net.state_dict().items()}}, tmp_path / "w.pth")
    model = build(tiny_spec, tmp_path / "w.pth").eval()
    with torch.inference_mode():
        assert torch.equal(model(_pixels(2)), source(_pixels(2)))


class _Payload:
    """Pickles to os.system(...): executing it would create the sentinel file."""

    def __init__(self, sentinel: str):
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


class _Custom:
    def __init__(self):
        self.weights = torch.zeros(3)


@pytest.mark.parametrize("kind", ["reduce", "custom-class"])
def test_pickle_with_arbitrary_objects_is_refused_and_nothing_runs(tiny_spec, tmp_path, kind):
    sentinel = tmp_path / "executed"
    obj = {"state_dict": _Payload(str(sentinel))} if kind == "reduce" else {"model": _Custom()}
    torch.save(obj, tmp_path / "evil.pth")
    with pytest.raises(ModelFileError, match="refused to load"):
        build(tiny_spec, tmp_path / "evil.pth")
    assert not sentinel.exists()


def test_wrong_arch_weights_are_refused(tiny_spec, tiny_bundle, tmp_path):
    spec = read_spec(tiny_bundle)
    spec.arch = "convnext_femto"
    other = tmp_path / "mismatch"
    other.mkdir()
    (other / "model.safetensors").write_bytes((tiny_bundle / "model.safetensors").read_bytes())
    (other / "model.json").write_text(spec.to_json())
    with pytest.raises(ModelFileError, match="do not match"):
        load_bundle(other)


def test_missing_bundle_and_unknown_arch_are_usage_errors(tiny_spec, tmp_path):
    with pytest.raises(ModelFileError):
        load_bundle(tmp_path / "nope")
    spec = ModelSpec(arch="no_such_net_xyz")
    with pytest.raises(UsageError, match="unknown architecture"):
        build(spec, "random")


def _no_hub_client(monkeypatch):
    import timm

    def create_model(*args, **kwargs):
        pytest.fail("timm's hub client was called: without a network it retries for a minute, a line per retry")

    monkeypatch.setattr("synthsight.model._imagenet_cached", lambda cfg: False)  # as on a fresh machine
    monkeypatch.setattr(timm, "create_model", create_model)


def test_imagenet_init_offline_is_one_clear_error(tiny_spec, monkeypatch):
    _no_hub_client(monkeypatch)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UsageError, match=r"^--init imagenet: the ImageNet weights of convnext_atto are not in the "
                                         r"local cache and HF_HUB_OFFLINE is set: use --init random"):  # fmt: skip
        build(tiny_spec, "imagenet")


def test_imagenet_init_without_a_network_is_one_line_within_seconds(tiny_spec, monkeypatch):
    import time

    from synthsight.model import HUB_TIMEOUT_S

    _no_hub_client(monkeypatch)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing answers there, as no hub does offline
    start = time.monotonic()
    with pytest.raises(UsageError, match=r"^--init imagenet: cannot reach 127\.0\.0\.1 .*: use --init random"):
        build(tiny_spec, "imagenet")
    assert time.monotonic() - start < HUB_TIMEOUT_S + 10


def test_write_spec_updates_threshold_only(tiny_bundle, tmp_path):
    import shutil

    copy = shutil.copytree(tiny_bundle, tmp_path / "copy")
    weights = (copy / "model.safetensors").read_bytes()
    spec = read_spec(copy)
    spec.threshold, spec.threshold_source = 0.83, "test"
    write_spec(spec, copy)
    again = read_spec(copy)
    assert (again.threshold, again.threshold_source) == (0.83, "test")
    assert (copy / "model.safetensors").read_bytes() == weights
