"""Chapter 9 with tiny parameters: 5 clients x 60 samples, 2 rounds (3 for the schedules), two defences,
one alpha, the non-IID and adaptive runs on two seeds, the verdict's attacker also on the flat sandals."""

import re

import nbformat
import pytest

from flsim.notebook import ParameterError

from .conftest import assert_reads_well, parameter_check, unreadable_outputs
from .test_08_detection_defences import assert_interval, counted, interval, shown

TINY = dict(num_clients=5, samples_per_client=60, num_rounds=2, eval_samples=100, server_share=0.05,
            schedule_rounds=3, clients_per_round=3, attack_round=2, aggregator_values=["fedavg", "bias_filter"],
            dirichlet_alpha_values=[0.3], seeds=[0, 1])


def test_the_chapter_with_tiny_parameters(run_chapter, tmp_path):
    values = run_chapter("09_stress_tests", **TINY)
    # schedules, constrained defences (FedAvg on both seeds), adaptive (two on both seeds), one alpha,
    # the flat sandals' replacement attacker, plain and adaptive, on both seeds
    assert values["num_runs"] == 3 + (2 + 1) + (2 + 1 + 2 + 1 + 1) + 2 + 2 * 2
    # on the first seed only: the schedules, the other defence, the clean output layer twice, the filter
    assert values["first_seed_runs"] == 3 + 1 + 2 + 1 and values["first_seed_seconds"] > 0
    assert values["num_seeds"] == 2 and values["num_seeds_text"] == "2 seeds"
    assert values["bound"] > 0 and values["norm_bound_factor"] == 1.0
    assert values["attack_round"] == 2 and values["schedule_rounds_text"] == "3 rounds"
    assert values["num_rounds_text"] == "2 rounds" and values["sample_passes"] == 5 * 60 * 2
    for name in ("shot_peak", "shot_final", "pool_peak", "every_peak", "every_final",
                 "constrained_peak", "unconstrained_peak", "repl_plain_peak", "repl_bias_peak",
                 "repl_layer_peak", "repl_bias_filter_peak", "repl_bias_filter_tpr", "constrained_filter_tpr"):
        assert 0 <= values[name] <= 1, name
    assert re.fullmatch(r"\d+%", values["shot_next"])
    assert 0 <= values["pool_attacked"] <= 3
    assert values["shot_half_life"] in ("0 rounds", "1 round", "more than the run")
    # The single shot leaves attacker-free rounds: 3 clients in each of the rounds the attacker skips.
    flagged, clients = counted(values["shot_clean_flags"])
    assert clients > 0 and clients % 3 == 0
    for name in ("constrained_norm_auc", "constrained_paper_auc", "constrained_best_auc", "plain_bias_auc",
                 "adaptive_bias_auc", "adaptive_new_auc", "adaptive_layer_best_auc", "repl_bias_paper_auc",
                 "paper_auc_skew", "class_auc_skew", "best_auc_skew", "paper_fpr_skew", "paper_fpr_iid",
                 "worst_fpr"):
        assert 0 <= values[name] <= 1, name
        if f"{name}_ci" in values:
            assert_interval(values[f"{name}_ci"], values[name])
    for name in ("unconstrained_norm_auc_ci", "unconstrained_paper_auc_ci"):
        assert_interval(values[name])
    assert values["constrained_best_auc"] >= values["constrained_paper_auc"]
    assert values["adaptive_new_layer"] != "fc2.bias"
    assert values["skew_alpha"] == 0.3
    assert values["worst_fpr"] >= values["paper_fpr_skew"]
    # 2 seeds x 2 rounds x 4 honest clients behind the non-IID rate.
    assert counted(values["paper_fpr_skew_count"]) == (round(16 * values["paper_fpr_skew"]), 16)
    assert values["class_vs_max"] in ("better than", "worse than", "not distinguishable, by the two intervals, from")
    assert values["constrained_cost"] in ("in this seed it keeps most of its backdoor",
                                         "in this seed staying small costs it the backdoor")
    assert 0 <= values["adaptive_separating"] <= 7 and 0 <= values["plain_separating"] <= 8
    assert (values["num_clients"], values["clients_per_round"], values["poison_every"]) == (5, 3, 2)
    assert (values["num_tensors"], values["other_tensors"]) == (8, 7)
    assert ("does not need to go anywhere" in values["anomaly_note"]) == (values["adaptive_separating"] > 0)
    # The peak given up over 2 seeds: a mean with its interval, in points.
    loss, lo, hi = interval(values["repl_bias_loss_ci"])
    assert lo <= loss <= hi and loss == pytest.approx(values["repl_bias_loss"], abs=0.6)
    # Both semantic backdoors on chapter 4's axis, read from this chapter's pre-trained model.
    assert values["default_set_name"] == "striped T-shirts" and values["other_set_name"] == "flat sandals"
    assert values["scale_default"] > 0 and values["scale_other"] > 0
    assert f"{values['scale_other']:.2f}" in values["other_side_text"]
    assert "law expects" in values["axis_note"]
    # The verdict's attacker on the flat sandals: the statistic's AUC and the peak given up, with intervals.
    assert_interval(values["other_bias_auc_ci"], values["other_bias_auc"])
    loss, lo, hi = interval(values["other_bias_loss_ci"])
    assert lo <= loss <= hi and loss == pytest.approx(values["other_bias_loss"], abs=0.6)
    assert isinstance(values["other_flips"], bool)
    assert ("flips" in values["other_state"]) == values["other_flips"]
    # The verdict names its conditions and cites its numbers with their intervals.
    verdict = values["verdict"]
    said = values["adaptive_verdict"]
    assert f"{said[0].upper()}{said[1:]}: " in verdict and values["repl_bias_paper_auc_ci"] in verdict
    assert values["repl_bias_loss_ci"] in verdict
    # ... and the other side of chapter 4's law, naming its measure
    assert "On the other side of chapter 4's law, the flat sandals" in verdict
    assert values["other_state"] in verdict and values["other_bias_loss_ci"] in verdict
    assert f"ROC-AUC on it is {values['other_bias_auc_ci']}" in verdict
    assert "(attack scale = 10)" in verdict and "one poisoned sample in 2" in verdict and "5 clients" in verdict
    assert "2 rounds and 2 seeds (4 attacking client-rounds)" in verdict
    assert all(len(sentence.split()) <= 40 for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z])", verdict))
    for name in ("persist_note", "norm_note", "verdict"):
        assert isinstance(values[name], str) and values[name], name

    # The executed notebook reads without the book: captions, DataFrames, the findings table.
    path = tmp_path / "09_stress_tests.ipynb"
    assert_reads_well(path)
    notebook = nbformat.read(path, as_version=4)
    assert len(shown(notebook, "image/png")) == 3
    tables = shown(notebook, "text/html")  # the tables render as DataFrames
    assert len(tables) == 8 and verdict in tables[-1]
    assert tables[0].count("<tr>") == 1 + 2  # the axis: the index name's row, then the two sets
    assert values["shot_half_life"] in tables[-1]
    assert not unreadable_outputs(path)  # no nan, inf, negative zero or "(s)" in what a reader sees


@pytest.mark.parametrize("parameters, message", [
    (dict(alphas=[0.5]), "this chapter has no parameter 'alphas'"),  # now dirichlet_alpha_values
    (dict(schedule_rounds="many"), "parameter schedule_rounds='many' should be like its default "
                                   "schedule_rounds=8 (number)"),
    (dict(seed=1), "this chapter has no parameter 'seed'"),  # now seeds
])
def test_a_mistyped_parameter_stops_the_run(parameters, message):
    """The chapter stops at its parameter check, before anything is trained, naming the parameter."""
    error = parameter_check("09_stress_tests", **parameters)
    assert isinstance(error, ParameterError) and message in str(error)
