"""flsim.analysis.statistics against the values the hand-written versions gave before it took them from
scipy (pinned here from flsim/analysis.py, flsim/localisation.py and flsim/semantic.py as of commit 859a02a),
and against the libraries themselves.

Bit for bit: roc_auc (scipy's Mann-Whitney U), mean_interval and t_quantile (scipy's t quantile, as
before), and every interval flsim still computes itself. Within a few ulps (the same definition, rounded
in another order): wilson_interval (scipy's binomtest), spearman and what uses it (scipy's spearmanr)
and bootstrap_mean (scipy's bootstrap, on the same resamples).
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from flsim import analysis
from flsim.analysis import statistics

MALICIOUS = [True, False, False, True, False, False, True, False, False]
AUC_CASES = [
    ([-1.11, -0.29, -0.26, -0.24, 1.12, 0.13, 0.36, 0.01, -0.9], 0.4444444444444444),
    ([0.17, 0.73, 0.12, -0.55, -1.22, 1.62, -0.79, -0.79, -1.31], 0.5277777777777778),
    ([0.31, 0.11, -0.76, -0.18, 0.19, -0.4, -1.02, -0.29, 0.21], 0.5),
    ([1, 1, 2, 2, 3, 3, 0, 0, 5], 0.25),
]
WILSON_CASES = [
    (0, 36, 0.95, (0.0, 0.09641862859446362)),
    (3, 36, 0.95, (0.028748611335993407, 0.21826691249272628)),
    (17, 20, 0.9, (0.6781719243246933, 0.9384175895226317)),
    (20, 20, 0.95, (0.8388748419471808, 1.0)),
    (5, 158, 0.99, (0.010630162179186171, 0.09041097153218292)),
    (157, 158, 0.99, (0.9482947466402434, 0.9992564907991239)),
]
MEAN_CASES = [
    ([0.91, 0.87, 0.95], (0.91, 0.8106344915299869, 1.0093655084700133)),
    ([1.0, 1.0, 1.0, 1.0], (1.0, 1.0, 1.0)),
    ([0.2, -0.1, 0.4, 0.05, 0.3], (0.17, -0.0767758388400222, 0.41677583884002223)),
]
# (a, b, rank_correlation, bootstrap_rank_correlation)
RANK_CASES = [
    ([-0.979, -0.587, 0.589, 1.051, 0.773, 0.272, 1.147, -0.429],
     [-1.083, -0.805, 1.448, 0.29, 0.309, 1.851, 0.672, -2.243],
     (0.5238095238095238, -0.3102841354978418, 0.9022166836226926),
     (0.5238095238095238, -0.2911392405063291, 0.9230769230769231)),
    ([1, 2, 3, 4, 5], [2, 1, 4, 3, 5],
     (0.7999999999999999, -0.3169591696133841, 0.9872753052802754), (0.7999999999999999, 0.1111111111111111, 1.0)),
    ([1, 2, 2, 3, 4], [1, 3, 3, 2, 5],
     (0.6842105263157895, -0.5298144051277232, 0.9786205936171715), (0.6842105263157895, -1.0, 1.0)),
]
BOOTSTRAP_MEAN_CASES = [
    ([0.25, 0.5, 1.0], (0.5833333333333334, 0.25, 1.0)),
    ([0.91, 0.72, 0.88, 0.95, 0.6], (0.8119999999999999, 0.686, 0.9199999999999999)),
    ([1.0, 0.5, 1.0, 1.0], (0.875, 0.625, 1.0)),
]
TREND = {"rho": -0.8495610993501712, "lo": -1.0, "hi": -0.6363168999417725, "groups": 3, "negative": 3,
         "positive": 0, "falling": 0, "rising": 0}
ULPS = dict(rel=0, abs=4e-15)  # a few units in the last place of numbers below 1


@pytest.mark.parametrize("scores, auc", AUC_CASES)
def test_roc_auc_keeps_todays_values_bit_for_bit_and_is_scikit_learns(scores, auc):
    assert analysis.roc_auc(scores, MALICIOUS) == auc
    assert analysis.roc_auc(scores, MALICIOUS) == pytest.approx(roc_auc_score(MALICIOUS, scores), **ULPS)


def test_roc_auc_gives_equal_aucs_equal_values_where_the_trapezoids_do_not():
    """Why roc_auc is scipy's Mann-Whitney U rather than roc_auc_score: the same AUC, 17/27, from two
    orderings; the trapezoid sum rounds them apart, and the chapters rank tensors by AUC with ties shared."""
    malicious = np.arange(12) < 3
    first, second = np.zeros(12), np.zeros(12)
    first[:3], second[:3] = [11, 0, 9], [3, 7, 10]
    first[3:], second[3:] = [v for v in range(12) if v not in (11, 0, 9)], [v for v in range(12) if v not in (3, 7, 10)]
    assert analysis.roc_auc(first, malicious) == analysis.roc_auc(second, malicious) == 17 / 27
    assert roc_auc_score(malicious, first) != roc_auc_score(malicious, second)


def test_roc_auc_without_both_groups_is_nan():
    assert np.isnan(analysis.roc_auc([1.0, 2.0], [False, False]))
    assert np.isnan(analysis.roc_auc([1.0, 2.0], [True, True]))


@pytest.mark.parametrize("successes, trials, level, interval", WILSON_CASES)
def test_wilson_interval_is_scipys_and_todays_within_ulps(successes, trials, level, interval):
    low, high = analysis.wilson_interval(successes, trials, level)
    scipy = stats.binomtest(successes, trials).proportion_ci(level, method="wilson")
    assert (low, high) == (scipy.low, scipy.high)
    assert (low, high) == pytest.approx(interval, **ULPS)
    assert 0 <= low <= successes / trials <= high <= 1


def test_wilson_interval_without_trials_is_nan():
    assert all(np.isnan(analysis.wilson_interval(0, 0)))


@pytest.mark.parametrize("values, expected", MEAN_CASES)
def test_mean_interval_keeps_todays_values_bit_for_bit(values, expected):
    assert analysis.mean_interval(values) == expected


def test_mean_interval_keeps_a_zero_width_where_scipys_t_interval_gives_nan():
    """Why mean_interval is mean +- t quantile x sd / sqrt(n), not scipy.stats.t.interval: seeds that
    agree exactly (an AUC of 1 in every seed) have an interval of zero width, not none."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert all(np.isnan(stats.t.interval(0.95, 3, loc=1.0, scale=0.0)))
    assert analysis.mean_interval([1.0, 1.0, 1.0, 1.0]) == (1.0, 1.0, 1.0)


