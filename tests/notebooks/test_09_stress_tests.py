"""Chapter 9 with tiny parameters: 5 clients x 60 samples, 2 rounds (3 for the schedules), two defences, one alpha."""

import math

import nbformat
import pytest

from flsim.notebook import ParameterError

from .conftest import assert_reads_well, parameter_check

TINY = dict(num_clients=5, samples_per_client=60, num_rounds=2, eval_samples=100, server_share=0.05,
            schedule_rounds=3, clients_per_round=3, attack_round=2, aggregator_values=["fedavg", "bias_filter"],
            dirichlet_alpha_values=[0.3])


def shown(notebook, mime):
    """Every ``mime`` output of the executed notebook's code cells, in order."""
    return [o["data"][mime] for c in notebook.cells if c.cell_type == "code" for o in c.outputs
            if mime in o.get("data", {})]


def test_the_chapter_with_tiny_parameters(run_chapter, tmp_path):
    values = run_chapter("09_stress_tests", **TINY)
    assert values["num_runs"] == 3 + 2 + 5 + 1  # schedules, constrained defences, adaptive, one alpha
    assert values["bound"] > 0 and values["norm_bound_factor"] == 1.0
    assert values["attack_round"] == 2 and values["schedule_rounds_text"] == "3 rounds"
    for name in ("shot_peak", "shot_next", "shot_final", "pool_peak", "every_peak", "every_final",
                 "constrained_peak", "unconstrained_peak", "repl_plain_peak", "repl_bias_peak",
                 "repl_layer_peak", "repl_bias_filter_peak"):
        assert 0 <= values[name] <= 1, name
    assert 0 <= values["pool_attacked"] <= 3
    assert values["shot_half_life"] in ("0 rounds", "1 round", "more than the run")
    # The single shot leaves attacker-free rounds, so its clean-round false-positive rate exists.
    assert 0 <= values["shot_clean_fpr"] <= 1
    for name in ("constrained_norm_auc", "constrained_paper_auc", "constrained_best_auc", "plain_bias_auc",
                 "adaptive_bias_auc", "adaptive_new_auc", "adaptive_layer_best_auc", "repl_bias_paper_auc",
                 "paper_auc_skew", "class_auc_skew", "best_auc_skew"):
        assert 0 <= values[name] <= 1, name
    assert values["constrained_best_auc"] >= values["constrained_paper_auc"]
    assert values["adaptive_new_layer"] != "fc2.bias"
    assert values["skew_alpha"] == 0.3
    for name in ("paper_fpr_skew", "paper_fpr_iid", "worst_fpr"):
        assert 0 <= values[name] <= 1, name
    assert values["worst_fpr"] >= values["paper_fpr_skew"]
    assert not math.isnan(values["repl_bias_filter_tpr"])
    assert values["class_vs_max"] in ("better", "no better")
    assert values["constrained_cost"] in ("it keeps most of its backdoor", "staying small costs it the backdoor")
    assert 0 <= values["adaptive_separating"] <= 7 and 0 <= values["plain_separating"] <= 8
    assert (values["num_clients"], values["clients_per_round"], values["poison_every"]) == (5, 3, 2)
    assert (values["num_tensors"], values["other_tensors"]) == (8, 7)
    assert ("does not need to go anywhere" in values["anomaly_note"]) == (values["adaptive_separating"] > 0)
    for name in ("persist_note", "norm_note", "verdict"):
        assert isinstance(values[name], str) and values[name], name
    assert values["adaptive_verdict"] in values["verdict"]

    # The executed notebook reads without the book: captions, DataFrames, the findings table.
    path = tmp_path / "09_stress_tests.ipynb"
    assert_reads_well(path)
    notebook = nbformat.read(path, as_version=4)
    assert len(shown(notebook, "image/png")) == 3
    tables = shown(notebook, "text/html")  # the tables render as DataFrames
    assert len(tables) == 8 and values["verdict"] in tables[-1]
    assert values["shot_half_life"] in tables[-1]


@pytest.mark.parametrize("parameters, message", [
    (dict(alphas=[0.5]), "this chapter has no parameter 'alphas'"),  # now dirichlet_alpha_values
    (dict(schedule_rounds="many"), "parameter schedule_rounds='many' should be like its default "
                                   "schedule_rounds=8 (number)"),
])
def test_a_mistyped_parameter_stops_the_run(parameters, message):
    """The chapter stops at its parameter check, before anything is trained, naming the parameter."""
    error = parameter_check("09_stress_tests", **parameters)
    assert isinstance(error, ParameterError) and message in str(error)
