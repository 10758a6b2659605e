"""Chapter 4 with tiny parameters: a map of two regimes x three backdoors x two doses, read in round 1
from panels, the strong attacks in the same panels, and the paper's procedure cut down to two rounds of
80 samples per client."""

import re

import pytest

from .conftest import parameter_check

TINY = dict(num_clients=4, local_training=[[40, 1, 2], [80, 2, 1]], paper_rounds=2,
            paper_samples_per_client=80, server_share=0.02, eval_samples=100,
            law_source_classes=[0, 5], law_seeds=[0, 1], law_training=[40, 1])
INTERVAL = r"-?\d+\.\d+ \[-?\d+\.\d+, -?\d+\.\d+\]"


def test_the_chapter_with_tiny_parameters(run_chapter):
    values = run_chapter("04_regimes", **TINY)
    # 40 samples x 1 epoch: 1 step; 80 x 2: 4 steps. Three backdoors, two doses, at every regime.
    assert values["steps_range"] == "1 to 4"
    assert values["training_range"] == "from 40 samples and 1 epoch to 80 samples and 2 epochs"
    assert values["num_settings"] == 2 * 3 * 2 and values["num_tensors"] == 8
    assert values["num_clients"] == 4 and values["server_text"] == "2% of its deal"
    # One panel per regime and seed; its points: 6 at 2 seeds, 6 at 1, one of which (striped T-shirts,
    # r = 10, 4 steps, seed 0) is the paper's run: it is not run twice.
    assert values["num_panels"] == 3 and values["num_runs"] == 12 + 6
    assert values["map_runs"] == 12 + 6 and 0 <= values["bias_led_runs"] <= values["map_runs"]
    # The pool of every point lacks both semantic sets (20 images each).
    assert values["excluded_count"] == 40
    assert values["bias_first_count"] + values["other_first_count"] == values["num_settings"]
    # A settled lead is one on the mean too; each setting is settled one way, the other, or not at all.
    assert values["settled_count"] <= values["bias_first_count"]
    assert values["settled_other_count"] <= values["other_first_count"]
    assert (values["settled_count"] + values["settled_other_count"] + values["unsettled_count"]
            == values["num_settings"])
    # One seed gives no interval: the 4-step regime settles nothing.
    assert re.fullmatch(r"1 step: \d of 6; 4 steps: 0 of 6", values["settled_by_steps"])
    assert 0 <= values["split_count"] <= 6  # only the regime with 2 seeds can split
    assert 0 <= values["everything_count"] <= values["num_settings"]
    assert 0 <= values["held_count"] <= values["num_settings"]
    # Two questions of the same runs: where the anomaly is largest (the paper's ratio, and from the median) and
    # whether it is present in fc2.bias (z > 3); counts of settings and of runs within their totals.
    n, runs = values["num_settings"], values["map_runs"]
    for name in ("ratio_bias_first", "median_bias_first", "present", "ceiling", "disagree"):
        assert 0 <= values[f"{name}_count"] <= n, name
    for name in ("ratio_bias_led_runs", "median_bias_led_runs", "present_runs"):
        assert 0 <= values[name] <= runs, name
    # The paper's ratio cannot pass num_clients - 1 (float32 rounding aside); the median's has no ceiling.
    assert values["ratio_ceiling"] == values["num_clients"] - 1 == 3
    assert 0 < values["bias_ratio_max"] <= 3 * (1 + 1e-5) and values["median_ratio_max"] > 0
    assert values["ceiling_count"] <= values["ceiling_cells"] <= n * values["num_tensors"]
    assert 0 <= values["tpr_saturated_count"] <= n and 0 <= values["narrower_count"] <= values["disagree_count"]
    by_backdoor = re.findall(r"(\w+): (\d+) of (\d+)", values["ratio_by_backdoor"])
    assert [b for b, _, _ in by_backdoor] == ["striped_tshirts", "flat_sandals", "trigger"]
    assert sum(int(k) for _, k, _ in by_backdoor) == values["ratio_bias_first_count"]
    assert all(int(total) == 4 for _, _, total in by_backdoor)  # two regimes x two doses each
    assert values["ceiling_tied_count"] <= n and 2 * values["ceiling_tied_count"] <= values["ceiling_cells"]
    # The honest spread, a share of the median, for fc2.bias (10 entries) and the largest tensor, fc1.weight.
    assert values["bias_entries"] == 10 and values["biggest_tensor"] == "fc1.weight"
    assert values["biggest_entries"] == 3136 * 256  # 64 channels of 7 x 7 in, 256 out
    assert values["bias_spread"] > 0 and values["biggest_spread"] > 0
    assert values["spread_factor"] == pytest.approx(values["bias_spread"] / values["biggest_spread"])
    rho, low, high = map(float, re.findall(r"-?\d+\.\d+", values["entries_spread_text"]))
    assert -1 <= low <= rho <= high <= 1
    # The verdict states the three readings with the counts computed above, once, in sentences of at most 40
    # words; the per-backdoor breakdown and the lists of settings stay in the tables.
    verdict = values["verdict"]
    assert f"fc2.bias has the largest anomaly in {values['ratio_bias_first_count']} of {n} settings" in verdict
    assert f"by the ratio from the median, which has no ceiling, in {values['median_bias_first_count']}." in verdict
    assert f"the attacker beyond z > 3 there, in {values['present_count']} of {n} settings" in verdict
    assert (f"fc2.bias sets the attacker apart most in {values['bias_first_count']} of {n} settings. By a margin "
            f"the seeds settle, it does in {values['settled_count']}; another tensor does in "
            f"{values['settled_other_count']}, and the seeds settle no lead in {values['unsettled_count']}.") in verdict
    sentences = re.split(r"(?<=[.!?])\s+(?=[(\"']*[A-Z])", verdict)  # as the built page's check splits them
    assert max(sum(1 for word in sentence.split() if re.search(r"\w", word)) for sentence in sentences) <= 40, verdict
    assert values["ratio_by_backdoor"] not in verdict and "striped_tshirts" not in verdict
    # The sentences that name settings agree with the counts they state.
    assert values["absent"].count("step") == n - values["present_count"] or values["absent"] == "none"
    assert values["ratio_other"].count("step") == n - values["ratio_bias_first_count"] or values["ratio_other"] == "none"
    for name in ("bias_first", "settled", "ratio_bias_first", "median_bias_first", "present", "ceiling", "disagree"):
        count = values[f"{name}_count"]
        assert values[name].count("steps, ") + values[name].count("step, ") == count or (
            count == 0 and values[name] == "none")
    assert values["paper_top_count"] == (0 if values["paper_top"] == "none"
                                         else len(values["paper_top"].split(", ")))
    assert values["quoted_top"] == "1, 2" and values["quoted_ratio_first"] == pytest.approx(3.27, abs=0.005)
    assert 0 <= values["paper_acc_last"] <= 1 and values["paper_best_tensor"] in (
        "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias", "fc2.weight",
        "fc2.bias")
    # Every comparison the paper's section cites carries its interval, around its own value.
    assert values["quoted_ratio_text"].startswith("3.27 [")  # the reference's own clients, bootstrapped
    for name in ("paper_ratio_text", "quoted_ratio_text", "paper_best_text", "paper_bias_text", "paper_auc_text"):
        assert re.match(INTERVAL + r"($|, |: )", values[name]), (name, values[name])  # the AUC names its interval
        value, low, high = map(float, re.findall(r"-?\d+\.\d+", values[name]))
        assert low <= value <= high, (name, values[name])
    assert values["paper_best_z"] >= values["paper_bias_z"]
    settled, n = values["settled_count"], values["num_settings"]

    def where(count):
        return ("everywhere" if count == n else "in most" if count >= n / 2 else "in part" if count >= n / 4 else
                "only in a small part" if count > 0 else "nowhere")

    assert f"the seeds settle the claim {where(settled)}" in values["verdict"]
    assert f"the claim holds {where(values['ratio_bias_first_count'])}" in values["verdict"]
    assert values["paper_best_text"] in values["verdict"]
    check_the_law(values)
    check_the_strong_attacks(values)
    # the figures the introduction pastes in: the law's axis against both readings (flsim.plots.anomaly_law)
    assert {"fig-regime-map", "fig-ratio-map", "fig-law-answer"} <= set(values)
    for name, value in values.items():
        # no NaN and no negative zero ("-0.0", "-0.00"; "-0.09" is a number)
        assert "nan" not in str(value).split() and not re.search(r"-0(\.0*)?(?![\d.])", str(value)), (name, value)


