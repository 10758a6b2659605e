"""Chapter 3 with tiny parameters: 4 clients x 64 samples, 2 rounds, one seed plus the trigger contrast."""

import math

import pytest

from .conftest import assert_reads_well

TINY = dict(num_clients=4, samples_per_client=64, num_rounds=2, eval_samples=200, server_share=0.05,
            seeds=[0], contrast_attack="trigger")


def test_the_chapter_with_tiny_parameters(run_chapter, tmp_path):
    values = run_chapter("03_localisation", **TINY)
    assert_reads_well(tmp_path / "03_localisation.ipynb")

    assert "fig-localisation-ratio" in values  # pasted into the introduction
    assert math.isfinite(values["intro_bias_ratio"]) and values["intro_bias_ratio"] > 0
    assert values["num_chosen"] == 4 and values["attacked_rounds"] == 2 and values["runs_count"] == 2
    assert values["auc_positives"] == 2 and values["auc_negatives"] == 6  # one attacker of 4, two rounds

    for name in ("bias_auc", "bias_auc_l2", "best_auc", "target_up_share", "source_down_share"):
        assert 0 <= values[name] <= 1, name
    assert values["best_auc"] >= values["bias_auc"]
    assert values["top_ratio"] >= values["intro_bias_ratio"]
    for name in ("bias_ratio_rank", "bias_auc_rank"):
        assert 1 <= values[name] <= 8, name
    assert (values["top_ratio_layer"] == "fc2.bias") == (values["bias_ratio_rank"] == 1)

    assert 0 <= values["bias_top_count"] <= 2
    assert (values["bias_top_rounds"] == "none") == (values["bias_top_count"] == 0)
    assert 1 <= values["bias_median_rank"] <= 4

    expected = {2: "holds", 1: "holds only in part", 0: "does not hold"}
    assert values["verdict"] == expected[(values["bias_auc_rank"] == 1) + (values["bias_ratio_rank"] == 1)]
    assert values["target_name"] == "Pullover" and values["source_name"] == "T-shirt/top"
    assert 0 <= values["runs_bias_best_auc"] <= 2 and 0 <= values["runs_bias_best_ratio"] <= 2
    assert values["compute_seconds"] > 0

    # Sentences computed from the run, not written for the defaults.
    assert values["fc1_entries"] == f"{6272 * 128:,}"  # the model's, not a number typed into the text
    assert (values["samples"], values["local_steps"], values["num_poisoned"]) == (64, 1, 7)  # positions 0, 10, .., 60
    held = values["backdoor_accuracy_max"] >= 0.5
    assert values["backdoor_held"] == ("the backdoor took hold" if held else "the backdoor has not taken hold")
    assert values["auc_two_se"] == pytest.approx(2 * values["bias_auc_se"])
    assert values["seed_note"].startswith("With one seed")  # seeds=[0]
    assert values["contrast_note"].startswith("With the trigger backdoor the attacker deviates more than")
    assert values["spread"].startswith(("about the honest", "well beyond"))
    assert "singled out" in values["singled_out"]
    assert values["bias_best_by"] in ("AUC and ratio", "AUC", "ratio", "neither AUC nor ratio")

    # The deeper model, read with the same measures (ResNet-8: 47 tensors, 18 of them BatchNorm statistics).
    assert (values["deeper_name"], values["deeper_bias"]) == ("resnet8", "fc.bias")
    assert (values["deeper_tensors"], values["deeper_buffers"]) == (47, 18)
    stays = values["deeper_verdict"] == "stays in the output bias"
    assert stays or values["deeper_verdict"] == "does not stay in the output bias"
    assert values["deeper_finding"].startswith("in resnet8, fc.bias ranks ")
    z_rank = int(values["deeper_finding"].split(" and ")[1].split(" by the attacker")[0])
    assert stays == (z_rank == 1)  # the verdict follows the rank it states
