"""flsim.analysis.localisation_verdict (chapter 3 across its runs, and its verdict), on small hand-made inputs
with known answers: fake runs (tests/test_localisation_report.py's) and a fake flsim.sides.Sides."""

import itertools
import re
from types import SimpleNamespace

import pandas as pd

from flsim import analysis, notebook
from flsim.analysis import localisation_verdict as all_runs
from flsim.sides import LEFT_OUT, claim_said, law_text

from .test_localisation_report import fake_run

TENSORS = ("conv1.weight", "conv1.bias", "fc1.weight", "fc2.weight", "fc2.bias")


def test_runs_are_labelled_by_attack_and_seed():
    runs = [fake_run(seed=0), fake_run(seed=1, attack="trigger")]
    assert list(all_runs.run_summaries(runs)) == ["semantic, seed 0", "trigger, seed 1"]


def test_where_the_output_bias_stands_in_each_run():
    leads = {0: (1.2, 1.5, 2.0, 3.0, 4.0), 1: (1.3, 1.6, 2.5, 3.5, 5.0)}  # the same order of tensors
    runs = [fake_run(dict(zip(TENSORS, leads[s])), seed=s) for s in (0, 1)]
    runs.append(fake_run(dict(zip(TENSORS, (4.0, 1.2, 2.0, 3.0, 1.1))), seed=0, attack="trigger"))
    summaries = all_runs.run_summaries(runs)
    table, values = all_runs.standing_values(runs, summaries, "trigger")
    assert list(table.columns) == ["fc2.bias AUC", "best by AUC", "fc2.bias ratio", "best by ratio"]
    assert list(table.index) == ["semantic, seed 0", "semantic, seed 1", "trigger, seed 0"]
    assert table["best by ratio"].tolist() == ["fc2.bias", "fc2.bias", "conv1.weight"]
    assert (values["runs_count"], values["runs_bias_best_ratio"]) == (3, 2)
    # every tensor separates the attacker perfectly in the semantic runs, so fc2.bias ties for the best AUC;
    # under the trigger its 1.1 is above 12 of the 16 honest client-rounds only: AUC 0.75, rank 5
    assert values["runs_bias_best_auc"] == 2 and table["fc2.bias AUC"].iloc[2].startswith("0.75 [")
    rho, low, high = analysis.rank_correlation(summaries["semantic, seed 0"].set_index("layer").auc,
                                               summaries["semantic, seed 1"].set_index("layer").auc)
    assert f"Spearman correlation {analysis.interval_text(rho, low, high)}" in values["seed_note"]
    assert values["contrast_note"].startswith("With the trigger backdoor (1 seed) the attacker deviates more than "
                                              "the honest clients in 5 of 5 tensors, seed by seed; fc2.bias's ratio "
                                              "ranks 5 and its ROC-AUC 5; over the seeds its ROC-AUC is 0.75 [")
    _, alone = all_runs.standing_values(runs[:1], all_runs.run_summaries(runs[:1]))
    assert alone["seed_note"] == "With one seed, this run cannot tell how much of that ranking is the draw's"
    assert alone["contrast_note"] == "This run has no contrast attack"


def fake_sides(default=("does not hold", "neither AUC nor ratio"), other=("holds", "AUC and ratio"),
               ranks=(8, 1), clear=(True, True), scales=(1.10, 0.27), with_other=True):
    """A flsim.sides.Sides as compare_sides returns it, for the striped T-shirts and the flat sandals."""
    sets = ["striped_tshirts", "flat_sandals"][:1 + with_other]
    evidence = pd.DataFrame({"auc_rank": ranks, "clear": clear, "lo": (0.52, 0.96), "ratio_rank": (7, 1),
                             "ratio_lo": (1.02, 4.6), "seeds": (3, 3), "auc_seeds": (0, 3), "ratio_seeds": (0, 3),
                             "z_seeds": (0, 3)}, index=["striped_tshirts", "flat_sandals"]).loc[sets]
    values = dict(scale_default=scales[0], claim_default=default[0], claim_by_default=default[1],
                  claim_other=other[0] if with_other else "was not tested")
    values.update(scale_other=scales[1]) if with_other else None
    return SimpleNamespace(names={"striped_tshirts": "striped T-shirts", "flat_sandals": "flat sandals"} if with_other
                           else {"striped_tshirts": "striped T-shirts"}, values=values, evidence=evidence,
                           claims=dict(zip(sets, (default, other))))