def check_the_law(values):
    """The law's section: three rules x two source classes, two seeds, one panel each."""
    assert values["law_count"] == 3 * 2 and values["law_class_count"] == 2 and values["law_seed_count"] == 2
    assert values["law_rules_text"] == "least_ink, random, stripes" and values["law_r"] == 2
    assert values["law_regime_text"] == "40 samples and 1 epoch, 1 local step"
    # each seed's panel: the 6 rule-built backdoors, the map's two semantic sets and the trigger
    assert values["law_runs"] == 2 * (6 + 3)
    assert 0 < values["law_run_seconds"] <= values["law_seconds"]
    for name in ("law_ratio_first_count", "law_z_first_count", "law_held_hits"):
        assert 0 <= values[name] <= values["law_count"], name
    assert values["law_held_accuracy"].startswith(f"{values['law_held_hits']} of 6 (")
    assert re.fullmatch(r"\d of 6 \(.*\)", values["law_majority"])
    predictors = ("poisoned_error", "activation_scale", "similarity")
    assert values["law_best"] in predictors
    held = dict(part.split(": ") for part in values["law_held_choice"].split(", "))
    assert list(held) == ["least_ink", "random", "stripes"] and set(held.values()) <= set(predictors)
    texts = [values["law_best_text"], values["law_held_text"]] + [
        values[f"law_{p}_{o}_text"] for p in predictors for o in ("lead", "share", "rank")]
    within = dict(part.split(": ") for part in values["law_within_text"].split("; "))
    assert list(within) == ["least_ink", "random", "stripes"]
    texts += list(within.values())
    assert values["law_best_text"] == values[f"law_{values['law_best']}_lead_text"]
    for text in texts:  # a correlation in [-1, 1] inside its interval, or said to be undefined
        if text.startswith("undefined"):
            continue
        if text.endswith("(no interval)"):  # fewer than four backdoors: within a rule of two classes
            assert -1 <= float(text.split()[0]) <= 1, text
            continue
        rho, low, high = map(float, re.findall(r"-?\d+\.\d+", text))
        assert -1 <= low <= rho <= high <= 1, text
    assert values["law_supported"] in ("its interval excludes 0", "its interval includes 0: no law is shown",
                                       "without an interval, no law is shown")
    known = values["law_known_text"].split("; ")
    assert [k.split(":")[0] for k in known] == ["striped_tshirts", "flat_sandals"]
    assert all(f"of the 6 rule-built backdoors" in k for k in known)
    # the verdict states the law, or that there is none, with the glued correlation
    assert "Over 6 rule-built semantic backdoors (2 seeds, one regime, r = 2), " in values["verdict"]
    assert values["law_best_text"] in values["verdict"]
    assert 0 <= values["law_within_count"] <= 3
    # the flat sandals are the 20 sandals with the least ink: the same images as that rule's sandals
    assert "the flat_sandals are the images of least_ink, Sandal" in values["law_same_images"]


