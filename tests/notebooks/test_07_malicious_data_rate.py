"""Chapter 7 with tiny parameters: one attacker at two malicious data rates, and the other side of chapter 4's
axis (the flat sandals) at the larger dose."""

import re

import nbformat
import pytest

import flsim
from flsim import notebook, semantic
from flsim.notebook import ParameterError

from .conftest import assert_reads_well, html_tables, parameter_check, unreadable_outputs

TINY = dict(num_clients=4, samples_per_client=80, num_rounds=2, eval_samples=200, server_share=0.05,
            malicious_data_rate_values=[2, 10], seeds=[0])
INTERVAL = r"-?\d+\.\d+ \[-?\d+\.\d+, -?\d+\.\d+\]"  # "0.49 [0.09, 1.52]"


def shown(notebook, mime):
    """Every ``mime`` output of the executed notebook's code cells, in order."""
    return [o["data"][mime] for c in notebook.cells if c.cell_type == "code" for o in c.outputs
            if mime in o.get("data", {})]


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
    assert "with the dose" in values["verdict"] and not notebook.uncertain_claims(values["verdict"])
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
    assert len(tables) == 6 and values["dose"] in tables[-1] and values["verdict"] in tables[-1]
    # The per-tensor table fits the page however many rates (notebook.table raised otherwise), with
    # fc2.bias first at each rate.
    per_run, case, tensors, shift = html_tables(path)[:4]
    assert per_run[0][2:4] == ["fc2.bias AUC", "fc2.bias ratio"] and per_run[1][:2] == ["r", "seed"]
    assert case[0][1:] == ["fc2.bias AUC", "AUC rank", "fc2.bias ratio", "ratio rank", "top in seeds"]
    seeds = len(TINY["seeds"])  # the seeds in which fc2.bias tops its run, by AUC / ratio
    assert all(re.fullmatch(rf"[0-{seeds}] / [0-{seeds}] of {seeds}", row[5]) for row in case[2:])
    assert tensors[0][2:] == ["AUC", "ratio"] and tensors[1][:2] == ["r", "tensor"]
    assert tensors[2][:2] == ["2", "fc2.bias"] and tensors[10][:2] == ["10", "fc2.bias"]
    assert shift[0][1:] == ["measured", "predicted", "÷ predicted", "÷ honest sd"]
    sides = html_tables(path)[4]  # the other side of the axis: one column per backdoor
    assert sides[0][1:] == ["striped T-shirts", "flat sandals"] and sides[1][0] == "r = 2"
    assert [row[0] for row in sides[2:4]] == ["activation scale", "fc2.bias ROC-AUC"]
    assert unreadable_outputs(path) == []
    check_the_other_side(values)


def check_the_other_side(values):
    """The flat sandals at the largest dose beside the striped T-shirts: where the chapter's own pre-trained
    model puts them on chapter 4's axis, fc2.bias's ranks there, and the verdict's clause that names its
    measure."""
    predictors = semantic.named_set_predictors(
        flsim.Config(num_clients=4, samples_per_client=80, num_rounds=2, eval_samples=200, server_share=0.05,
                     seed=0, device="cpu"), ["striped_tshirts", "flat_sandals"])
    assert values["r_other"] == 2 and values["default_set_name"] == "striped T-shirts (the default)"
    assert values["default_scale"] == pytest.approx(predictors.activation_scale["striped_tshirts"])
    assert values["other_scale_text"] == f"{predictors.activation_scale['flat_sandals']:.2f}"
    low = predictors.activation_scale.idxmin().replace("tshirts", "T-shirts").replace("_", " ")
    assert values["law_prediction"].startswith(f"The law therefore predicts that fc2.bias leads for the {low}")
    side = values["other_side"]
    assert side.startswith("At r = 2, for the striped T-shirts fc2.bias ranks ") and not notebook.uncertain_claims(side)
    ranks = [int(r) for r in re.findall(r"fc2\.bias ranks (\d+) of 8 tensors by ROC-AUC", side)]
    assert len(ranks) == 2 and "; for the flat sandals fc2.bias ranks " in side
    # the striped T-shirts' numbers at r = 2 are the sweep's own, as the sections above quote them
    at_r2 = values["bias_ratio_by_r"].split("; ")[0].removeprefix("r = 2: ")
    assert f"by malicious/benign ratio ({at_r2};" in side.split("; for the flat sandals")[0]
    law = "as the law predicts" if ranks[1] < ranks[0] else "not as the law predicts" if ranks[1] > ranks[0] else (
        "the same rank on both sides: no difference the law's prediction could be read from")
    assert side.endswith(": " + law)  # the flat sandals sit lower on the axis (asserted above)
    assert values["other_word"] in ("holds", "does not hold") and (values["other_word"] == "holds") <= (ranks[1] == 1)
    assert f"the claim {values['other_word']} for the flat sandals" in values["other_clause"]
    assert values["verdict"].endswith(values["other_clause"] + ".")
    assert not notebook.uncertain_claims(values["verdict"])


def test_a_mistyped_parameter_stops_the_run():
    """The chapter stops at its parameter check, before anything is trained, naming the parameter."""
    error = parameter_check("07_malicious_data_rate", malicious_data_rate=5)
    assert isinstance(error, ParameterError) and (
        "this chapter has no parameter 'malicious_data_rate' (did you mean 'malicious_data_rate_values'?)"
        in str(error))
