"""flsim.analysis.first_order (chapter 1): the first-order theory against the runs, on small hand-made
tables with known answers, and round 1 of a tiny real federation taken apart."""

import math
import re

import numpy as np
import pandas as pd
import pytest

import flsim
from flsim import notebook
from flsim.analysis import first_order

SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def test_shown_rounds_as_the_text_shows_without_a_negative_zero():
    assert first_order.shown(0.123456) == 0.1235
    assert str(first_order.shown(-0.00001)) == "0.0"
    assert first_order.shown(-0.149, 1) == -0.1


def test_plan_numbers_need_two_seeds():
    config = flsim.Config()
    numbers = first_order.plan_numbers(config, [0.01, 0.1], [1, 3, 10], [0, 1, 1])
    assert (numbers["num_seeds"], numbers["num_lr_values"], numbers["num_rate_values"]) == (2, 2, 3)
    assert (numbers["num_rounds"], numbers["samples_per_client"]) == (config.num_rounds, config.samples_per_client)
    with pytest.raises(ValueError, match="two seeds or more"):
        first_order.plan_numbers(config, [0.01], [10], [3, 3])


@pytest.mark.parametrize("lo, hi, words", [(0.1, 0.4, "several times smaller than"), (0.3, 0.9, "smaller than"),
                                           (1.1, 1.5, "larger than"), (0.8, 1.2, "not distinguishable from")])
def test_shortfall(lo, hi, words):
    assert first_order.shortfall(lo, hi) == words


def test_zero_note():
    assert first_order.zero_note(0.1, 0.3).startswith(", an interval above zero")
    assert first_order.zero_note(-0.02, 0.33) == ", an interval that includes no shift at all"
    assert first_order.zero_note(-0.3, -0.1).startswith(", an interval below zero")


TREND = dict(rho=-0.2, lo=-0.9, hi=0.5, groups=5, negative=2, positive=2, falling=0, rising=0)


def test_trend_words():
    assert first_order.trend_direction(TREND, "the learning rate") == (
        "showed no trend with the learning rate that the seeds tell from none")
    assert first_order.trend_direction(TREND | dict(rho=-0.8, lo=-0.95, hi=-0.6), "x") == "fell with x"
    assert first_order.trend_direction(TREND | dict(rho=0.8, lo=0.6, hi=0.95), "x") == "rose with x"
    assert first_order.trend_direction(TREND | dict(groups=1), "x").startswith("cannot show a trend with x")
    long = first_order.trend_text(TREND, "x", "explains", "against", "untested")
    assert long == ("showed no trend with x that the seeds tell from none (Spearman's rank correlation "
                    "-0.20 [-0.90, 0.50], mean over 5 seeds, 95% interval; negative in 2 of the seeds, and -1, a "
                    "fall at every step, in none), untested")
    short = first_order.trend_text(TREND, "x", "explains", "against", "untested", short=True)
    assert short == long.split("; negative")[0] + ")"
    assert first_order.trend_text(TREND | dict(groups=0), "x", "e", "a", "u").startswith("cannot show")


def shifts_frame(measured, predicted_lr=(0.001, 0.004), predicted_rate=(0.004,)):
    """bias_shift rows of a grid: ``measured[seed][i]`` the attacker's shift at the i-th setting (learning
    rates, then malicious data rates)."""
    rows = []
    settings = ([("learning rate", f"lr {i}", p) for i, p in enumerate(predicted_lr)]
                + [("malicious data rate", f"r {i}", p) for i, p in enumerate(predicted_rate)])
    for seed, values in enumerate(measured):
        for (varied, setting, predicted), m in zip(settings, values):
            rows.append(dict(round=1, predicted=predicted, malicious=m, benign_mean=0.0, benign_sd=0.001,
                             ratio=m / predicted, varied=varied, setting=setting, seed=seed))
    return pd.DataFrame(rows)


def test_trend_findings_per_axis():
    # both seeds: the ratio falls from 0.5 to 0.25 as the prediction grows; one malicious data rate
    found = first_order.trend_findings(shifts_frame([[0.0005, 0.001, 0.002], [0.0005, 0.001, 0.003]]))
    assert found["lr_trend_direction"] == "fell with the learning rate"
    assert (found["lr_trend_rho"], found["lr_trend_groups"], found["lr_trend_falling"]) == (pytest.approx(-1), 2, 2)
    assert found["lr_trend"].endswith("so more of the push is pulled back")
    assert found["rate_trend"].startswith("cannot show a trend with the number of poisoned samples")
    assert "rate_trend_rho" not in found and found["rate_trend_groups"] == 0  # NaN is not glued


