"""Chapter 10 with tiny parameters: 5 clients x 60 samples, 2 rounds, one semantic backdoor and the trigger,
two seeds (section 3 on one)."""

import re

import nbformat
import pytest

from flsim.notebook import ParameterError

from .conftest import assert_reads_well, parameter_check, unreadable_outputs
from .test_08_detection_defences import assert_interval, counted, interval, shown

TINY = dict(num_clients=5, samples_per_client=60, num_rounds=2, eval_samples=100, server_share=0.05,
            semantic_set_values=["striped_tshirts"], seeds=[0, 1], strength_seeds=1)
TENSORS = ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias", "fc2.weight",
           "fc2.bias"]


def test_the_chapter_with_tiny_parameters(run_chapter, tmp_path):
    values = run_chapter("10_backdoor_location", **TINY)
    # 2 backdoors x 4 attacks x 2 seeds; 4 scaled attacks x (FedAvg, FLAME) x 1 seed; attack-free: 2 + 1
    assert values["num_runs"] == 2 * 4 * 2 + 4 * 2 + 3
    assert values["num_seeds_text"] == "2 seeds" and values["strength_seeds_text"] == "1 seed"
    assert values["num_models"] == 2 * 2 and 0 <= values["num_learned"] <= 4
    learned = values["num_learned"]
    assert values["home"] in TENSORS
    for name in ("home_critical", "bias_critical", "ratio_top_critical", "z_top_critical", "bias_top_ratio"):
        assert counted(values[name])[1] == learned, name
    if learned:  # the tensor critical most often is critical at least as often as fc2.bias
        assert counted(values["home_critical"])[0] >= counted(values["bias_critical"])[0] >= 0
        assert 1 <= values["smallest_critical"] <= values["largest_critical"] <= len(TENSORS)
        for name in ("home_alone_ci", "bias_alone_ci", "bias_removed_ci"):
            value, lo, hi = interval(values[name])
            assert lo <= value <= hi, name
    assert_interval(values["own_backdoor_ci"])
    assert values["bias_backdoor"] in ("striped T-shirts", "trigger")
    for backdoor in ("striped T-shirts", "trigger"):
        assert f"({backdoor})" in values["paper_auc_plain"] and f"for the {backdoor}" in values["ratio_leaders"]
    for attack in ("plain", "neurotoxin", "lp", "adaptive"):
        assert_interval(values[f"paper_auc_bias_backdoor_{attack}_ci"])
    assert values["hidden_total"] == 2 * 3
    assert 0 <= values["hidden_below"] <= 6 and 0 <= values["caught_anyway"] <= 6
    assert 0 <= values["plain_above"] <= 2
    for name in ("paper_clean_fpr_ci", "flame_clean_fpr", "flame_plain_tpr", "flame_lp_tpr"):
        assert_interval(values[name])
    for name in ("strong_plain_peak", "strong_lp_peak", "strong_neurotoxin_peak", "strong_adaptive_peak",
                 "flame_plain_peak"):
        assert 0 <= values[name] <= 1, name
    assert values["flame_note"].startswith("FLAME leaves")
    assert re.fullmatch(r"\d+\.\d points (below|above) FedAvg's", values["flame_clean_main_text"])
    verdict = values["verdict"]
    assert values["home"] in verdict and values["bias_critical"] in verdict
    assert "one poisoned sample in 2 of 60" in verdict and "2 seeds" in verdict
    # the verdict: one claim per sentence, each at most 40 words, its AUCs with their intervals
    assert all(len(sentence.split()) <= 40 for sentence in re.split(r"(?<=\.) ", verdict))
    assert values["paper_auc_bias_backdoor_plain_ci"] in verdict and values["paper_auc_bias_backdoor_lp_ci"] in verdict
    assert f"in {values['hidden_below']} of {values['hidden_total']} cases" in verdict

    path = tmp_path / "10_backdoor_location.ipynb"
    assert_reads_well(path)
    notebook = nbformat.read(path, as_version=4)
    assert len(shown(notebook, "image/png")) == 2
    tables = shown(notebook, "text/html")
    # own accuracies, one per backdoor, detection: one per backdoor + best + clean + peaks, FLAME, findings
    assert len(tables) == 1 + 2 + 2 + 3 + 1 + 1 and verdict in tables[-1]
    assert not unreadable_outputs(path)


@pytest.mark.parametrize("parameters, message", [
    (dict(neurotoxin_top="many"), "parameter neurotoxin_top='many' should be like its default "
                                  "neurotoxin_top=0.05 (number)"),
    (dict(seed=1), "this chapter has no parameter 'seed'"),  # seeds
])
def test_a_mistyped_parameter_stops_the_run(parameters, message):
    """The chapter stops at its parameter check, before anything is trained, naming the parameter."""
    error = parameter_check("10_backdoor_location", **parameters)
    assert isinstance(error, ParameterError) and message in str(error)
