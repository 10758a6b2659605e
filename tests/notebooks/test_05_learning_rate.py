"""Chapter 5 with tiny parameters: one attacker at two learning rates."""

import math

TINY = dict(num_clients=4, samples_per_client=80, num_rounds=2, eval_samples=200, server_share=0.05,
            lr_values=[0.01, 0.05], seeds=[0])


def test_chapter_05(run_chapter):
    values = run_chapter("05_learning_rate", **TINY)
    assert values["num_runs"] == 2 and values["num_values"] == 2
    assert values["lr_low"] == 0.01 and values["lr_high"] == 0.05
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
