"""Chapter 6 with tiny parameters: one attacker at two malicious data rates."""

import math

TINY = dict(num_clients=4, samples_per_client=80, num_rounds=2, eval_samples=200, server_share=0.05,
            malicious_data_rate_values=[2, 10], seeds=[0])


def test_chapter_06(run_chapter):
    values = run_chapter("06_malicious_data_rate", **TINY)
    assert values["num_runs"] == 2 and values["num_values"] == 2 and values["samples"] == 80
    assert values["dose"] == "r = 2: 40, r = 10: 8"  # positions 0, r, 2r, ... of 80
    for name in ("backdoor_by_r", "bias_auc_by_r", "bias_ratio_by_r", "fraction_by_r", "best_by_r"):
        assert values[name].startswith("r = 2: ") and "r = 10: " in values[name], name
    assert values["backdoor_max_r"] in (2, 10) and 0 <= values["backdoor_max"] <= 1
    assert 0 <= values["bias_top_auc"] <= 2 and values["auc_se"] > 0
    assert math.isnan(values["exponent_shift"]) or -3 < values["exponent_shift"] < 3
    assert "with the dose" in values["verdict"]
    assert (values["r_high_dose"], values["r_low_dose"]) == (2, 10)
    assert 0 <= values["min_auc_high_dose"] <= 1 and 1 <= values["bias_ratio_rank_high_dose"] <= 8
