"""What `train` says (issue 18 item 13): the data found before epoch 1, "epoch 1/N", rounded metrics, and a
warning when the validation set scores at chance."""

from __future__ import annotations

import re

import pytest

from synthsight.model import read_spec
from synthsight.spec import chance_note


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    from synthsight.train.synthetic import make_synthetic

    return make_synthetic(tmp_path_factory.mktemp("data") / "d", n=16, size=32, seed=3)


def test_train_says_the_data_the_epochs_of_n_and_when_it_is_at_chance(tiny_data, tmp_path, capsys):
    from synthsight.train.loop import TrainConfig, fit

    config = TrainConfig(data=str(tiny_data), out=str(tmp_path / "m"), arch="convnext_atto", size=32,
                         init="random", epochs=1, batch_size=8, workers=0, shuffle_labels=True)  # fmt: skip
    fit(config)
    out = capsys.readouterr().out
    lines = out.splitlines()
    data = next(i for i, line in enumerate(lines) if line.startswith("data "))
    epoch = next(i for i, line in enumerate(lines) if line.startswith("epoch "))
    assert data < epoch and re.search(r"train \d+ \(ai \d+, real \d+", lines[data]), lines[data]
    assert lines[epoch].startswith("epoch 1/1: "), lines[epoch]
    best = next(line for line in lines if line.startswith("best epoch"))
    assert re.search(r"val accuracy \d\.\d{3}, ROC-AUC (\d\.\d{3}|-) ->", best), best
    # Labels shuffled: nothing to learn, but a val set this small may score above chance by luck; the warning
    # is said exactly when the stored metrics are at chance (the rule itself: the test below).
    metrics = read_spec(tmp_path / "m").metrics
    assert ("WARNING: the validation set scores at chance (" in out) == bool(chance_note(metrics)), out


def test_chance_is_an_auc_or_balanced_accuracy_below_0_6():
    assert chance_note({"roc_auc": 0.52, "true_positive_rate": 0.9, "false_positive_rate": 0.84}).startswith(
        "at chance (ROC-AUC 0.52, balanced accuracy 0.53; 0.5 is a coin toss)"
    )
    assert chance_note({"roc_auc": 0.97, "true_positive_rate": 0.9, "false_positive_rate": 0.05}) == ""
    assert chance_note({}) == ""  # nothing measured: nothing said
