"""Chapter 4 with tiny parameters: a map of two regimes x three backdoors x two doses, and the paper's
procedure cut down to two rounds of 80 samples per client."""

import pytest

TINY = dict(num_clients=4, local_training=[[40, 1, 2], [80, 2, 1]], map_rounds=1, paper_rounds=2,
            paper_samples_per_client=80, server_share=0.02, eval_samples=100)


def test_chapter_04(run_chapter):
    values = run_chapter("04_regimes", **TINY)
    # 40 samples x 1 epoch: 1 step; 80 x 2: 4 steps. Three backdoors; two doses where a regime has 2 seeds.
    assert values["steps_range"] == "1 to 4"
    assert values["num_settings"] == 3 * 2 + 3 * 1
    # Runs: 3 x 2 x 2 seeds at 1 step, 3 at 4 steps, one of which (striped T-shirts, r = 10) is the
    # paper's run: it is not run twice.
    assert values["num_runs"] == 12 + 3
    assert values["bias_first_count"] + values["other_first_count"] == values["num_settings"]
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
