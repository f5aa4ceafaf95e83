"""Training: the synthetic task is learnt through its fingerprint only; checkpoints resume; outputs exist."""

from __future__ import annotations

import json
from pathlib import Path

from synthsight.model import read_spec
from synthsight.train.loop import TrainConfig, fit


def _config(data: Path, out: Path, **kw) -> TrainConfig:
    base = dict(arch="convnext_atto", size=64, init="random", epochs=8, batch_size=32, lr=1e-3, patience=2, seed=0)
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
