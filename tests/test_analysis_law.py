"""flsim.analysis.law, chapter 4's law and its verdict, on small hand-made tables: the law's table from one
row per run and tensor, the correlations and the best predictor, the rules held out, the verdict's
sentences (at most 40 words each, every measured decimal with its interval) and the findings table."""

import re
import types

import numpy as np
import pandas as pd
import pytest

from flsim.analysis import law
from flsim.notebook import uncertain_claims


def summary_of(backdoors):
    """One row per run and tensor: backdoor -> per run {tensor: (attacker_z, ratio)}."""
    rows, run = [], 0
    for backdoor, runs in backdoors.items():
        for scores in runs:
            rows += [dict(backdoor=backdoor, run=run, layer=layer, attacker_z=z, ratio=ratio)
                     for layer, (z, ratio) in scores.items()]
            run += 1
    return pd.DataFrame(rows)


def test_law_table_reads_each_backdoor_over_its_seeds():
    summary = summary_of({
        "least_ink, Sandal": [{"fc1.weight": (1.0, 2.0), "fc2.bias": (5.0, 9.0)},
                              {"fc1.weight": (2.0, 3.0), "fc2.bias": (4.0, 8.0)}],
        "random, Coat": [{"fc1.weight": (6.0, 9.0), "fc2.bias": (2.0, 1.0)},
                         {"fc1.weight": (1.0, 1.0), "fc2.bias": (3.0, 2.0)}],
        "flat_sandals": [{"fc1.weight": (1.0, 1.0), "fc2.bias": (2.0, 3.0)},
                         {"fc1.weight": (1.0, 1.0), "fc2.bias": (4.0, 3.0)}],
    })
    predictors = pd.DataFrame({"activation_scale": [0.3, 1.2, 0.4]},
                              index=["least_ink, Sandal", "random, Coat", "flat_sandals"])
    rules = pd.Series(["least_ink", "random"], index=["least_ink, Sandal", "random, Coat"])
    table = law.law_table(summary, rules, predictors)
    assert list(table.index) == ["least_ink, Sandal", "random, Coat", "flat_sandals"]
    # fc2.bias minus fc1.weight, mean over the two seeds: (4 + 2) / 2; (-4 + 2) / 2; (1 + 3) / 2
    assert table["z lead"].tolist() == pytest.approx([3.0, -1.0, 2.0])
    assert table["z seeds"].tolist() == ["2/2", "1/2", "2/2"]
    assert table["z share"].tolist() == pytest.approx([1.0, 0.5, 1.0])
    # mean ratio: fc2.bias 8.5 > 2.5; 1.5 < 5.0; 3.0 > 1.0
    assert table["ratio rank"].tolist() == [1.0, 2.0, 1.0]
    assert table["ratio first"].tolist() == [True, False, True]
    assert table["ratio seeds"].tolist() == ["2/2", "1/2", "2/2"]
    assert table.rule.tolist()[:2] == ["least_ink", "random"] and pd.isna(table.rule.iloc[2])
    assert table.activation_scale.tolist() == [0.3, 1.2, 0.4]


def test_rho_text_says_when_there_is_no_interval_or_no_correlation():
    assert law.rho_text(-0.8123, -0.95, -0.5) == "-0.81 [-0.95, -0.50]"
    assert law.rho_text(0.5, float("nan"), float("nan")) == "0.50 (no interval)"
    assert law.rho_text(float("nan"), float("nan"), float("nan")) == "undefined (constant)"


def built_law():
    """Twelve rule-built backdoors whose z lead falls with the activation scale exactly, with a similarity
    that says nothing and a constant poisoned error; then the map's two sets and the trigger."""
    scale = np.linspace(0.2, 1.3, 12)
    rng = np.random.default_rng(0)
    built = pd.DataFrame({"z lead": 3.9 - 5.0 * scale, "z share": np.clip(1.2 - scale, 0, 1),
                          "ratio rank": np.where(scale < 0.75, 1.0, 3.0), "ratio first": scale < 0.75,
                          "poisoned_error": 0.9, "activation_scale": scale, "similarity": rng.permutation(12) / 12.0,
                          "rule": ["least_ink"] * 4 + ["random"] * 4 + ["stripes"] * 4,
                          "z seeds": "1/1", "ratio seeds": "1/1"},
                         index=[f"b{i}" for i in range(12)])
    named = pd.DataFrame({"z lead": [2.0, -1.5, -0.5], "activation_scale": [0.36, 1.1, np.nan],
                          "ratio first": [True, False, False], "rule": [None, None, None]},
                         index=["flat_sandals", "striped_tshirts", "trigger"])
    return pd.concat([built, named])


