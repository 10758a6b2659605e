"""Chapter 7 with tiny parameters: one attacker at two malicious data rates, and the other side of chapter 4's
axis (the flat sandals) at the larger dose."""

import re

import nbformat

from flsim import notebook
from flsim.notebook import ParameterError

from .conftest import (assert_reads_well, assert_the_other_side, html_tables, parameter_check, shown,
                       unreadable_outputs)

TINY = dict(num_clients=4, samples_per_client=80, num_rounds=2, eval_samples=200, server_share=0.05,
            malicious_data_rate_values=[2, 10], seeds=[0])
INTERVAL = r"-?\d+\.\d+ \[-?\d+\.\d+, -?\d+\.\d+\]"  # "0.49 [0.09, 1.52]"


def test_the_chapter_with_tiny_parameters(run_chapter, tmp_path):
    values = run_chapter("07_malicious_data_rate", **TINY)
    assert values["num_runs"] == 3 and values["num_values"] == 2 and values["samples"] == 80  # the flat sandals: 1
    assert values["num_tensors"] == 8 and values["dataset_name"] == "Fashion-MNIST"
    assert values["client_passes"] == "640" and values["eval_samples"] == "200"
    assert values["dose"] == "r = 2: 40, r = 10: 8"  # positions 0, r, 2r, ... of 80
    # Every number compared across rates carries its interval.
    for name in ("backdoor_by_r", "bias_auc_by_r", "bias_ratio_by_r", "fraction_by_r", "best_by_r",
                 "best_ratio_by_r", "sd_units_by_r"):
        assert values[name].startswith("r = 2: ") and "r = 10: " in values[name], name
        assert values[name].count("[") >= 2, name
    for name in ("exponent_shift", "min_auc_high_dose", "best_auc_low_dose"):
        assert re.fullmatch(INTERVAL, values[name]), (name, values[name])
    assert values["backdoor_max_r"] in (2, 10) and 0 <= values["bias_clear"] <= values["bias_top_auc"] <= 2
    assert "With a larger dose, fc2.bias's malicious/benign ratio " in values["verdict"]
    assert not notebook.uncertain_claims(values["verdict"])
    assert (values["r_high_dose"], values["r_low_dose"]) == (2, 10)
    assert 1 <= values["bias_ratio_rank_high_dose"] <= 8
    # The sentences about the doses follow this run's intervals: a tensor counts when it clears chance.
    weakest_lo = float(re.findall(r"[\d.]+", values["min_auc_high_dose"])[1])
    best_lo = float(re.findall(r"[\d.]+", values["best_auc_low_dose"])[1])
    assert ("whole update" in values["high_dose_note"]) == (weakest_lo > 0.5)
    assert ("hides" in values["low_dose_note"]) == (best_lo <= 0.5)

    # The executed notebook reads without the book: captions, DataFrames, the findings table.
    path = tmp_path / "07_malicious_data_rate.ipynb"
    assert_reads_well(path)
    executed = nbformat.read(path, as_version=4)
    assert len(shown(executed, "image/png")) == 4
    tables = shown(executed, "text/html")  # the tables render as DataFrames
    assert len(tables) == 7 and values["dose"] in tables[-1] and values["verdict"] in tables[-1]
    # The per-tensor table fits the page however many rates (notebook.table raised otherwise), with
    # fc2.bias first at each rate.
    per_run, case, tensors, shift, exponents = html_tables(path)[:5]
    assert per_run[0][2:4] == ["fc2.bias AUC", "fc2.bias ratio"] and per_run[1][:2] == ["r", "seed"]
    assert case[0][1:] == ["fc2.bias AUC", "AUC rank", "fc2.bias ratio", "ratio rank", "top in seeds"]
    seeds = len(TINY["seeds"])  # the seeds in which fc2.bias tops its run, by AUC / ratio
    assert all(re.fullmatch(rf"[0-{seeds}] / [0-{seeds}] of {seeds}", row[5]) for row in case[2:])
    assert tensors[0][2:] == ["AUC", "ratio"] and tensors[1][:2] == ["r", "tensor"]
    assert tensors[2][:2] == ["2", "fc2.bias"] and tensors[10][:2] == ["10", "fc2.bias"]
    assert shift[0][1:] == ["measured", "predicted", "÷ predicted", "÷ honest sd"]
    assert [row[0] for row in exponents[1:]] == ["attacker's shift", "honest spread", "difference"]
    sides = html_tables(path)[5]  # the other side of the axis: one column per backdoor
    assert sides[0][1:] == ["striped T-shirts", "flat sandals"] and sides[1][0] == "r = 2"
    assert unreadable_outputs(path) == []
    # flsim.sides at the largest dose, as chapters 5 and 6 use it, its verdict's clause in the verdict
    assert values["other_point"] == 2
    assert_the_other_side(values, "r = 2", sides)
    # One computation per number: the striped T-shirts at r = 2 are the sweep's own runs, and the
    # other side's table quotes the intervals the sections above quote for them.
    rows = {row[0]: row[1:] for row in sides[2:]}
    at_r2 = {name: values[name].split("; ")[0].removeprefix("r = 2: ")
             for name in ("bias_ratio_by_r", "bias_auc_by_r")}
    assert rows["fc2.bias ratio [95% CI]"][0] == at_r2["bias_ratio_by_r"]
    assert rows["fc2.bias AUC [2 SE]"][0] == values["bias_auc_default"] == at_r2["bias_auc_by_r"]
    assert rows["seeds with the largest robust z"][0] in ("0 of 1", "1 of 1")
    assert values["scales_text"] in tables[-1]
    # a ratio at its ceiling (9 with one attacker among 10 clients; 3 among 4 here) is marked and said
    ceiling = rows["fc2.bias ratio [95% CI]"]
    assert any(cell.endswith(" (ceiling)") for cell in ceiling) == ("sits at its ceiling of 3" in values["other_note"])


def test_a_mistyped_parameter_stops_the_run():
    """The chapter stops at its parameter check, before anything is trained, naming the parameter."""
    error = parameter_check("07_malicious_data_rate", malicious_data_rate=5)
    assert isinstance(error, ParameterError) and (
        "this chapter has no parameter 'malicious_data_rate' (did you mean 'malicious_data_rate_values'?)"
        in str(error))
