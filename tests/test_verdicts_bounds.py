"""The guarantee, tested statistically on score arrays (no model): over 200 random calibration/test splits of
overlapping synthetic logits, the held-out false-accusation and miss rates exceed their targets in at most
(1 - confidence) of the splits plus binomial slack; temperature scaling lowers held-out NLL and ECE; the
"too few images" rule is exact."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom

from synthsight.calibrate import bounds, stats
from synthsight.calibrate.fit import Targets, decided_accuracy, fit_calibration, rule_for
from synthsight.errors import UsageError

AI, REAL = 0, 1  # class indices in logit order (ModelSpec's default classes ["ai", "real"])
SPLITS = 200
POOL = 40_000  # per class; each split calibrates on CAL of each and tests on the rest
CAL = 700
CALIBRATION_SPLITS = 50  # the splits whose held-out NLL and ECE are measured too


def overlap_logits(rng: np.random.Generator, n_ai: int, n_real: int, separation=1.6, overconfidence=3.0):
    """Logits of a model whose classes overlap (AUC ~0.87) and that is ``overconfidence`` times too sure.

    A latent x ~ N(+-separation/2, 1) per class has true log-odds ``separation * x``; the model reports
    ``overconfidence`` times that, split over the two logits.
    """
    x = np.concatenate([rng.normal(separation / 2, 1, n_ai), rng.normal(-separation / 2, 1, n_real)])
    lo = overconfidence * separation * x
    labels = np.concatenate([np.full(n_ai, AI), np.full(n_real, REAL)])
    return np.stack([lo / 2, -lo / 2], axis=1), labels


@pytest.fixture(scope="module")
def splits():
    """200 seeded splits, each summarised by what its calibration does on the held-out images."""
    rng = np.random.default_rng(20)
    logits, labels = overlap_logits(rng, POOL, POOL)
    targets = Targets(fpr=0.01, miss=0.05, confidence=0.95)
    rows = []
    for split in range(SPLITS):
        cal = np.zeros(2 * POOL, bool)
        cal[rng.choice(POOL, CAL, replace=False)] = cal[POOL + rng.choice(POOL, CAL, replace=False)] = True
        calibration = fit_calibration(logits[cal], labels[cal], AI, targets)
        t, rule = calibration.temperature, calibration.pooled
        held, truth = logits[~cal], labels[~cal]
        scores = stats.positive_scores(held, AI, t)
        raw = stats.positive_scores(held, AI, 1.0, clip=False) if split < CALIBRATION_SPLITS else None
        real, ai = scores[truth == REAL], scores[truth == AI]
        # The point estimate a plain "FPR on the validation set" gives: the (1 - ε) quantile of the reals.
        naive = np.quantile(stats.positive_scores(logits[cal & (labels == REAL)], AI, t), 1 - targets.fpr)
        row = {"temperature": t, "fpr": (real >= rule.t_ai).mean(), "miss": (ai <= rule.t_real).mean(),
               "naive_fpr": (real > naive).mean(), **decided_accuracy(scores, truth == AI, rule, 0.5)}
        if split < CALIBRATION_SPLITS:
            row["nll"] = (stats.nll(held, truth, t), stats.nll(held, truth, 1.0))
            row["ece"] = (stats.ece(scores, truth == AI), stats.ece(raw, truth == AI))
        rows.append(row)
    return targets, rows


def slack(splits: int, delta: float) -> int:
    """Splits allowed to exceed: the binomial 99.9 % quantile of Binomial(splits, delta)."""
    return int(binom.ppf(0.999, splits, delta))


def test_false_accusation_rate_holds_over_200_splits(splits):
    targets, rows = splits
    fprs = np.array([r["fpr"] for r in rows])
    exceeded = int((fprs > targets.fpr).sum())
    print(f"held-out FPR > {targets.fpr}: {exceeded}/{SPLITS} splits; median FPR {np.median(fprs):.4f}")
    assert exceeded <= slack(SPLITS, targets.delta)
    # Not vacuous: the thresholds use much of the allowance (a threshold above every score would "pass" too).
    assert np.median(fprs) > targets.fpr / 4


def test_miss_rate_holds_over_200_splits(splits):
    targets, rows = splits
    misses = np.array([r["miss"] for r in rows])
    exceeded = int((misses > targets.miss).sum())
    print(f"held-out miss rate > {targets.miss}: {exceeded}/{SPLITS} splits; median {np.median(misses):.4f}")
    assert exceeded <= slack(SPLITS, targets.delta)
    assert np.median(misses) > targets.miss / 4


def test_the_point_estimate_threshold_does_not_hold(splits):
    """The negative control: the empirical (1 - ε) quantile of the calibration reals exceeds ε in ~half the
    splits, far beyond the slack, so the tests above can tell a bound from a point estimate."""
    targets, rows = splits
    exceeded = sum(r["naive_fpr"] > targets.fpr for r in rows)
    assert exceeded > 3 * slack(SPLITS, targets.delta)


def test_temperature_lowers_held_out_nll_and_ece(splits):
    _, rows = splits
    rows = rows[:CALIBRATION_SPLITS]
    for r in rows:
        assert r["temperature"] > 1.5  # the synthetic model is 3x overconfident
        assert r["nll"][0] <= r["nll"][1]
        assert r["ece"][0] <= r["ece"][1]
    print(f"held-out ECE before {np.mean([r['ece'][1] for r in rows]):.4f}, "
          f"after {np.mean([r['ece'][0] for r in rows]):.4f}")


def test_temperature_of_a_calibrated_model_stays_near_one():
    rng = np.random.default_rng(3)
    logits, labels = overlap_logits(rng, 3000, 3000, overconfidence=1.0)
    temperature = stats.fit_temperature(logits, labels)
    assert abs(temperature - 1.0) < 0.1
    test_logits, test_labels = overlap_logits(rng, 20000, 20000, overconfidence=1.0)
    assert stats.nll(test_logits, test_labels, temperature) <= stats.nll(test_logits, test_labels, 1.0) + 1e-3


def test_decided_verdicts_are_more_accurate_than_one_threshold(splits):
    _, rows = splits
    decided = np.mean([r["decided_accuracy"] for r in rows])
    single = np.mean([r["single_threshold_accuracy"] for r in rows])
    uncertain = np.mean([r["uncertain_share"] for r in rows])
    print(f"decided accuracy {decided:.4f} vs single threshold {single:.4f}; uncertain {uncertain:.3f}")
    assert decided >= single
    assert 0.0 < uncertain < 1.0


@pytest.mark.parametrize(("eps", "confidence", "expected"), [(0.01, 0.95, 299), (0.05, 0.95, 59), (0.001, 0.99, 4603)])
def test_min_images_is_exact(eps, confidence, expected):
    delta = 1 - confidence
    need = bounds.min_images(eps, delta)
    assert need == expected == math.ceil(math.log(delta) / math.log(1 - eps))
    for n in (1, need - 2, need - 1, need, need + 1, 3 * need):
        assert (bounds.allowed_exceedances(n, eps, delta) is None) == (n < need), n
    assert bounds.allowed_exceedances(need, eps, delta) == 0


def test_clopper_pearson_bound_of_the_chosen_threshold_meets_the_target():
    for n in (299, 500, 1204, 5000):
        m = bounds.allowed_exceedances(n, 0.01, 0.05)
        assert bounds.clopper_pearson_upper(m, n, 0.95) <= 0.01 < bounds.clopper_pearson_upper(m + 1, n, 0.95)


def test_thresholds_leave_at_most_m_calibration_images_beyond_them():
    rng = np.random.default_rng(5)
    real = np.round(rng.uniform(0, 1, 1000), 2)  # heavy ties
    t_ai, _, m = bounds.ai_threshold(real, 0.01, 0.05)
    assert (real >= t_ai).sum() <= m
    ai = np.round(rng.uniform(0, 1, 1000), 2)
    t_real, _, m = bounds.real_threshold(ai, 0.05, 0.05)
    assert (ai <= t_real).sum() <= m


def test_one_class_or_too_few_images_is_one_clear_line():
    rng = np.random.default_rng(1)
    logits, labels = overlap_logits(rng, 400, 0)
    with pytest.raises(UsageError, match="AI-generated images only"):
        fit_calibration(logits, labels, AI, Targets())
    logits, labels = overlap_logits(rng, 400, 298)
    with pytest.raises(UsageError, match="298 real and 400 AI images.*at least 299 real and 59 AI") as info:
        fit_calibration(logits, labels, AI, Targets())
    assert "\n" not in str(info.value)
    fit_calibration(*overlap_logits(rng, 400, 299), AI, Targets())  # one more is enough


def test_small_strata_fall_back_to_the_pooled_rule():
    rng = np.random.default_rng(2)
    logits, labels = overlap_logits(rng, 900, 900)
    strata = ["jpeg"] * 1700 + ["png"] * 100  # png: the last 100 reals only
    calibration = fit_calibration(logits, labels, AI, Targets(by=("format",)), strata)
    assert calibration.rules["jpeg"].own and calibration.rules["jpeg"].n_real == 800
    png = calibration.rules["png"]
    assert not png.own and png.n_real == 100 and png.n_ai == 0 and "299" in png.fallback
    assert calibration.rule_for("png") is calibration.pooled
    assert calibration.rule_for("other") is calibration.pooled  # a stratum never seen at calibration
    assert calibration.rule_for("jpeg") is calibration.rules["jpeg"]


def test_separable_classes_get_one_cut_and_keep_both_bounds():
    scores = np.concatenate([np.linspace(0.001, 0.2, 500), np.linspace(0.8, 0.999, 500)])
    is_ai = np.arange(1000) >= 500
    rule = rule_for(scores, is_ai, Targets())
    assert rule.separated and rule.t_real < rule.t_ai == 0.5
    assert (scores[~is_ai] >= rule.t_ai).sum() == 0 and (scores[is_ai] <= rule.t_real).sum() == 0
