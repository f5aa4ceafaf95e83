"""The verdict rule a scan applies: stdlib only, equal to the numpy scores the fit used, hostile input refused."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from synthsight.calibrate import stats
from synthsight.calibrate.fit import Targets, fit_calibration
from synthsight.errors import ModelFileError
from synthsight.runtime.base import scores_from_logits
from synthsight.verdicts.rule import MAX_LOGODDS, POOLED, Calibration, positive_probability, stratum_of


@pytest.fixture(scope="module")
def calibration() -> Calibration:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(1, 1, 1000), rng.normal(-1, 1, 1000)])
    labels = np.repeat([0, 1], 1000)
    return fit_calibration(np.stack([3 * x, -3 * x], 1), labels, 0, Targets())


def test_the_rule_needs_nothing_but_the_standard_library():
    code = (
        "import sys\n"
        "for name in ('numpy', 'PIL', 'scipy', 'torch'): sys.modules[name] = None\n"
        "from synthsight.verdicts.rule import Calibration, positive_probability\n"
        "print(positive_probability([2.0, -1.0], 0, 1.5))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert abs(float(out.stdout) - 1 / (1 + math.exp(-2.0))) < 1e-12


@pytest.mark.parametrize("classes", [2, 3])
def test_stdlib_scores_equal_the_numpy_scores(classes):
    rng = np.random.default_rng(classes)
    logits = rng.normal(0, 8, size=(500, classes))
    for positive in range(classes):
        for temperature in (0.5, 1.0, 2.7):
            ours = [positive_probability(row, positive, temperature) for row in logits]
            assert np.allclose(ours, stats.positive_scores(logits, positive, temperature), rtol=0, atol=1e-15)
        raw = [positive_probability(row, positive, 1.0, clip=False) for row in logits]
        assert np.allclose(raw, scores_from_logits(logits, positive), rtol=0, atol=1e-14)


def test_calibrated_scores_never_reach_0_or_1():
    top = positive_probability([500.0, -500.0], 0, 1.0)
    assert top < 1.0 and top == pytest.approx(1 / (1 + math.exp(-MAX_LOGODDS)))
    assert positive_probability([-500.0, 500.0], 0, 1.0) > 0.0


def test_judge_gives_the_three_verdicts(calibration):
    rule = calibration.pooled
    assert rule.t_real < rule.t_ai
    verdicts = set()
    for margin in np.linspace(-20, 20, 81):
        j = calibration.judge([margin / 2, -margin / 2], 0)
        verdicts.add(j.verdict)
        assert j.verdict == ("ai" if j.score >= rule.t_ai else "real" if j.score <= rule.t_real else "uncertain")
        assert j.raw_score == pytest.approx(1 / (1 + math.exp(-margin)))
    assert verdicts == {"ai", "uncertain", "real"}
    with pytest.raises(ValueError, match="non-finite"):
        calibration.judge([float("nan"), 0.0], 0)


def test_strata_names():
    assert stratum_of((), "JPEG", 10, 10) == POOLED
    assert stratum_of(("format",), "MPO", 10, 10) == "jpeg"
    assert stratum_of(("format",), "WEBP", 10, 10) == "other"
    assert stratum_of(("size",), "PNG", 512, 300) == "small"
    assert stratum_of(("format", "size"), "PNG", 513, 300) == "png/medium"
    assert stratum_of(("size",), "PNG", 4000, 3000) == "large"


def test_a_calibration_survives_json(calibration):
    again = Calibration.from_dict(json.loads(json.dumps(calibration.to_dict())))
    assert again == calibration


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"temperature": float("nan")}, "temperature"),
        ({"temperature": -1}, "temperature"),
        ({"confidence": 1.0}, "confidence"),
        ({"target_fpr": "0.01"}, "target_fpr"),
        ({"by": ["colour"]}, "by"),
        ({"rules": {}}, "pooled"),
        ({"rules": {"pooled": {"n_real": 10, "n_ai": 10, "fallback": "x"}}}, "no thresholds"),
        ({"rules": {"pooled": {"n_real": True, "n_ai": 1, "t_ai": 0.9, "t_real": 0.1}}}, "counts"),
        ({"rules": {"pooled": {"n_real": 1, "n_ai": 1, "t_ai": 0.1, "t_real": 0.9}}}, "below"),
        ({"rules": {"pooled": {"n_real": 1, "n_ai": 1, "t_ai": 1.5, "t_real": 0.1}}}, "t_ai"),
        ({"format_version": 99}, "newer"),
        ({"data": []}, "JSON objects"),
    ],
)
def test_malformed_calibrations_are_refused_in_one_line(calibration, change, message):
    data = {**calibration.to_dict(), **change}
    with pytest.raises(ModelFileError, match=message) as info:
        Calibration.from_dict(data)
    assert "\n" not in str(info.value)
    with pytest.raises(ModelFileError):
        Calibration.from_dict([1, 2])