def test_t_quantile_is_scipys():
    assert analysis.t_quantile(0.975, 4) == 2.7764451051977934 == stats.t.ppf(0.975, 4)


@pytest.mark.parametrize("a, b, expected, _", RANK_CASES)
def test_spearman_is_scipys_and_todays_within_ulps(a, b, expected, _):
    assert analysis.spearman(a, b) == stats.spearmanr(a, b).statistic
    rho, low, high = analysis.rank_correlation(pd.Series(a, dtype=float), pd.Series(b, dtype=float))
    assert (rho, low, high) == pytest.approx(expected, **ULPS)


def test_spearman_aligns_series_on_their_index_and_skips_nan_pairs():
    a = pd.Series([1.0, 2.0, 3.0, 4.0], index=list("wxyz"))
    b = pd.Series([40.0, 30.0, 20.0, 10.0], index=list("zyxw"))  # the same order, listed backwards
    assert analysis.spearman(a, b) == 1.0
    assert analysis.spearman([1.0, 2.0, np.nan, 3.0], [1.0, 3.0, 0.0, 2.0]) == 0.5
    assert np.isnan(analysis.spearman([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]))  # constant: no correlation
    assert np.isnan(analysis.spearman([1.0], [2.0]))


@pytest.mark.parametrize("a, b, _, expected", RANK_CASES)
def test_bootstrap_rank_correlation_keeps_todays_draws(a, b, _, expected):
    assert analysis.bootstrap_rank_correlation(a, b) == pytest.approx(expected, **ULPS)
    assert np.isnan(analysis.bootstrap_rank_correlation(a[:3], b[:3])[1])


