"""`eval` scores only what the model did not train on, says what it scored, and chooses no threshold on
training images (the files are found again from the bundle's recorded data and split)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from synthsight.errors import UsageError
from synthsight.train.evaluate import EvalConfig, evaluate_model


@pytest.fixture(scope="module")
def unsplit_model(tmp_path_factory) -> tuple[Path, Path]:
    """(bundle, data): a tiny model trained on a folder without a split (ai/ + nature/: a 90/10 split is made)."""
    from synthsight.train.loop import TrainConfig, fit
    from synthsight.train.synthetic import make_synthetic

    root = tmp_path_factory.mktemp("unsplit")
    data = make_synthetic(root / "set", n=48, size=32, seed=4) / "train"  # class folders only
    config = TrainConfig(data=str(data), out=str(root / "m"), arch="convnext_atto", size=32, init="random",
                         epochs=1, batch_size=8, workers=0, progress=False)  # fmt: skip
    return fit(config), data


def test_eval_leaves_the_training_files_out_and_says_what_it_scored(unsplit_model):
    from synthsight.model import read_spec

    bundle, data = unsplit_model
    trained = read_spec(bundle).data
    n_train, n_val = trained["train"]["n"], trained["val"]["n"]
    result = evaluate_model(EvalConfig(model=str(bundle), data=str(data), workers=0, target_fpr=0.5))
    m = result.metrics
    assert m["n"] == n_val and m["training_files_left_out"] == n_train
    assert m["scored"] == f"{n_val} images of {data} the model did not train on ({n_train} training images left out)"
    assert m["threshold_source"].endswith(f"real images of {data} the model did not train on")


def test_no_threshold_is_chosen_on_training_images(unsplit_model):
    bundle, data = unsplit_model
    for extra in ({"target_fpr": 0.05}, {"target_fpr": 0.05, "write_threshold": True}):
        with pytest.raises(UsageError, match=r"^--target-fpr: \d+ of the \d+ images are the model's training images"):
            evaluate_model(EvalConfig(model=str(bundle), data=str(data), workers=0, include_training=True, **extra))
    from synthsight.model import read_spec

    trained = read_spec(bundle).data
    result = evaluate_model(EvalConfig(model=str(bundle), data=str(data), workers=0, include_training=True))
    assert result.metrics["n"] == trained["train"]["n"] + trained["val"]["n"]
    assert "of them training images (optimistic)" in result.metrics["scored"]


def test_a_folder_of_training_images_only_is_one_line_and_exit_2(unsplit_model):
    from synthsight.cli import cli
    from synthsight.datalayout import bundle_images
    from synthsight.model import read_spec

    bundle, data = unsplit_model
    ai_only = data.parent / "ai-train-only"
    (ai_only / "ai").mkdir(parents=True)
    for path in bundle_images(read_spec(bundle)).train:
        if Path(path).parent.name == "ai":  # the training files, by another path
            (ai_only / "ai" / Path(path).name).symlink_to(path)
    done = CliRunner().invoke(cli, ["eval", str(bundle), str(ai_only), "--workers", "0"])
    # main() prints a SynthsightError as one line and exits with its code; CliRunner hands it back
    assert isinstance(done.exception, UsageError) and done.exception.exit_code == 2
    n = len(list((ai_only / "ai").iterdir()))
    assert n and f"all {n} images are the model's training images, nothing held out" in str(done.exception)
