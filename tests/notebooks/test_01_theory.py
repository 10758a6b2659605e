"""Chapter 1, "The output layer's gradient", executed with tiny parameters."""

import dataclasses
import re

import pytest
import torch

import flsim
from flsim.notebook import parameters_of

from .conftest import BOOK, assert_reads_well, html_tables, unreadable_outputs


def parameters(name: str) -> dict:
    """The chapter's default parameters, as its `parameters` cell sets them."""
    return parameters_of(BOOK / f"{name}.ipynb")


def default_run(name: str) -> flsim.Config:
    """The Config a chapter builds from the Config fields among its default parameters."""
    fields = {f.name for f in dataclasses.fields(flsim.Config)}
    return flsim.Config(**{k: v for k, v in parameters(name).items() if k in fields})


def test_defaults_run_the_book_baseline():
    """At its defaults the chapter's full run is flsim.Config() but for device="auto", which on a CPU is the
    same run under the same cache key: shared with chapters 2-7 through the cache."""
    config = default_run("01_theory")
    assert config.device == "auto" and config.replace(device="cpu") == flsim.Config()
    if not torch.cuda.is_available():
        assert config.key() == flsim.Config().key()


TINY = dict(num_clients=4, samples_per_client=100, num_rounds=2, eval_samples=200, server_share=0.05,
            lr_values=[0.01, 0.05], malicious_data_rate_values=[5], seeds=[0, 1])


