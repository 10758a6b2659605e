"""Chapter 5 with tiny parameters: a clean run and a run with two attackers sharing the paper's poison."""

import json
import re

import pytest

from flsim import notebook, theory
from flsim.notebook import ParameterError

from .conftest import (
    assert_reads_well, assert_the_other_side, html_tables, papermill_cli, parameter_check,
    unreadable_outputs,
)

TINY = dict(num_clients=4, samples_per_client=80, num_rounds=2, eval_samples=200, server_share=0.05,
            num_malicious_values=[0, 2], seeds=[0], other_m=2)
INTERVAL = r"-?\d+\.\d+ \[-?\d+\.\d+, -?\d+\.\d+\]"  # "0.81 [0.48, 1.00]"


def test_the_chapter_with_tiny_parameters(run_chapter, tmp_path):
    values = run_chapter("05_num_malicious", **TINY)
    path = tmp_path / "05_num_malicious.ipynb"
    assert_reads_well(path)
    assert values["num_runs"] == 2 and values["num_values"] == 1 and values["num_tensors"] == 8
    assert values["m_low"] == values["m_high"] == 2
    assert values["local_steps"] == 2  # 80 samples in batches of 64
    # The overview's counts are this run's: 2 rounds x 4 clients x 80 images.
    assert (values["client_passes"], values["samples"], values["m_values"]) == ("640", 80, "0, 2")
    # Two attackers, step m*r = 20 through 80 samples: 4 poisoned each, 8 in total.
    assert values["poison_total_low"] == 8
    assert values["predicted_low"] == pytest.approx(theory.predicted_bias_shift(80, 2, 10, 0.01, 64, 1, 4))
    # Every number compared across settings carries its interval: [lowest, highest seed] for accuracies.
    assert re.fullmatch(r"m = 0: \d+% \[\d+%, \d+%\]; m = 2: \d+% \[\d+%, \d+%\]", values["backdoor_by_m"])
    for name in ("bias_auc_low", "bias_auc_high", "bias_ratio_low", "best_auc_high", "shift_sd_low"):
        assert re.fullmatch(INTERVAL, values[name]), (name, values[name])
    assert values["bias_auc_low"] == values["bias_auc_high"] and values["bias_auc_by_m"] == f"m = 2: {values['bias_auc_low']}"
    assert values["bias_top_auc"] in (0, 1) and values["bias_top_ratio"] in (0, 1)
    assert values["bias_clear"] <= values["bias_top_auc"]
    assert values["best_by_m"].startswith("m = 2: ")
    assert re.fullmatch(r"-?\d\.\d{5} \[-?\d\.\d{5}, -?\d\.\d{5}\]", values["shift_low"])
    assert any(word in values["verdict"] for word in ("holds", "does not hold"))
    assert not notebook.uncertain_claims(values["verdict"])
    # A win within two standard errors of chance supports nothing: the verdict counts only clear ones.
    auc, lo = (float(x) for x in re.findall(r"[\d.]+", values["bias_auc_low"])[:2])
    assert f"at {values['bias_clear']} of 1 by ROC-AUC" in values["verdict"]
    if lo <= 0.5:
        assert values["bias_clear"] == 0
    # One attacked value: no trend to read, and the verdict says so.
    assert "This run has one number of attackers, so it shows no trend." in values["verdict"]

    # The tables fit the page (notebook.table raised otherwise), the output bias's columns first; the
    # clean run's cells are blank, and no output shows nan, a negative zero or '(s)'.
    rule, per_run, case, tensors, shift = html_tables(path)[:5]
    assert rule[0][1:3] == ["poisoned each", "in total"] and rule[2][:3] == ["2", "4", "8"]
    assert per_run[0][2:4] == ["fc2.bias AUC", "fc2.bias ratio"] and per_run[1][:2] == ["m", "seed"]
    assert per_run[2][:4] == ["0", "0", "", ""] and float(per_run[3][2]) == pytest.approx(auc, abs=0.005)
    assert case[0][1:] == ["fc2.bias AUC", "AUC rank", "fc2.bias ratio", "ratio rank", "top in seeds"]
    seeds = len(TINY["seeds"])  # the seeds in which fc2.bias tops its run, by AUC / ratio
    assert all(re.fullmatch(rf"[0-{seeds}] / [0-{seeds}] of {seeds}", row[5]) for row in case[2:])
    assert case[2][1] == values["bias_auc_low"] and case[2][3] == values["bias_ratio_low"]
    assert tensors[1][:2] == ["m", "tensor"] and tensors[2][:3] == ["2", "fc2.bias", values["bias_auc_low"]]
    assert len(tensors) == 2 + 8
    assert shift[0][1:3] == ["measured", "predicted"] and shift[2][1] == values["shift_low"]
    assert unreadable_outputs(path) == []

    # The other side of chapter 4's law: the flat sandals at one point of the sweep (m = 2 here), on the
    # same seeds; only their run is new (the striped T-shirts' there is the sweep's own).
    assert values["other_point"] == 2
    assert values["bias_auc_default"] == values["bias_auc_low"]  # the sweep's own runs at m = 2
    assert_the_other_side(values, "m = 2", html_tables(path)[5])


def test_a_mistyped_parameter_stops_the_run():
    """The chapter stops at its parameter check, before anything is trained, naming the parameter."""
    error = parameter_check("05_num_malicious", num_malicious_values=3, num_rounds=2)
    assert isinstance(error, ParameterError) and ("parameter num_malicious_values=3 should be like its default "
                                                  "num_malicious_values=[0, 1, 2, 4] (list)" in str(error))


def test_a_mistyped_parameter_stops_papermill(tmp_path):
    """papermill's own command line exits non-zero at the chapter's parameter check, before anything is
    trained, naming the parameter (the intro's old example, -p num_malicious 3, was such a run)."""
    message = "this chapter has no parameter 'num_malicious' (did you mean 'num_malicious_values'?)"
    run = papermill_cli("05_num_malicious", tmp_path, "-p", "num_malicious", "3", "-p", "num_rounds", "2")
    output = tmp_path / "05_num_malicious.ipynb"
    assert run.returncode != 0
    assert f"ParameterError: {message}" in run.stdout + run.stderr
    executed = [c for c in json.loads(output.read_text())["cells"] if c.get("execution_count")]
    assert "notebook.check_parameters()" in "".join(executed[-1]["source"])  # it stopped there
