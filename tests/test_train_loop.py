"""Training: the synthetic task is learnt through its fingerprint only; checkpoints resume; outputs exist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from synthsight.errors import UsageError
from synthsight.model import read_spec
from synthsight.train.loop import TrainConfig, fit
from synthsight.train.synthetic import make_synthetic


def _config(data: Path, out: Path, **kw) -> TrainConfig:
    base = dict(arch="convnext_atto", size=64, init="random", epochs=8, batch_size=32, lr=5e-4, patience=2, seed=0)
    base.update(workers=0, progress=False)
    base.update(kw)
    return TrainConfig(data=str(data), out=str(out), **base)


def test_trained_bundle_learns_the_fingerprint(trained_bundle):
    spec = read_spec(trained_bundle)
    assert spec.metrics["accuracy"] >= 0.9
    assert spec.metrics["roc_auc"] >= 0.95
    assert spec.arch == "convnext_atto" and spec.preprocess.size == 64
    assert spec.classes == ["ai", "real"]
    assert spec.data["train"]["per_class"] == {"ai": 128, "real": 128}
    assert spec.data["val"]["per_class"] == {"ai": 32, "real": 32}
    for name in ("history.csv", "history.json", "history.png", "excluded_files.csv", "data_report.json"):
        assert (trained_bundle / name).stat().st_size > 0, name
    history = json.loads((trained_bundle / "history.json").read_text())
    assert spec.metrics["best_epoch"] == min(history, key=lambda h: h["val_loss"])["epoch"]


def test_shuffled_labels_destroy_accuracy(trained_bundle, tmp_path):
    """Same data, same recipe, permuted training labels: validation accuracy falls to chance."""
    data = trained_bundle.parent / "data"
    out = fit(_config(data, tmp_path / "shuffled", epochs=3, shuffle_labels=True))
    metrics = read_spec(out).metrics
    assert metrics["accuracy"] <= 0.7, metrics
    assert read_spec(trained_bundle).metrics["accuracy"] - metrics["accuracy"] >= 0.25


def test_without_the_fingerprint_there_is_nothing_to_learn(tmp_path):
    """Control: the same generator with the trace switched off trains to chance (content is shared)."""
    data = make_synthetic(tmp_path / "plain", n=160, size=64, seed=3, amplitude=0.0)
    metrics = read_spec(fit(_config(data, tmp_path / "plain_run", epochs=3))).metrics
    assert metrics["accuracy"] <= 0.7, metrics


@pytest.fixture(scope="module")
def small_set(tmp_path_factory) -> Path:
    return make_synthetic(tmp_path_factory.mktemp("small") / "set", n=48, size=64, seed=9)


def _weights(bundle: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(bundle / "model.safetensors"))


def test_resume_continues_exactly_where_it_stopped(small_set, tmp_path):
    full = fit(_config(small_set, tmp_path / "full", epochs=3, patience=5, batch_size=16))
    part = fit(_config(small_set, tmp_path / "part", epochs=2, patience=5, batch_size=16))
    assert (part / "checkpoints" / "last_state.pt").exists()
    resumed = fit(_config(small_set, tmp_path / "part", epochs=3, patience=5, batch_size=16, resume=str(part)))
    history = json.loads((resumed / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3]
    full_history = json.loads((full / "history.json").read_text())
    assert [h["val_loss"] for h in history] == [h["val_loss"] for h in full_history]
    a, b = _weights(full), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_model(small_set, tmp_path):
    a = fit(_config(small_set, tmp_path / "a", epochs=1, batch_size=16))
    b = fit(_config(small_set, tmp_path / "b", epochs=1, batch_size=16, deterministic=True))
    wa, wb = _weights(a), _weights(b)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_resume_from_nothing_is_a_usage_error(small_set, tmp_path):
    with pytest.raises(UsageError, match="no checkpoint"):
        fit(_config(small_set, tmp_path / "x", epochs=1, resume=str(tmp_path)))


def test_one_class_only_is_a_usage_error(tmp_path):
    data = make_synthetic(tmp_path / "d", n=8, size=32, seed=0)
    for split in ("train", "val"):
        for f in (data / split / "nature").iterdir():
            f.unlink()
    with pytest.raises(UsageError, match="no images of class"):
        fit(_config(data, tmp_path / "o", size=32, epochs=1))