def test_rank_trend_keeps_todays_values_within_ulps():
    frame = pd.DataFrame({"seed": [0] * 4 + [1] * 4 + [2] * 4, "x": [1, 2, 3, 4] * 3,
                          "y": [5, 3, 4, 1, 4, 4, 2, 1, 2, 3, 1, 0]})
    trend = analysis.rank_trend(frame, "x", "y")
    assert {k: trend[k] for k in ("groups", "negative", "positive", "falling", "rising")} == {
        k: TREND[k] for k in ("groups", "negative", "positive", "falling", "rising")}
    assert [trend[k] for k in ("rho", "lo", "hi")] == pytest.approx([TREND[k] for k in ("rho", "lo", "hi")], **ULPS)


@pytest.mark.parametrize("values, expected", BOOTSTRAP_MEAN_CASES)
def test_bootstrap_mean_is_scipys_bootstrap_on_todays_resamples(values, expected):
    assert analysis.bootstrap_mean(values) == pytest.approx(expected, **ULPS)
    # the resamples scipy draws are the ones flsim drew itself: the same percentiles, up to rounding
    drawn = np.random.default_rng(0).choice(values, (2000, len(values))).mean(axis=1)
    assert analysis.bootstrap_mean(values)[1:] == pytest.approx(np.percentile(drawn, [2.5, 97.5]), **ULPS)


def test_bootstrap_mean_of_equal_values_and_too_few():
    assert analysis.bootstrap_mean([0.5, 0.5, 0.5]) == (0.5, 0.5, 0.5)
    mean, low, high = analysis.bootstrap_mean([0.5, float("nan")])
    assert mean == 0.5 and np.isnan(low) and np.isnan(high)


def test_ratio_interval_keeps_todays_values_and_takes_a_lone_attacker():
    """Why ratio_interval is flsim's own bootstrap: scipy's refuses a group of one value, and chapter 4's
    rounds have one attacker."""
    assert analysis.ratio_interval([5.0], [1.0, 2.0, 1.5, 0.5]) == (4.0, 2.857142857142857, 6.666666666666667)
    assert analysis.ratio_interval([5.0, 4.0], [1.0, 2.0, 1.5, 0.5, 1.2]) == (
        3.629032258064516, 2.5862068965517246, 5.681818181818181)
    with pytest.raises(ValueError):
        stats.bootstrap(([5.0], [1.0, 2.0]), lambda x, y, axis: x.mean(axis) / y.mean(axis), method="percentile")


def test_the_auc_intervals_flsim_computes_itself_keep_todays_values():
    assert analysis.auc_standard_error(0.8, 5, 45) == 0.12284688854298004
    assert analysis.auc_interval(0.8, 5, 45) == (0.5592245228429531, 1.0)
    assert analysis.auc_score_interval(1.0, 4, 16) == (0.711462956657765, 1.0)
    scores = [0.3, 2.0, 1.1, -0.2, 0.7, 0.1, 1.5, 0.9]
    malicious = [True, False, True, False, False, False, True, False]
    assert analysis.auc_bootstrap_interval(scores, malicious, [1, 1, 2, 2, 3, 3, 4, 4], resamples=500) == (0.2, 1.0)
    assert analysis.power_law_exponent([1, 2, 4], [3.0, 1.6, 0.7]) == -1.0497678367754575


def test_the_statistics_module_is_the_one_home_of_the_moved_helpers():
    """localisation and semantic import their intervals from here instead of keeping copies."""
    from flsim import localisation, semantic

    assert localisation.bootstrap_mean is statistics.bootstrap_mean is analysis.bootstrap_mean
    assert semantic.bootstrap_rank_correlation is statistics.bootstrap_rank_correlation