def test_shift_exponent_of_a_power_law_and_over_the_seeds():
    x = np.array([0.001, 0.004, 0.016])
    exact = first_order.shift_exponent(shifts_frame([0.1 * np.sqrt(x)] * 3, predicted_lr=x, predicted_rate=()))
    assert (exact["k"], exact["lo"], exact["hi"]) == pytest.approx((0.5, 0.5, 0.5))
    assert exact["text"] == "0.50 [0.50, 0.50]"
    noisy = first_order.shift_exponent(shifts_frame([x * f for f in (0.8, 1.0, 1.3, 0.9)], predicted_lr=x,
                                                    predicted_rate=()))
    assert noisy["k"] == pytest.approx(1.0) and noisy["lo"] == pytest.approx(1.0)  # each seed linear: every draw too
    mixed = first_order.shift_exponent(shifts_frame([x, x ** 0.5, x, x ** 0.5], predicted_lr=x, predicted_rate=()))
    # half the seeds linear, half like a square root: the draws lie between, all-sqrt and all-linear at the ends
    assert 0.5 - 1e-9 <= mixed["lo"] < mixed["k"] < mixed["hi"] <= 1.0 + 1e-9
    negative = first_order.shift_exponent(shifts_frame([[-0.001, 0.002]] * 2, predicted_rate=()))
    assert math.isnan(negative["k"]) and negative["text"].startswith("undefined")


def test_waterfall_steps_add_up_to_the_attackers_deviation():
    terms = pd.DataFrame({"poisoned_labels": [0.006, 0.0, 0.0], "clean_labels": [0.001, 0.002, 0.003],
                          "start_probability": [0.0003, 0.0003, 0.0003], "rise_via_bias": [0.0, 0.0, 0.0],
                          "rise_via_weights": [0.003, 0.0, 0.0], "bias_change": [0.0037, 0.0017, 0.0027]})
    steps = first_order.waterfall_steps(terms)
    assert steps == pytest.approx({"poisoned labels": 0.004, "clean target labels": -0.001,
                                   "p_t at the start": 0.0, "rise of p_t": -0.002})
    assert sum(steps.values()) == pytest.approx(terms.bias_change[0] - terms.bias_change.mean())


def test_rounds_findings():
    rounds = pd.DataFrame({"round": [1, 2, 3], "predicted": 0.004, "malicious": [0.002, 0.001, 0.0],
                           "benign_mean": [0.0, 0.0, 0.001], "benign_sd": [0.001, 0.001, 0.001]})
    rounds["ratio"] = rounds.malicious / rounds.predicted
    results = flsim.Results(flsim.Config(), {"rounds": pd.DataFrame({"round": [0, 3], "backdoor_accuracy": [0.0, 0.05]})})
    found = first_order.rounds_findings(rounds, results)
    assert (found["rounds_ratio_mean"], found["rounds_ratio_min"], found["rounds_ratio_max"],
            found["rounds_ratio_first"]) == (0.25, 0.0, 0.5, 0.5)
    assert (found["per_round_standard_z_mean"], found["per_round_standard_z_min"],
            found["per_round_standard_z_max"]) == (0.7, -1.0, 2.0)
    assert found["final_backdoor_accuracy"] == 5.0


def test_the_grid_lists_each_setting_per_seed_and_runs_a_repeat_once():
    one_round = flsim.Config(num_rounds=1)
    grid = first_order.Grid(one_round, [0.003, one_round.lr], [one_round.malicious_data_rate], [0, 1])
    assert [setting for _, setting, *_ in grid.plan] == ["lr 0.003", "lr 0.003", "lr 0.01", "lr 0.01", "r 10", "r 10"]
    assert len(grid.configs) == 8  # the runs at the defaults last
    numbers = grid.run_numbers(flsim.Config(), 100)
    # lr 0.01, r 10 and the defaults are the same run on each seed
    assert numbers == dict(num_runs=5, grid_runs=4, grid_sample_passes=400)


def test_grid_findings():
    one_round = flsim.Config(num_rounds=1, samples_per_client=300)
    grid = first_order.Grid(one_round, [0.01], [1, 10], [0, 1])
    settings = pd.DataFrame({"varied": ["learning rate", "malicious data rate", "malicious data rate"],
                             "ratio": [0.2, 0.15, 0.3], "lo": [0.1, 0.1, 0.2], "hi": [0.3, 1.2, 0.4]},
                            index=pd.Index(["lr 0.01", "r 1", "r 10"], name="setting"))
    defaults = pd.DataFrame({"ratio": [0.1, 0.2]})
    backdoor = [flsim.Results(one_round, {"rounds": pd.DataFrame({"round": [0, 1], "backdoor_accuracy": [0, b]})})
                for b in (0.1, 0.2, 0.5, 0.7, 0.0, 0.0)]  # lr 0.01 x 2, r 1 x 2, r 10 x 2
    found = grid.findings(backdoor, settings, defaults)
    assert (found["grid_ratio_min"], found["grid_ratio_max"], found["settings_below"]) == (0.15, 0.3, 2)
    assert found["smallest_setting"] == "r 1" and found["rate_low"] == "1"
    assert (found["rate_low_poisoned"], found["rate_low_share"]) == (300, 1.0)
    assert found["rate_low_backdoor"] == pytest.approx(60.0) and found["rate_low_ratio_text"] == "0.15 [0.10, 1.20]"
    # 0.15 +- 12.706 x 0.0707 / sqrt(2): [-0.49, 0.79]
    assert found["default_ratio_text"] == "0.15 [-0.49, 0.79]"
    assert found["shortfall_verdict"] == "smaller than"
    assert found["default_zero_note"] == ", an interval that includes no shift at all"