def check_the_strong_attacks(values):
    """The strong attacks (the default: r = 1; r = 2 with model replacement x10), every backdoor at every
    regime and seed, members of the map's panels and not points of the map."""
    assert values["strong_text"] == ("r = 1 (every sample poisoned) and r = 2 with model replacement "
                                     "(its update scaled x10)")
    assert values["strong_short"] == "r = 1 and r = 2 x10" and values["strong_reference_r"] == 2
    n = values["strong_settings_count"]
    assert n == 2 * 3 * 2  # regimes x backdoors x strong attacks
    assert values["strong_runs"] == 3 * 3 * 2  # panels x backdoors x strong attacks
    assert values["strong_compute_seconds"] > 0
    assert 0 <= values["strong_accuracy_low"] <= values["strong_accuracy_high"] <= 1
    held = values["held_strong_count"]
    assert 0 <= held <= n
    assert held < n or values["strong_accuracy_low"] >= 0.5
    assert held > 0 or values["strong_accuracy_high"] < 0.5
    # the held settings, each with the seeds in which the backdoor reached 50%: one at least, as the mean did
    listed = values["held_strong"]
    assert (listed == "none") if held == 0 else listed.count(" step") == held
    shares = [(int(k), int(m)) for k, m in re.findall(r"\((\d+) of (\d+)\)", listed)]
    assert len(shares) == held and all(1 <= k <= m <= 2 for k, m in shares)
    runs = sum(m for _, m in shares)
    assert values["held_strong_seeds"] == f"{sum(k for k, _ in shares)} of {runs} seeds"
    # where it held: fc2.bias's settings and seeds by each measure, the leaders tallied, the map's leader kept
    for measure in ("median", "z"):
        assert 0 <= values[f"held_strong_bias_{measure}_count"] <= held
        led, total = map(int, re.fullmatch(r"(\d+) of (\d+) seeds", values[f"held_strong_bias_{measure}_seeds"]
                                           ).groups())
        assert 0 <= led <= total == runs
        assert 0 <= values[f"held_strong_kept_{measure}"] <= held
        assert 0 <= values[f"scaled_kept_{measure}"] <= values["scaled_count"] == 2 * 3
        tally = values[f"held_strong_{measure}_leaders"]
        if held == 0:
            assert tally == "none"
            continue
        rows = re.findall(r"([\w.]+) in (\d+) \((\d+) of (\d+) seeds\)", tally)
        assert sum(int(count) for _, count, _, _ in rows) == held and sum(int(m) for *_, m in rows) == runs
        assert all(int(k) <= int(m) for _, _, k, m in rows)
        bias = [int(count) for tensor, count, _, _ in rows if tensor == "fc2.bias"]
        assert (bias or [0]) == [values[f"held_strong_bias_{measure}_count"]]
    # tensors at the paper's ratio's ceiling, per strong attack: fewest to most of the 8
    by_attack = re.findall(r"(r = \d+(?: x\d+)?): (\d+) to (\d+)", values["strong_ceiling_by_attack"])
    assert [a for a, _, _ in by_attack] == ["r = 1", "r = 2 x10"]
    assert all(0 <= int(low) <= int(high) <= values["num_tensors"] for _, low, high in by_attack)
    assert values["strong_ceiling_max"] == max(int(high) for _, _, high in by_attack)
    # the verdict's clause
    clause = "Stronger attacks (r = 1 and r = 2 x10; x: model replacement) make the backdoor take hold in "
    if held:
        assert (f"{clause}{held} of {n} settings. There fc2.bias is largest by the ratio from the median in "
                f"{values['held_strong_bias_median_count']} and most detectable by z in "
                f"{values['held_strong_bias_z_count']}." in values["verdict"])
    else:
        assert f"{clause}none of {n} settings." in values["verdict"]


def test_an_empty_strong_attacks_stops_at_the_parameter_check_with_the_parameter_named():
    assert parameter_check("04_regimes") is None
    for value in ([], [[1, 1.0, 3]]):
        error = parameter_check("04_regimes", strong_attacks=value)
        assert isinstance(error, ValueError) and f"strong_attacks={value}: one or more [r, attack_scale] pairs" \
            in str(error)