def test_the_chapter_with_tiny_parameters(run_chapter, tmp_path):
    values = run_chapter("01_theory", **TINY)
    path = tmp_path / "01_theory.ipynb"
    assert_reads_well(path)
    assert unreadable_outputs(path) == []  # no nan, "-0.0000" or "(s)"
    # The term table's signed columns add up to its last, as shown (3 decimals); the bias's own part of
    # the rise has no column of its own.
    terms = html_tables(path)[2]
    assert terms[0] == ["", "+ poisoned", "+ clean", "− p_t start", "− rise of p_t", "= b_t change"]
    assert [row[0] for row in terms[2:]] == ["0", "1", "2", "3"]
    for row in terms[2:]:
        *shares, change = map(float, row[1:])
        assert sum(shares) == pytest.approx(change, abs=0.003)
    # The overview's counts are the plan's: 100 samples for 4 clients, the server's share, 1 epoch.
    assert (values["num_clients"], values["samples_per_client"], values["num_seeds"]) == (4, 100, 2)
    assert (values["num_lr_values"], values["num_rate_values"]) == (2, 1)
    server = values["server_samples"]
    assert values["microscope_sample_passes"] == server + 400
    assert values["full_run_sample_passes"] == server + 2 * 400
    # Per seed: lr 0.01 (= the defaults' r 10), lr 0.05 and r 5, each run once.
    assert values["grid_runs"] == 2 * 3 and values["grid_sample_passes"] == 6 * (server + 400)
    # The closed form is the gradient, and the bias gradient sums to zero over the classes.
    assert values["autograd_gap"] < 1e-5
    assert abs(values["bias_gradient_sum"]) < 1e-5
    assert values["batch_poisoned"] == 7  # positions 0, 10, ..., 60 of the first batch of 64
    # A poisoned sample's error: negative at the target class, positive at the source class.
    assert -1 < values["poisoned_target_error"] < values["poisoned_target_error_max"] < 0
    assert values["poisoned_source_error"] > 0
    assert 1 <= values["bias_rank"] <= values["num_entries"] <= 1290
    assert values["dilution_verdict"] == ("holds" if values["bias_rank"] == 1 else "does not hold")
    # Chapter 4's predictors of the dataset's two semantic sets, under the pre-trained model
    law = dict(part.split(": ", 1) for part in values["law_sets_text"].split("; "))
    assert list(law) == ["striped_tshirts", "flat_sandals"]
    for text in law.values():
        scale, error, cosine = map(float, re.findall(r"\d+\.\d+", text))
        assert scale > 0 and 0 <= error <= 1 and -1 <= cosine <= 1
    # 10 poisoned samples of 100, lr 0.01, batches of 64, 4 clients: 0.01 * 10 / 64 * (1 - 1/4).
    assert values["predicted"] == pytest.approx(0.01 * 10 / 64 * 0.75)
    # The poisoned labels' term is the prediction, except that the last batch (36) weighs its samples more.
    assert values["last_batch_note"].startswith("differs only because the last batch holds 36 samples")
    assert values["predicted"] <= values["term_poisoned"] <= values["predicted"] * 64 / 36 + 1e-4
    # The terms as the text shows them (4 decimals) add up to the measured deviation; the bias's own
    # part of the rise is a small share of it.
    terms = ("term_poisoned", "term_clean", "term_start", "term_rise")
    assert sum(values[t] for t in terms) == pytest.approx(values["micro_measured"], abs=3e-4)
    assert all(values[t] == round(values[t], 4) for t in terms)
    assert 0 <= values["rise_bias_share"] < 0.1 and values["rise_bias_max"] < values["bias_move_max"]
    assert values["pullback_share"] == pytest.approx(-values["term_rise"] / values["term_poisoned"], abs=0.1)
    assert values["micro_ratio"] * values["predicted"] == pytest.approx(values["micro_measured"], abs=1e-4)
    # The full run's per-round standard z: its mean lies between its extremes, as the ratio's does.
    z = [values[f"per_round_standard_z_{end}"] for end in ("min", "mean", "max")]
    assert z == sorted(z)
    assert values["rounds_ratio_min"] <= values["rounds_ratio_mean"] <= values["rounds_ratio_max"]
    assert 0 <= values["final_backdoor_accuracy"] <= 100
    # The grid on two seeds: the learning rate's trend is a mean of two rank correlations with an
    # interval; the one malicious data rate has none, and the text says so.
    assert values["lr_trend_groups"] == 2 and values["lr_trend_negative"] + values["lr_trend_positive"] == 2
    assert -1 <= values["lr_trend_lo"] <= values["lr_trend_rho"] <= values["lr_trend_hi"] <= 1
    assert values["lr_trend"].startswith("fell" if values["lr_trend_hi"] < 0 else "rose" if values["lr_trend_lo"] > 0
                                         else "showed no trend")
    assert "[" in values["lr_trend_short"] and "of the seeds" in values["lr_trend"]
    assert values["rate_trend_groups"] == 0 and values["rate_trend"].startswith("cannot show a trend")
    assert values["grid_ratio_min"] <= values["grid_ratio_max"] and values["num_settings"] == 3
    assert 0 <= values["settings_below"] <= 3 and values["smallest_setting"] in ("lr 0.01", "lr 0.05", "r 5")
    assert (values["rate_low"], values["rate_low_poisoned"]) == ("5", 20)
    assert values["rate_low_share"] == pytest.approx(0.2) and 0 <= values["rate_low_backdoor"] <= 100
    ratio, lo, hi = (values[f"default_ratio{end}"] for end in ("", "_lo", "_hi"))
    assert lo <= ratio <= hi
    assert values["default_ratio_text"] == f"{ratio:.2f} [{lo:.2f}, {hi:.2f}]".replace("-0.00", "0.00")
    assert values["shortfall_verdict"] == ("several times smaller than" if hi < 0.5 else "smaller than" if hi < 1
                                           else "larger than" if lo > 1 else "not distinguishable from")
    # The round-1 exponent of the shift in the learning rate (chapter 6 fits it over ten rounds).
    k, lo, hi = (values[f"lr_exponent_{end}"] for end in ("k", "lo", "hi"))
    if k == k and lo == lo:
        assert lo <= k <= hi and values["lr_exponent_text"] == f"{k:.2f} [{lo:.2f}, {hi:.2f}]"
    else:
        assert values["lr_exponent_text"].startswith("undefined") or "interval undefined" in values["lr_exponent_text"]
    # One verdict in short sentences: the closed form, round 1 against the prediction, the grid's trends.
    verdict = values["verdict"]
    assert f"was {values['shortfall_verdict']} the first-order prediction: {values['default_ratio_text']}" in verdict
    assert f"the ratio {values['lr_trend_direction']}. It {values['rate_trend_direction']}. In round 1 the " \
        f"shift grew like lr^k with k = {values['lr_exponent_text']};" in verdict
    assert values["lr_trend_short"].startswith(values["lr_trend_direction"])
    assert all(len(sentence.split()) <= 40 for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z])", verdict))
