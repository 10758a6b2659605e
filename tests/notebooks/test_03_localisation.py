"""Chapter 3 with tiny parameters: 4 clients x 64 samples, 2 rounds, one seed plus the trigger contrast and
the other side of chapter 4's axis (the flat sandals)."""

import math
import re

import nbformat
import pytest

import flsim
from flsim import analysis, notebook, semantic
from flsim.reference import reference_rounds

from .conftest import assert_reads_well, unreadable_outputs

TINY = dict(num_clients=4, samples_per_client=64, num_rounds=2, eval_samples=200, server_share=0.05,
            seeds=[0], contrast_attack="trigger")


def test_the_chapter_with_tiny_parameters(run_chapter, tmp_path):
    values = run_chapter("03_localisation", **TINY)
    assert_reads_well(tmp_path / "03_localisation.ipynb")
    assert not unreadable_outputs(tmp_path / "03_localisation.ipynb")  # no nan, -0.00 or "(s)"

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

    # fc2.bias counts by a measure where it is the top tensor over the seeds and its interval clears no
    # difference.
    expected = {2: "holds", 1: "holds only in part", 0: "does not hold"}
    by_auc = values["seeds_auc_rank"] == 1 and values["seeds_auc_low"] > 0.5
    by_ratio = values["seeds_ratio_rank"] == 1 and values["seeds_ratio_low"] > 1
    assert values["verdict"] == expected[by_auc + by_ratio]
    assert values["bias_best_by"] == (" and ".join(k for k, v in {"AUC": by_auc, "ratio": by_ratio}.items() if v)
                                      or "neither AUC nor ratio")
    assert values["seeds_count"] == 1  # seeds=[0]
    for name in ("seeds_auc_top", "seeds_ratio_top", "seeds_z_top"):
        assert 0 <= values[name] <= values["seeds_count"], name
    assert values["seeds_auc_top"] == (values["seeds_auc_rank"] == 1)  # one seed: its rank is the mean's

    # The other side of chapter 4's axis, from this chapter's own pre-trained model, and the verdict on both.
    predictors = semantic.named_set_predictors(
        flsim.Config(num_clients=4, samples_per_client=64, eval_samples=200, server_share=0.05, seed=0,
                     device="cpu"), ["striped_tshirts", "flat_sandals"])
    assert values["default_scale"] == pytest.approx(predictors.activation_scale["striped_tshirts"])
    assert values["other_scale_text"] == f"{predictors.activation_scale['flat_sandals']:.2f}"
    assert values["default_set_name"] == "striped T-shirts (the default)"
    assert values["other_set_name"] == "flat sandals" and values["other_verdict"] in expected.values()
    low = predictors.activation_scale.idxmin().replace("tshirts", "T-shirts").replace("_", " ")
    assert values["law_prediction"].startswith(f"the law predicts that fc2.bias leads more for the {low}")
    # The verdict, stated once in short sentences (flsim.analysis.localisation_verdict): the claim for the default
    # backdoor and what carries it, the other side of chapter 4's law and where the law stands by ROC-AUC rank (in
    # flsim.sides' words, as the section's other_note says them), and the deeper model; the numbers stay in the
    # tables.
    carried = {"AUC and ratio": "is the top tensor by ROC-AUC and by ratio, clear of no difference",
               "AUC": "is the top tensor by ROC-AUC, clear of no difference, but not by ratio",
               "ratio": "is the top tensor by ratio, clear of no difference, but not by ROC-AUC",
               "neither AUC nor ratio": "is not the top tensor, clear of no difference, by ROC-AUC or by ratio",
               }[values["bias_best_by"]]
    assert values["verdict_text"].startswith(f"The paper's claim {values['verdict']} for the striped T-shirts, the "
                                             f"book's default backdoor: over 1 seed fc2.bias {carried}. On the other "
                                             f"side of chapter 4's law, the claim {values['other_verdict']} for the "
                                             "flat sandals")
    law = re.search(r"By ROC-AUC rank, [^.]*\.", values["verdict_text"]).group()
    assert law.endswith(("as chapter 4's law predicts.", "against chapter 4's law.", "for the flat sandals.",
                         "for the striped T-shirts."))
    assert law in values["other_note"]  # the section and the verdict read the law alike (flsim.sides.law_text)
    assert all(len(sentence.split()) <= 40 for sentence in re.split(r"(?<=\.) (?=[A-Z])", values["verdict_text"]))
    assert values["claim_text"].startswith(f"The paper's claim (by ROC-AUC and by ratio) {values['verdict']} ")
    assert values["other_note"].startswith(  # flsim.sides.side_verdict: the one rule, the section's sentence
        f"At this chapter's setting the paper's claim (by ROC-AUC and by ratio) {values['verdict']} for the striped "
        f"T-shirts") and f" {values['other_verdict']} for the flat sandals" in values["other_note"]
    assert values["num_other_runs"] == 1  # the flat sandals' one seed; the T-shirts' run is the chapter's
    assert not notebook.uncertain_claims(values["verdict_text"])  # every decimal with its interval
    for name in ("bias_auc_text", "best_auc_text", "bias_ratio_text", "top_ratio_text", "target_z_text",
                 "target_round_z_text", "main_accuracy_text"):  # every compared number with its interval
        assert re.fullmatch(r"[+-]?[\d.]+%? \[[+-]?[\d.]+%?, [+-]?[\d.]+%?\]", values[name]), name
    assert values["target_name"] == "Pullover" and values["source_name"] == "T-shirt/top"
    assert 0 <= values["runs_bias_best_auc"] <= 2 and 0 <= values["runs_bias_best_ratio"] <= 2
    assert values["compute_seconds"] > 0
    assert values["work_text"].startswith("Each run trains ")
    assert "(2 rounds x 4 clients x 64 samples x 1 epoch," in values["work_text"]
    assert values["poison_positions_text"] == "0, 10, 20, ..." and values["epochs_text"] == "1 local epoch"
    # Generated counts read as written: no "1 rounds", no "(s)".
    for name, value in values.items():
        if isinstance(value, str):
            plural = r"\b1 (rounds|clients|samples|epochs|runs|models|steps|images|classes)\b|\(s\)"
            assert not re.search(plural, value), name

    # The bias shift, named: chapter 3's pooled z-score and chapter 1's per-round one, for the same run.
    run = flsim.run(flsim.Config(num_clients=4, samples_per_client=64, num_rounds=2, eval_samples=200,
                                 server_share=0.05, seed=0))
    rounds = analysis.bias_shift(run)
    per_round = (rounds.malicious - rounds.benign_mean) / rounds.benign_sd  # as chapter 1 computes it
    assert values["target_round_z"] == pytest.approx(per_round.mean())
    target = run.output_bias[(run.output_bias["class"] == run.config.target_class)]
    honest = target[~target.malicious].deviation
    pooled = (target[target.malicious].deviation.mean() - honest.mean()) / honest.std()
    assert values["target_z"] == pytest.approx(pooled)

    # The reference run's top rounds, computed from its log as the appendix lists them.
    reference = reference_rounds()
    top = reference[reference.attacker_rank == 1]["round"].tolist()
    assert values["ref_top_rounds"] == analysis.round_ranges(top) == "1-5, 16 and 20"
    assert (values["ref_top_count"], values["ref_rounds"], values["ref_streak"]) == (len(top), len(reference), 5)
    assert values["ref_later_top"] == len(top) - 5

    # Sentences computed from the run, not written for the defaults.
    assert values["fc1_entries"] == f"{6272 * 128:,}"  # the model's, not a number typed into the text
    assert (values["samples"], values["local_steps"], values["num_poisoned"]) == (64, 1, 7)  # positions 0, 10, .., 60
    held = values["backdoor_accuracy_max"] >= 0.5
    assert values["backdoor_held"] == ("the backdoor took hold" if held else "the backdoor has not taken hold")
    assert values["auc_two_se"] == pytest.approx(2 * values["bias_auc_se"])
    assert values["seed_note"].startswith("With one seed")  # seeds=[0]
    assert values["contrast_note"].startswith("With the trigger backdoor (1 seed) the attacker deviates more than")
    assert values["spread"].startswith(("about the honest", "well beyond"))
    assert "singled out" in values["singled_out"]
    assert values["bias_best_by"] in ("AUC and ratio", "AUC", "ratio", "neither AUC nor ratio")

    # The deeper model, read with the same measures (ResNet-8: 47 tensors, 18 of them BatchNorm statistics).
    assert (values["deeper_name"], values["deeper_bias"]) == ("resnet8", "fc.bias")
    assert (values["deeper_tensors"], values["deeper_buffers"]) == (47, 18)
    stays = values["deeper_verdict"] == "stays in the output bias"
    assert stays or values["deeper_verdict"] == "does not stay in the output bias"
    assert values["deeper_finding"].startswith("in resnet8's first seed, fc.bias ranks ")
    z_rank = int(values["deeper_finding"].split(" and ")[1].split(" by the attacker")[0])
    assert stays == (z_rank == 1)  # the verdict follows the rank it states
    # Its caveat: its seeds and its test accuracy (with interval) beside the CNN's, in the finding and the verdict.
    assert values["deeper_seeds"] == 1 and values["deeper_z_top"] == (z_rank == 1)
    assert "first seed" in values["deeper_finding"] and "(resnet8, 1 seed, by the attacker's robust z-score) " \
        f"the anomaly {values['deeper_verdict']}" in values["verdict_text"]
    assert f"(the paper's CNN {values['main_accuracy_text']})" in values["deeper_finding"]
    far = "far from trained here" in values["verdict_text"]
    assert far == values["deeper_note"].startswith("With 1 local SGD step per round at learning rate 0.01")
    deep_accuracy = float(values["deeper_finding"].split("resnet8 reaches ")[1].split("%")[0]) / 100
    assert far == (deep_accuracy < values["main_accuracy"] - 0.1)

    executed = nbformat.read(tmp_path / "03_localisation.ipynb", as_version=4)
    findings = next(o["data"]["text/html"] for c in executed.cells if c.cell_type == "code"
                    for o in c.get("outputs", []) if "<th>finding</th>" in o.get("data", {}).get("text/html", ""))
    assert values["verdict_text"] in findings and "pooled z-score" in findings
    assert values["deeper_finding"] in findings
    # attacker_z is defined (a robust z-score) where a reader first meets it.
    first = next(c for c in executed.cells
                 if "attacker_z" in c.source or "attacker_z" in str(c.get("outputs", "")))
    assert first.cell_type == "markdown" and "robust z-score" in first.source
    # The cross-run and rank tables show the columns the text is about (notebook.table checks the width).
    outputs = [str(c.get("outputs", "")) for c in executed.cells if c.cell_type == "code"]
    assert any("fc2.bias AUC" in o and "best by ratio" in o for o in outputs)
    sides = next(o for o in outputs if "activation scale" in o and "seeds with the largest robust z" in o)
    assert "striped T-shirts" in sides and "flat sandals" in sides
    ranks = next(o for c, o in zip([c for c in executed.cells if c.cell_type == "code"], outputs)
                 if "rank_values(" in c.source)
    tensors = [f"{layer}.{kind}" for layer in ("conv1", "conv2", "fc1", "fc2") for kind in ("weight", "bias")]
    assert {t for t in tensors if t in ranks} == {"fc2.bias", values["best_auc_layer"], values["top_ratio_layer"]}