def test_the_other_side_and_the_law_read_by_flsim_sides_one_rule():
    """The other side's claim and chapter 4's law are flsim.sides' words (claim_said, law_text), as chapters 5-7
    say them; the law by ROC-AUC rank: a better rank for the set with the smaller activation scale."""
    def law(sides):
        return all_runs.claim_verdict(sides, all_runs.Deeper({}), "fc2.bias").split(". ")[2]

    assert law(fake_sides()) == ("By ROC-AUC rank, the output bias ranks higher for the flat sandals, as chapter "
                                 "4's law predicts.")  # flat sandals (0.27) rank 1
    assert law(fake_sides(ranks=(1, 3))) == ("By ROC-AUC rank, the output bias ranks higher for the striped "
                                             "T-shirts, against chapter 4's law.")
    assert law(fake_sides(ranks=(2, 2))) == ("By ROC-AUC rank, the two tie, where chapter 4's law predicts a "
                                             "better rank for the flat sandals.")
    assert law(fake_sides(scales=(0.1, 0.27))) == ("By ROC-AUC rank, the output bias ranks higher for the flat "
                                                   "sandals, against chapter 4's law.")  # T-shirts smaller
    sandals = law_text({"striped_tshirts": 8, "flat_sandals": 1}, {"striped_tshirts": 1.10, "flat_sandals": 0.27},
                       {"striped_tshirts": "striped T-shirts", "flat_sandals": "flat sandals"})
    assert law(fake_sides()) == f"By ROC-AUC rank, {sandals}."
    other = all_runs.claim_verdict(fake_sides(other=("holds only in part", "AUC")), all_runs.Deeper({}), "b")
    assert (f"On the other side of chapter 4's law, the claim "
            f"{claim_said(('holds only in part', 'AUC'), 'flat sandals')}.") in other


def test_the_values_glued_from_the_sides():
    values = all_runs.sides_values(fake_sides())
    assert values["default_set_name"] == "striped T-shirts (the default)" and values["other_set_name"] == "flat sandals"
    assert (values["verdict"], values["other_verdict"], values["bias_best_by"]) == ("does not hold", "holds",
                                                                                   "neither AUC nor ratio")
    assert values["other_scale_text"] == "0.27" and values["default_scale"] == 1.10
    assert (values["seeds_auc_rank"], values["seeds_ratio_rank"], values["seeds_count"]) == (8, 7, 3)
    assert (values["seeds_auc_low"], values["seeds_ratio_low"]) == (0.52, 1.02)
    alone = all_runs.sides_values(fake_sides(with_other=False))
    assert alone["other_set_name"] == "other side (not run: other_semantic_set is empty)"
    assert alone["other_scale_text"] == "no activation scale" and alone["other_verdict"] == "was not tested"


def deep_run(seed=0, bias_lead=1.2, accuracy=0.3):
    """A deeper model's fake run: the attacker stands out most in a BatchNorm statistic."""
    return fake_run({"conv.weight": 1.1, "bn.running_var": 6.0, "fc.weight": 5.0, "fc.bias": bias_lead}, seed=seed,
                    output_bias_tensor="fc.bias",
                    rounds=pd.DataFrame({"main_accuracy": [0.1, accuracy], "backdoor_accuracy": [0.0, 0.2]}))


def test_the_deeper_model_measured_as_the_cnn():
    deep = [deep_run(0), deep_run(1)]
    for run in deep:
        run.config = run.config.replace(model="resnet8")
    deeper = all_runs.deeper_report(deep, fake_run(), 1000, 5)
    values = deeper.values
    assert (deeper.model, deeper.seeds, deeper.far) == ("resnet8", 2, True)  # 30% against the CNN's 80%
    assert (values["deeper_tensors"], values["deeper_buffers"], values["deeper_bias"]) == (4, 1, "fc.bias")
    assert values["deeper_verdict"] == "does not stay in the output bias" and values["deeper_z_top"] == 0
    assert values["deeper_finding"].startswith("in resnet8's first seed, fc.bias ranks ")
    assert "the attacker stands out most in bn.running_var" in values["deeper_finding"]
    assert "(seed by seed: 3, 3, the top tensor by it in 0 of 2 seeds)" in values["deeper_finding"]
    assert values["deeper_finding"].endswith("says little about where the anomaly sits in a trained deep network")
    assert values["deeper_note"] == ("With 5 local SGD steps per round at learning rate 0.01 a network trained from "
                                     "scratch learns little: the deeper model is far from trained here")
    assert list(deeper.summary.layer) == ["conv.weight", "bn.running_var", "fc.weight", "fc.bias"]
    trained = all_runs.deeper_report([deep_run(bias_lead=9.0, accuracy=0.75)], fake_run(), 1000, 5)
    assert trained.values["deeper_verdict"] == "stays in the output bias" and not trained.far
    assert trained.values["deeper_note"] == "The deeper model trains to within 10 points of the paper's CNN here"
    some = all_runs.deeper_report([deep_run(bias_lead=9.0), deep_run(1)], fake_run(), 1000, 5)
    assert some.values["deeper_verdict"] == "stays in the output bias in 1 of 2 seeds"
    none = all_runs.deeper_report([], fake_run(), 1000, 5)
    assert none.values["deeper_verdict"] == "was not tested" and none.model == "" and none.summary is None


