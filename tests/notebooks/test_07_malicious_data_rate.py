"""Chapter 7 with tiny parameters: one attacker at two malicious data rates."""

import math

import nbformat
import pytest

from flsim.notebook import ParameterError

from .conftest import assert_reads_well, parameter_check

TINY = dict(num_clients=4, samples_per_client=80, num_rounds=2, eval_samples=200, server_share=0.05,
            malicious_data_rate_values=[2, 10], seeds=[0])


def shown(notebook, mime):
    """Every ``mime`` output of the executed notebook's code cells, in order."""
    return [o["data"][mime] for c in notebook.cells if c.cell_type == "code" for o in c.outputs
            if mime in o.get("data", {})]


def test_the_chapter_with_tiny_parameters(run_chapter, tmp_path):
    values = run_chapter("07_malicious_data_rate", nbval=True, **TINY)
    assert values["num_runs"] == 2 and values["num_values"] == 2 and values["samples"] == 80
    assert values["num_tensors"] == 8 and values["dataset_name"] == "Fashion-MNIST"
    assert values["dose"] == "r = 2: 40, r = 10: 8"  # positions 0, r, 2r, ... of 80
    for name in ("backdoor_by_r", "bias_auc_by_r", "bias_ratio_by_r", "fraction_by_r", "best_by_r"):
        assert values[name].startswith("r = 2: ") and "r = 10: " in values[name], name
    assert values["backdoor_max_r"] in (2, 10) and 0 <= values["backdoor_max"] <= 1
    assert 0 <= values["bias_top_auc"] <= 2 and values["auc_se"] > 0
    assert math.isnan(values["exponent_shift"]) or -3 < values["exponent_shift"] < 3
    assert "with the dose" in values["verdict"]
    assert (values["r_high_dose"], values["r_low_dose"]) == (2, 10)
    assert 0 <= values["min_auc_high_dose"] <= 1 and 1 <= values["bias_ratio_rank_high_dose"] <= 8
    # The sentences about the doses follow this run's AUCs (bars 0.75 and 0.65).
    assert ("whole update" in values["high_dose_note"]) == (values["min_auc_high_dose"] >= 0.75)
    assert ("hides" in values["low_dose_note"]) == (values["best_auc_low_dose"] < 0.65)

    # The executed notebook reads without the book: captions, DataFrames, the findings table.
    path = tmp_path / "07_malicious_data_rate.ipynb"
    assert_reads_well(path)
    notebook = nbformat.read(path, as_version=4)
    assert len(shown(notebook, "image/png")) == 4
    tables = shown(notebook, "text/html")  # the tables render as DataFrames
    assert len(tables) == 6 and values["dose"] in tables[-1] and values["verdict"] in tables[-1]


def test_a_mistyped_parameter_stops_the_run():
    """The chapter stops at its parameter check, before anything is trained, naming the parameter."""
    error = parameter_check("07_malicious_data_rate", malicious_data_rate=5)
    assert isinstance(error, ParameterError) and (
        "this chapter has no parameter 'malicious_data_rate' (did you mean 'malicious_data_rate_values'?)"
        in str(error))
