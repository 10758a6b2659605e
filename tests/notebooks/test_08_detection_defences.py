"""Chapter 8 with tiny parameters: 5 clients x 60 samples, 2 rounds, four defences (Krum needs 5 clients)."""

import math

import nbformat
import pytest

from flsim.notebook import ParameterError

from .conftest import assert_reads_well, parameter_check

TINY = dict(num_clients=5, samples_per_client=60, num_rounds=2, eval_samples=100, server_share=0.05,
            dba_attackers=2, aggregator_values=["fedavg", "krum", "foolsgold", "bias_filter"])


def shown(notebook, mime):
    """Every ``mime`` output of the executed notebook's code cells, in order."""
    return [o["data"][mime] for c in notebook.cells if c.cell_type == "code" for o in c.outputs
            if mime in o.get("data", {})]


def test_the_chapter_with_tiny_parameters(run_chapter, tmp_path):
    values = run_chapter("08_detection_defences", **TINY)
    assert values["num_runs"] == 4 * 4 + 1  # attacks x defences + the attack-free run
    assert values["compute_seconds"] > 0
    for attack in ("semantic", "trigger", "replacement", "dba"):
        for name in (f"paper_auc_{attack}", f"best_auc_{attack}", f"paper_tpr_{attack}",
                     f"undefended_peak_{attack}"):
            assert 0 <= values[name] <= 1, name
        assert values[f"best_auc_{attack}"] >= values[f"paper_auc_{attack}"]
    assert 0 <= values["paper_best_count"] <= 4
    assert 0 <= values["paper_clean_fpr"] <= values["max_clean_fpr"] <= 1
    assert values["paper_rounds_semantic"] in ("never", "1", "2")
    assert 0 <= values["stopped_count"] <= 4
    assert (values["stopped_names"] == "none") == (values["stopped_count"] == 0)
    assert values["worst_cost_name"] in TINY["aggregator_values"]
    for name in ("filter_tpr_semantic", "filter_fpr_mean", "filter_peak_replacement", "filter_tpr_dba"):
        assert 0 <= values[name] <= 1 or math.isnan(values[name]), name
    assert "detector" in values["verdict"]
    assert 0 <= values["foolsgold_auc_max"] <= 1 and isinstance(values["working_attacks"], str)
    for name in ("foolsgold_fpr_lone", "foolsgold_tpr_lone", "foolsgold_peak_semantic"):
        assert 0 <= values[name] <= 1, name
    assert math.isfinite(values["foolsgold_cost"])
    assert (values["dba_attackers"], values["dba_dose"]) == (2, 4)  # one sample in m * r
    assert (values["krum_f"], values["multi_krum_kept"], values["num_detectors"]) == (1, 4, 7)
    assert values["foolsgold_note"].startswith("FoolsGold ")
    assert ("against its purpose" in values["foolsgold_note"]) == (
        values["foolsgold_fpr_lone"] > values["foolsgold_tpr_lone"])

    # The executed notebook reads without the book: captions, DataFrames, the findings table.
    path = tmp_path / "08_detection_defences.ipynb"
    assert_reads_well(path)
    notebook = nbformat.read(path, as_version=4)
    assert len(shown(notebook, "image/png")) == 3
    tables = shown(notebook, "text/html")  # the tables render as DataFrames, the wide one whole
    assert len(tables) == 6 and values["verdict"] in tables[-1]
    assert tables[2].count("<tr>") == 1 + 4 * 4  # the index names' row, then attacks x defences


@pytest.mark.parametrize("parameters, message", [
    (dict(replacement_scale=5.0), "this chapter has no parameter 'replacement_scale'"),  # now attack_scale
    (dict(defences=["fedavg"]), "this chapter has no parameter 'defences'"),  # now aggregator_values
])
def test_a_mistyped_parameter_stops_the_run(parameters, message):
    """The chapter stops at its parameter check, before anything is trained, naming the parameter."""
    error = parameter_check("08_detection_defences", **parameters)
    assert isinstance(error, ParameterError) and message in str(error)