def test_the_verdict_at_the_books_defaults():
    deeper = all_runs.Deeper(dict(deeper_verdict="does not stay in the output bias"), far=True, model="resnet8",
                             seeds=3)
    assert all_runs.claim_verdict(fake_sides(), deeper, "fc2.bias") == (
        "The paper's claim does not hold for the striped T-shirts, the book's default backdoor: over 3 seeds "
        "fc2.bias is not the top tensor, clear of no difference, by ROC-AUC or by ratio. "
        "On the other side of chapter 4's law, the claim holds for the flat sandals (by AUC and ratio). "
        "By ROC-AUC rank, the output bias ranks higher for the flat sandals, as chapter 4's law predicts. "
        "In a deeper model (resnet8, 3 seeds, by the attacker's robust z-score) the anomaly does not stay in the "
        "output bias; far from trained here, that model says little about a trained deep network.")


def test_every_verdict_reads_in_short_sentences_without_bare_numbers():
    claims = [("holds", "AUC and ratio"), ("holds only in part", "AUC"), ("holds only in part", "ratio"),
              ("does not hold", "neither AUC nor ratio")]
    deepers = [all_runs.Deeper({}), all_runs.Deeper(dict(deeper_verdict="stays in the output bias in 2 of 3 seeds"),
                                                     far=True, model="resnet20", seeds=3)]
    for default, other, ranks, with_other, deeper in itertools.product(claims, claims, [(8, 1), (1, 8), (2, 2)],
                                                                        [True, False], deepers):
        text = all_runs.claim_verdict(fake_sides(default, other, ranks, with_other=with_other), deeper, "fc2.bias")
        sentences = re.split(r"(?<=\.) (?=[A-Z])", text)
        assert max(len(s.split()) for s in sentences) <= 40, text
        assert not notebook.uncertain_claims(text)
        assert ("flat sandals" in text) == with_other and ("deeper model" in text) == bool(deeper.model)
    one = all_runs.claim_verdict(fake_sides(("holds only in part", "AUC"), ("holds only in part", "ratio")),
                           all_runs.Deeper({}), "fc2.bias")
    assert "fc2.bias is the top tensor by ROC-AUC, clear of no difference, but not by ratio." in one
    assert "the claim holds only in part for the flat sandals (by ratio)." in one
    assert "the claim does not hold for the flat sandals." in all_runs.claim_verdict(fake_sides(other=claims[3]),
                                                                                   all_runs.Deeper({}), "b")


def test_the_findings_table():
    g = dict(num_tensors=8, main_accuracy_text="71.7% [68.8%, 74.4%]", backdoor_accuracy_max=0.05,
             target_up_share=1.0, source_down_share=0.9, target_z_text="+1.33 [+0.65, +2.02]",
             target_round_z_text="+1.54 [+0.52, +2.56]", bias_ratio_text="1.19 [0.97, 1.49]", bias_ratio_rank=3,
             top_ratio_text="1.71 [1.46, 2.00]", top_ratio_layer="fc2.weight", bias_auc_text="0.65 [0.46, 0.85]",
             bias_auc_rank=4, best_auc_text="0.92 [0.80, 1.00]", best_auc_layer="fc2.weight", bias_top_count=2,
             attacked_rounds=10, runs_bias_best_auc=0, runs_bias_best_ratio=1, runs_count=6, verdict="does not hold",
             other_verdict="holds", default_scale=1.0971, other_scale_text="0.27", deeper_finding="in resnet8's ...")
    found = all_runs.localisation_findings(g)
    assert found["fc2.bias ROC-AUC (rank of 8)"] == "0.65 [0.46, 0.85] (4)"
    assert found["rounds in which the attacker raised the target / lowered the source bias"] == "100% / 90%"
    assert found["the paper's claim, the default backdoor / the other side"] == "does not hold / holds"
    assert found["activation scale (chapter 4's axis): the default backdoor / the other side"] == "1.10 / 0.27"
    table = notebook.summary(found, "The verdict.")
    assert table.index[-1] == "verdict" and len(table) == len(found) + 1
