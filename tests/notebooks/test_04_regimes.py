"""Chapter 4 with tiny parameters: a map of two regimes x three backdoors x two doses, read in round 1
from panels, and the paper's procedure cut down to two rounds of 80 samples per client."""

import pytest

TINY = dict(num_clients=4, local_training=[[40, 1, 2], [80, 2, 1]], paper_rounds=2,
            paper_samples_per_client=80, server_share=0.02, eval_samples=100)


def test_the_chapter_with_tiny_parameters(run_chapter):
    values = run_chapter("04_regimes", **TINY)
    # 40 samples x 1 epoch: 1 step; 80 x 2: 4 steps. Three backdoors, two doses, at every regime.
    assert values["steps_range"] == "1 to 4"
    assert values["num_settings"] == 2 * 3 * 2
    # One panel per regime and seed; its points: 6 at 2 seeds, 6 at 1, one of which (striped T-shirts,
    # r = 10, 4 steps, seed 0) is the paper's run: it is not run twice.
    assert values["num_panels"] == 3 and values["num_runs"] == 12 + 6
    # The pool of every point lacks both semantic sets (20 images each).
    assert values["excluded_count"] == 40
    assert values["bias_first_count"] + values["other_first_count"] == values["num_settings"]
    assert 0 <= values["split_count"] <= 6  # only the regime with 2 seeds can split
    assert 0 <= values["seed_share"] <= 1
    assert 0 <= values["everything_count"] <= values["num_settings"]
    assert 0 <= values["held_count"] <= values["num_settings"]
    assert values["bias_share_by_steps"].startswith("1 steps: ") and "; 4 steps: " in values["bias_share_by_steps"]
    # The sentence that names where fc2.bias leads agrees with the count it states.
    if values["bias_first_count"]:
        assert values["bias_first"].count("steps, ") == values["bias_first_count"]
    else:
        assert values["bias_first"] == "none"
    assert values["paper_top_count"] == (0 if values["paper_top"] == "none"
                                         else len(values["paper_top"].split(", ")))
    assert values["quoted_top"] == "1, 2" and values["quoted_ratio_first"] == pytest.approx(3.27, abs=0.005)
    assert 0 <= values["paper_acc_last"] <= 1 and values["paper_best_tensor"] in (
        "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias", "fc2.weight",
        "fc2.bias")
    share = values["bias_first_count"] / values["num_settings"]
    where = ("holds everywhere" if share == 1 else "holds in most" if share >= 0.5 else
             "holds only in a small part" if share > 0 else "holds nowhere")
    assert where in values["verdict"]
