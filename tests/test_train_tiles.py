"""Issue 22's acceptance: the synthetic fingerprint at 256 x 256 native pixels and a model of input 64.

Squashing 256 -> 64 averages every 2 x 2 phase of the period-2 trace away, so ``--resize squash`` can only
guess; ``--resize tiles`` trains on native windows and scores the scan's tiles, and learns it.
"""

from __future__ import annotations

from conftest import TINY_ARCH, TINY_SIZE

from synthsight.model import read_spec
from synthsight.train.loop import TrainConfig, fit
from synthsight.train.synthetic import make_synthetic


def test_tiles_learn_the_native_trace_that_squash_erases(tmp_path):
    data = make_synthetic(tmp_path / "syn256", n=320, size=256, seed=0)
    accuracy = {}
    for resize in ("squash", "tiles"):
        tiles = 4 if resize == "tiles" else None
        config = TrainConfig(data=str(data), out=str(tmp_path / resize), arch=TINY_ARCH, size=TINY_SIZE,
                             resize=resize, tiles=tiles, init="random", epochs=5, batch_size=32, lr=5e-4, patience=2,
                             seed=0, workers=0, progress=False)  # fmt: skip
        spec = read_spec(fit(config))
        accuracy[resize] = spec.metrics["accuracy"]
    assert spec.preprocess.resize == "tiles" and spec.preprocess.tiles == 4  # validation scored the scan's 4 tiles
    assert accuracy["tiles"] >= 0.95, accuracy
    assert accuracy["squash"] <= 0.7, accuracy  # 64 validation images: chance is 0.5 +- 0.06
