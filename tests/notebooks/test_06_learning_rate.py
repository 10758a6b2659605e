"""Chapter 6 with tiny parameters: one attacker at two learning rates."""

import math

import nbformat
import pytest

from flsim.notebook import ParameterError

from .conftest import assert_reads_well, parameter_check

TINY = dict(num_clients=4, samples_per_client=80, num_rounds=2, eval_samples=200, server_share=0.05,
            lr_values=[0.01, 0.05], seeds=[0])


def shown(notebook, mime):
    """Every ``mime`` output of the executed notebook's code cells, in order."""
    return [o["data"][mime] for c in notebook.cells if c.cell_type == "code" for o in c.outputs
            if mime in o.get("data", {})]


def test_the_chapter_with_tiny_parameters(run_chapter, tmp_path):
    values = run_chapter("06_learning_rate", **TINY)
    assert values["num_runs"] == 2 and values["num_values"] == 2 and values["num_tensors"] == 8
    assert values["lr_low"] == 0.01 and values["lr_high"] == 0.05
    assert values["dataset_name"] == "Fashion-MNIST"
    assert values["poisoned"] == 8  # positions 0, 10, ..., 70 of 80
    for name in ("backdoor_by_lr", "bias_auc_by_lr", "fraction_by_lr", "best_by_lr"):
        assert values[name].startswith("η = 0.01: ") and "η = 0.05: " in values[name], name
    assert 0 <= values["backdoor_max"] <= 1 and values["auc_se"] > 0
    assert 0 <= values["bias_top_auc"] <= 2 and 0 <= values["bias_top_ratio"] <= 2
    # Every honest client's deviation is a sum of SGD steps: its spread grows with the learning rate.
    assert values["exponent_sd"] > 0
    assert math.isnan(values["exponent_shift"]) or -3 < values["exponent_shift"] < 3
    assert "exponent of the bias shift" in values["verdict"]
    assert values["backdoor_note"].startswith("it took hold")
    assert values["main_note"].startswith("the largest learning rate ")
    assert "cancel" in values["cancel_note"]

    # The executed notebook reads without the book: captions, DataFrames, the findings table.
    path = tmp_path / "06_learning_rate.ipynb"
    assert_reads_well(path)
    notebook = nbformat.read(path, as_version=4)
    assert len(shown(notebook, "image/png")) == 4
    tables = shown(notebook, "text/html")  # the tables render as DataFrames
    assert len(tables) == 6 and values["verdict"] in tables[-1]


@pytest.mark.parametrize("parameters, message", [
    (dict(lr=0.1), "this chapter has no parameter 'lr'; its parameters: dataset, "),
    (dict(lr_values=0.1), "parameter lr_values=0.1 should be like its default "
                          "lr_values=[0.003, 0.01, 0.03, 0.1] (list)"),
])
def test_a_mistyped_parameter_stops_the_run(parameters, message):
    """The chapter stops at its parameter check, before anything is trained, naming the parameter."""
    error = parameter_check("06_learning_rate", **parameters)
    assert isinstance(error, ParameterError) and message in str(error)