def reading(table=None):
    plan = types.SimpleNamespace(steps=lambda samples, epochs: epochs * -(-samples // 64))
    spec = types.SimpleNamespace(plan=plan, rules=["least_ink", "random", "stripes"], r=2, size=20,
                                 source_classes=[0, 5, 7, 9], seeds=[0, 1], training=[300, 1])
    table = built_law() if table is None else table
    images = {name: (i,) for i, name in enumerate(table.index)}
    images["flat_sandals"] = images["b0"]  # the flat sandals are one rule-built backdoor's images
    return law.LawReading(spec, table, images, num_runs=30, run_seconds=12.0, seconds=15.0)


def test_the_best_predictor_is_the_one_that_tracks_the_lead_and_a_constant_one_has_no_correlation():
    found = reading()
    assert found.best == "activation_scale" and found.rho == pytest.approx(-1.0)
    assert found.high < 0  # its interval excludes 0
    table = found.correlation_table()
    assert table.loc["poisoned_error", "z lead"] == "undefined (constant)"
    assert table.loc["activation_scale", "z lead"].startswith("-1.00 [-1.00, -1.00]")
    assert list(table.columns) == ["z lead", "seeds led by z", "ratio rank (1: largest)"]
    assert law.best_predictor({("a", "z lead"): (0.2, 0, 0), ("b", "z lead"): (-0.6, 0, 0),
                               ("c", "z lead"): (float("nan"), 0, 0)}, ["a", "b", "c"]) == "b"


def test_the_rules_held_out_and_the_law_inside_each_rule():
    found = reading()
    rules = found.rule_table()
    assert list(rules.index) == ["least_ink", "random", "stripes"]
    assert rules.backdoors.tolist() == [4, 4, 4]
    assert rules["chosen held out"].tolist() == ["activation_scale"] * 3
    assert all(text.startswith("-1.00 [") for text in rules["Spearman inside"])
    words = found.words()
    assert words["law_count"] == 12 and words["law_best"] == "activation_scale"
    assert words["law_supported"] == "its interval excludes 0"
    assert words["law_held_text"].startswith("1.00 [1.00, 1.00]")  # a line predicts the lead exactly
    assert words["law_within_count"] == 3 and words["law_within_text"].count("-1.00 [") == 3
    assert words["law_held_choice"] == "least_ink: activation_scale, random: activation_scale, " \
                                       "stripes: activation_scale"
    assert words["law_held_hits"] == 12 and words["law_held_accuracy"].startswith("12 of 12 (100% [")
    assert words["law_majority"].startswith("6 of 12 (50% [")  # six scales below 0.75
    assert words["law_regime_text"] == "300 samples and 1 epoch, 5 local steps"
    assert words["law_rules_text"] == "least_ink, random, stripes" and words["law_class_count"] == 4
    # the map's sets on the axis, the trigger (no scale) left out
    known = words["law_known_text"].split("; ")
    assert [k.split(":")[0] for k in known] == ["flat_sandals", "striped_tshirts"]
    assert known[0] == ("flat_sandals: activation_scale 0.36, above 2 of the 12 rule-built backdoors, "
                        "z lead 2.0 (line fit: 2.1)")
    assert words["law_same_images"] == "the flat_sandals are the images of b0"
    assert words["law_ratio_first_count"] == 6 and words["law_z_first_count"] == 6  # lead > 0 below scale 0.78
    assert words["law_similarity_lead_text"] == found.correlation_table().loc["similarity", "z lead"]


def test_without_a_correlation_no_law_is_shown():
    table = built_law()
    table["activation_scale"] = table["poisoned_error"] = table["similarity"] = 1.0
    words = reading(table).words()
    assert words["law_best_text"] == "undefined (constant)"
    assert words["law_supported"] == "without an interval, no law is shown"


@pytest.mark.parametrize("count, words", [(18, "everywhere on the map"), (9, "in most of the map"),
                                          (5, "in part of the map"), (4, "only in a small part of the map"),
                                          (0, "nowhere on the map")])
def test_extent_of_the_map(count, words):
    assert law.extent(count, 18) == words


def values(**changes):
    """The glued values the verdict and the findings table read, as a run of the default might give them."""
    v = dict(num_runs=137, num_settings=18, ratio_bias_first_count=7, median_bias_first_count=8, present_count=12,
             settled_count=3, settled_other_count=5, unsettled_count=10, bias_first_count=6, paper_rounds=5,
             paper_best_tensor="fc2.weight", paper_best_text="9.9 [4.1, 15.7]", paper_bias_text="6.2 [3.0, 9.4]",
             strong_short="r = 1 and r = 2 x10", held_strong_count=9, strong_settings_count=18,
             held_strong_bias_median_count=4, held_strong_bias_z_count=2, law_count=27, law_seed_count=5, law_r=2,
             law_supported="its interval excludes 0", law_best="activation_scale",
             law_best_text="-0.78 [-0.90, -0.55]", law_held_text="0.71 [0.45, 0.86]", law_within_count=2,
             law_rules_text="least_ink, random, stripes", settled_by_steps="5 steps: 3 of 6; 10 steps: 0 of 6",
             ratio_by_backdoor="striped_tshirts: 2 of 6; flat_sandals: 5 of 6; trigger: 0 of 6",
             ratio_bias_led_runs=30, map_runs=72, ceiling_count=4, ratio_ceiling=9, disagree_count=7,
             other_tensors="conv1.weight, fc2.weight", split_count=6, everything_count=9, held_count=0,
             held_strong_bias_median_seeds="20 of 30 seeds", held_strong_bias_z_seeds="10 of 30 seeds",
             held_strong_kept_median=5, held_strong_kept_z=3, scaled_kept_median=2, scaled_kept_z=1, scaled_count=9,
             paper_top="1, 2", quoted_top="1, 2", law_held_accuracy="20 of 27 (74% [55%, 87%])",
             law_within_text="least_ink: -0.5 [-0.9, 0.1]; random: -0.7 [-0.9, -0.2]; stripes: -0.6 [-0.9, -0.1]")
    return {**v, **changes}


def sentences(text):
    """The verdict's sentences as the built page's check splits them (book/_ext/rendered_text.py)."""
    return re.split(r"(?<=[.!?])\s+(?=[(\"']*[A-Z])", text)


def words(sentence):
    return sum(1 for token in sentence.split() if re.search(r"\w", token))


def test_the_verdict_states_each_reading_once_in_short_sentences_with_intervals():
    text = law.verdict(values(), law_rho=-0.78)
    assert len(sentences(text)) == 13 and max(map(words, sentences(text))) <= 40, max(sentences(text), key=words)
    assert uncertain_claims(text) == []
    assert "Where the anomaly is largest, by the paper's malicious/benign ratio, the claim holds in part of the map." \
        in text
    assert "By that ratio fc2.bias has the largest anomaly in 7 of 18 settings" in text
    assert "and by the ratio from the median, which has no ceiling, in 8." in text
    assert "the attacker beyond z > 3 there, in 12 of 18 settings." in text
    assert "the seeds settle the claim only in a small part of the map." in text
    assert "By a margin the seeds settle, it does in 3; another tensor does in 5, and the seeds settle no lead in " \
           "10." in text
    assert "(one seed, 5 rounds) the most separating tensor is fc2.weight (z 9.9 [4.1, 15.7] over its rounds, " \
           "fc2.bias 6.2 [3.0, 9.4])." in text
    assert "make the backdoor take hold in 9 of 18 settings. There fc2.bias is largest by the ratio from the " \
           "median in 4 and most detectable by z in 2." in text
    assert "fc2.bias's z lead falls with the backdoor's activation scale before any attack (Spearman " \
           "-0.78 [-0.90, -0.55])." in text
    assert "rank with their measured leads at 0.71 [0.45, 0.86]." in text and "in 2 of 3 rules." in text
    assert "striped_tshirts" not in text  # a per-backdoor breakdown belongs in a table


def test_the_verdict_says_when_nothing_held_no_law_shows_and_one_round_gives_no_interval():
    text = law.verdict(values(held_strong_count=0, law_supported="its interval includes 0: no law is shown",
                              law_best_text="-0.10 [-0.50, 0.30]", paper_rounds=1, paper_best_tensor="fc2.bias",
                              settled_count=18, ratio_bias_first_count=0), law_rho=-0.1)
    assert "take hold in none of 18 settings." in text
    assert "no predictor explains where the anomaly sits (-0.10 [-0.50, 0.30])." in text
    assert "(one seed, 1 round) the most separating tensor is fc2.bias." in text
    assert "the seeds settle the claim everywhere on the map." in text and "the claim holds nowhere on the map." in text
    assert "rises" not in law.verdict(values(), law_rho=-0.5) and "rises" in law.verdict(values(), law_rho=0.5)
    assert max(map(words, sentences(text))) <= 40


def test_the_findings_table_keeps_the_details_the_verdict_leaves_out():
    table = law.findings(values())
    assert table["runs"] == 137
    assert table["the same, by backdoor"] == values()["ratio_by_backdoor"]
    assert table["settled fc2.bias leads, by local steps"] == "5 steps: 3 of 6; 10 steps: 0 of 6"
    assert table["strong attacks, held: the map's leader kept (median ratio; z)"] == "5; 3"
    assert table["model replacement: the map's leader kept (median ratio; z)"] == "2 and 1 of 9"
    assert table["law: best predictor of fc2.bias's z lead (Spearman, 95% bootstrap interval)"] == \
        "activation_scale: -0.78 [-0.90, -0.55]"
    assert table["law: the best predictor inside each rule (Spearman)"] == values()["law_within_text"]
