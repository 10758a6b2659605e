"""Chapter 6 with tiny parameters: one attacker at two learning rates."""

import re

import nbformat
import pytest

from flsim import notebook
from flsim.notebook import ParameterError

from .conftest import (
    assert_reads_well, assert_the_other_side, html_tables, parameter_check, shown, unreadable_outputs,
)

TINY = dict(num_clients=4, samples_per_client=80, num_rounds=2, eval_samples=200, server_share=0.05,
            lr_values=[0.01, 0.05], seeds=[0])
INTERVAL = r"-?\d+\.\d+ \[-?\d+\.\d+, -?\d+\.\d+\]"  # "0.86 [0.50, 2.29]"


def test_the_chapter_with_tiny_parameters(run_chapter, tmp_path):
    values = run_chapter("06_learning_rate", nbval=True, **TINY)
    assert values["num_runs"] == 2 and values["num_values"] == 2 and values["num_tensors"] == 8
    assert values["lr_low"] == 0.01 and values["lr_high"] == 0.05 and values["lr_values"] == "0.01, 0.05"
    assert values["dataset_name"] == "Fashion-MNIST" and values["client_passes"] == "640"
    assert values["poisoned"] == 8  # positions 0, 10, ..., 70 of 80
    # Every number compared across learning rates carries its interval.
    for name in ("backdoor_by_lr", "bias_auc_by_lr", "bias_ratio_by_lr", "fraction_by_lr", "best_by_lr",
                 "sd_units_by_lr"):
        assert values[name].startswith("η = 0.01: ") and "η = 0.05: " in values[name], name
        assert values[name].count("[") == 2, name
    for name in ("exponent_shift", "exponent_sd", "exponent_difference", "shift_sd_low"):
        assert re.fullmatch(INTERVAL, values[name]), (name, values[name])
    assert 0 <= values["bias_clear"] <= values["bias_top_auc"] <= 2 and 0 <= values["bias_top_ratio"] <= 2
    assert f"bias shift grew like η^k with k = {values['exponent_shift']}" in values["verdict"]
    assert not notebook.uncertain_claims(values["verdict"])
    assert values["backdoor_note"].startswith("it took hold")
    assert values["main_note"].startswith("the largest learning rate ") and "] against " in values["main_note"]
    # Whether the learning rate cancels out follows the interval of the exponents' difference.
    low, high = (float(x) for x in re.findall(r"-?[\d.]+", values["exponent_difference"])[1:])
    assert ("cancels out" in values["cancel_note"]) == (low <= 0 <= high)

    # The executed notebook reads without the book: captions, DataFrames, the findings table.
    path = tmp_path / "06_learning_rate.ipynb"
    assert_reads_well(path)
    executed = nbformat.read(path, as_version=4)
    assert len(shown(executed, "image/png")) == 4
    tables = shown(executed, "text/html")  # the tables render as DataFrames
    assert len(tables) == 7 and values["verdict"] in tables[-1]
    # They fit the page (notebook.table raised otherwise), the output bias first, and show no nan.
    per_run, case, tensors, shift, exponents = html_tables(path)[:5]
    assert per_run[0][2:4] == ["fc2.bias AUC", "fc2.bias ratio"] and per_run[1][:2] == ["η", "seed"]
    assert case[0][1:] == ["fc2.bias AUC", "AUC rank", "fc2.bias ratio", "ratio rank", "top in seeds"]
    seeds = len(TINY["seeds"])  # the seeds in which fc2.bias tops its run, by AUC / ratio
    assert all(re.fullmatch(rf"[0-{seeds}] / [0-{seeds}] of {seeds}", row[5]) for row in case[2:])
    assert tensors[0][2:] == ["AUC", "ratio"] and tensors[2][:2] == ["0.01", "fc2.bias"]
    assert tensors[10][:2] == ["0.05", "fc2.bias"] and len(tensors) == 2 + 2 * 8
    assert shift[0][1:] == ["measured", "predicted", "÷ predicted", "÷ honest sd"]
    assert [row[0] for row in exponents[1:]] == ["attacker's shift", "honest spread", "difference"]
    # The other side of chapter 4's law: the flat sandals at the sweep's point η = 0.01, on the same seeds;
    # only their run is new (the striped T-shirts' there is the sweep's own).
    assert values["other_point"] == "0.01"
    # The striped T-shirts at the point are the sweep's runs there: the same AUC as the sweep's.
    assert values["bias_auc_by_lr"].startswith(f"η = 0.01: {values['bias_auc_default']}")
    side = next(t for t in html_tables(path) if t[0] == ["", "striped T-shirts", "flat sandals"])
    assert_the_other_side(values, "η = 0.01", side)
    assert unreadable_outputs(path) == []


def test_the_other_side_can_be_skipped():
    """other_semantic_set="" (skip the other side) passes the parameter check; a value of another kind stops
    the run there, naming the parameter."""
    assert parameter_check("06_learning_rate", other_semantic_set="") is None
    error = parameter_check("06_learning_rate", other_semantic_set=3)
    assert isinstance(error, ParameterError) and "other_semantic_set" in str(error)


@pytest.mark.parametrize("parameters, message", [
    (dict(lr=0.1), "this chapter has no parameter 'lr'; its parameters: dataset, "),
    (dict(lr_values=0.1), "parameter lr_values=0.1 should be like its default "
                          "lr_values=[0.003, 0.01, 0.03, 0.1] (list)"),
])
def test_a_mistyped_parameter_stops_the_run(parameters, message):
    """The chapter stops at its parameter check, before anything is trained, naming the parameter."""
    error = parameter_check("06_learning_rate", **parameters)
    assert isinstance(error, ParameterError) and message in str(error)
