"""Chapter 5 with tiny parameters: a clean run and a run with two attackers sharing the paper's poison."""

import json
import math

import pytest

from flsim import theory
from flsim.notebook import ParameterError

from .conftest import assert_reads_well, papermill_cli, parameter_check

TINY = dict(num_clients=4, samples_per_client=80, num_rounds=2, eval_samples=200, server_share=0.05,
            num_malicious_values=[0, 2], seeds=[0])


def test_the_chapter_with_tiny_parameters(run_chapter, tmp_path):
    values = run_chapter("05_num_malicious", nbval=True, **TINY)
    assert_reads_well(tmp_path / "05_num_malicious.ipynb")
    assert values["num_runs"] == 2 and values["num_attacked"] == 1
    assert values["m_low"] == values["m_high"] == 2
    assert values["local_steps"] == 2  # 80 samples in batches of 64
    # Two attackers, step m*r = 20 through 80 samples: 4 poisoned each, 8 in total.
    assert values["poison_total_low"] == 8
    assert values["predicted_low"] == pytest.approx(theory.predicted_bias_shift(80, 2, 10, 0.01, 64, 1, 4))
    assert 0 <= values["clean_backdoor"] <= 1 and 0 <= values["backdoor_max"] <= 1
    assert values["backdoor_by_m"].startswith("m = 0: ") and "m = 2: " in values["backdoor_by_m"]
    assert 0 <= values["bias_auc_low"] <= 1 and values["bias_auc_low"] == values["bias_auc_high"]
    assert values["bias_ratio_low"] > 0 and values["auc_se"] > 0
    assert values["bias_top_auc"] in (0, 1) and values["bias_top_ratio"] in (0, 1)
    assert values["best_by_m"].startswith("m = 2: ")
    assert not math.isnan(values["shift_low"]) and values["shift_fraction_low"] == pytest.approx(
        values["shift_low"] / values["predicted_low"], rel=1e-6)
    assert any(word in values["verdict"] for word in ("holds", "does not hold"))


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