FOUND = dict(autograd_gap=6e-8, shortfall_verdict="several times smaller than", default_ratio_text="0.15 [-0.02, 0.33]",
             default_ratio_lo=-0.02, default_ratio_hi=0.33, num_seeds=5,
             lr_trend_direction="showed no trend with the learning rate that the seeds tell from none",
             rate_trend_direction="showed no trend with the number of poisoned samples that the seeds tell from none",
             lr_exponent_text="0.96 [0.76, 1.09]")


def test_the_verdict_reads_in_sentences_of_at_most_40_words():
    text = first_order.verdict(FOUND)
    assert text.startswith("The closed form of the output layer's gradient matches autograd. In round 1 at the "
                           "defaults the measured bias shift was several times smaller than the first-order "
                           "prediction: 0.15 [-0.02, 0.33] of it (5 seeds, 95% interval). That interval includes "
                           "no shift at all.")
    assert text.endswith("the ratio showed no trend with the learning rate that the seeds tell from none. It showed "
                         "no trend with the number of poisoned samples that the seeds tell from none. In round 1 the "
                         "shift grew like lr^k with k = 0.96 [0.76, 1.09]; chapter 6 fits k over longer runs.")
    longest = dict(FOUND, autograd_gap=1.0, default_ratio_lo=0.1, shortfall_verdict="not distinguishable from",
                   lr_trend_direction="cannot show a trend with the learning rate: the grid needs two values or more "
                                      "of it", lr_exponent_text="undefined (a mean shift is not positive)",
                   rate_trend_direction="cannot show a trend with the number of poisoned samples: the grid needs "
                                        "two values or more of it")
    for found in (FOUND, longest):
        assert all(len(s.split()) <= 40 for s in SENTENCE_END.split(first_order.verdict(found)))
    assert not notebook.uncertain_claims(text)  # every measured decimal with its interval
    assert "does not match autograd" in first_order.verdict(longest)
    assert "lies above zero" in first_order.verdict(longest)


def test_predictors_text():
    table = pd.DataFrame({"activation_scale": [1.104, 0.2746], "poisoned_error": [0.9912, 0.909],
                          "similarity": [0.962, 0.778]}, index=["striped_tshirts", "flat_sandals"])
    assert first_order.predictors_text(table) == (
        "striped_tshirts: activation scale 1.10, 1 - p_t 0.991, cosine 0.96; "
        "flat_sandals: activation scale 0.27, 1 - p_t 0.909, cosine 0.78")


def test_round_1_under_the_microscope(tiny_config):
    """A tiny real federation (4 clients x 100 samples, r = 10): the closed form is autograd's gradient, the
    terms add up to the measured deviation, and the counts are the plan's."""
    scope = first_order.Microscope(flsim.setup(tiny_config))
    overview = scope.overview()
    assert overview["num_poisoned"] == 10 and overview["target_name"] == "Pullover"
    assert overview["microscope_sample_passes"] == overview["server_samples"] + 400
    assert overview["full_run_sample_passes"] == overview["server_samples"] + 2 * 400
    check, found = scope.autograd_check()
    assert found["autograd_gap"] < 1e-5 and abs(found["bias_gradient_sum"]) < 1e-5
    assert found["batch_poisoned"] == 7  # positions 0, 10, ..., 60 of the first batch of 64
    assert check.iloc[:, 0].to_numpy() == pytest.approx(check.iloc[:, 1].to_numpy(), abs=1e-5)
    _, errors = scope.errors()
    assert -1 < errors["poisoned_target_error"] <= errors["poisoned_target_error_max"] < 0
    dilution = scope.dilution(scope.zscores())
    assert dilution["dilution_verdict"] == ("holds" if dilution["bias_rank"] == 1 else "does not hold")
    prediction = scope.prediction()
    assert prediction["predicted"] == pytest.approx(0.01 * 10 / 64 * 0.75)
    assert prediction["last_batch_note"].startswith("differs only because the last batch holds 36 samples")
    terms = scope.bias_terms()
    findings = scope.term_findings(terms)
    parts = ("term_poisoned", "term_clean", "term_start", "term_rise")
    assert sum(findings[t] for t in parts) == pytest.approx(findings["micro_measured"], abs=3e-4)
    assert findings["micro_ratio"] * scope.predicted == pytest.approx(findings["micro_measured"], abs=1e-4)
