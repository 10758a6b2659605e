"""flsim.analysis.stress (chapter 9's stress tests): the runs, and each test's table and words, on small
hand-made tables with known answers."""

import math

import numpy as np
import pandas as pd
import pytest

import flsim
from flsim.analysis import stress


def results(config=None, **tables) -> flsim.Results:
    """A Results holding only the tables a test reads."""
    return flsim.Results(config or flsim.Config(), tables)


def rounds(backdoor, seconds=1.0) -> pd.DataFrame:
    """A rounds table: backdoor accuracy per round from round 0, each round ``seconds`` long."""
    return pd.DataFrame({"round": range(len(backdoor)), "main_accuracy": 0.7, "backdoor_accuracy": backdoor,
                         "seconds": seconds})


def detection(attacked_rounds, num_rounds=4, clients=5, loud_honest=None) -> pd.DataFrame:
    """Detector output_bias_max scores: client 0 scores 10 in the rounds it attacks, everyone else 1, 1.1,
    1.2, ...; ``loud_honest`` (round, client) scores 50 though honest."""
    rows = []
    for round_ in range(1, num_rounds + 1):
        for client in range(clients):
            malicious = client == 0 and round_ in attacked_rounds
            score = 10.0 if malicious else 1.0 + 0.1 * client
            if (round_, client) == loud_honest:
                score = 50.0
            rows.append(dict(round=round_, client=client, malicious=malicious, detector="output_bias_max",
                             score=score))
    return pd.DataFrame(rows)


def test_the_norm_bound_is_the_honest_clients_median_update_norm_times_the_factor():
    rows = [dict(round=1, client=c, malicious=c == 0, detector=d, score=s)
            for c, s in enumerate([100.0, 1.0, 2.0, 3.0, 10.0]) for d in ("update_norm", "other")]
    plain = results(detection=pd.DataFrame(rows))
    assert stress.norm_bound(plain) == 2.5  # median of 1, 2, 3, 10: the attacker's 100 is left out
    assert stress.norm_bound(plain, 0.5) == 1.25
    assert stress.norm_bound(plain, 1 / 3) == 0.8333  # rounded to 4 digits


def plan(seeds=(0, 1), other="flat_sandals", defences=("fedavg", "bias_filter")):
    base = flsim.Config(num_clients=5, samples_per_client=60, num_rounds=2)
    return stress.plan(base, base.replace(attack_scale=10.0), list(seeds), 0.5, 3, 3, 2, list(defences),
                       [0.1, 1.0], other)


def test_the_plan_runs_the_verdicts_attackers_on_every_seed_and_the_examples_on_the_first():
    groups = plan().groups
    assert list(groups) == ["schedules", "constrained", "adaptive", "skewed", "other_side"]
    assert [len(c) for c in groups["schedules"].values()] == [1, 1, 1]
    assert [c.attack_schedule for c in groups["schedules"]["single shot"]] == ["single_shot"]
    assert groups["schedules"]["pool"][0].attack_scale == 3.0  # scaled by the clients per round
    assert [c.seed for c in groups["constrained"]["fedavg"]] == [0, 1]  # the detectors' AUCs are read there
    assert [c.aggregator for c in groups["constrained"]["bias_filter"]] == ["bias_filter"]
    assert all(c.attack_norm_bound == 0.5 for runs in groups["constrained"].values() for c in runs)
    assert {key: len(c) for key, c in groups["adaptive"].items()} == {
        ("semantic", "output_bias"): 2, ("semantic", "output_layer"): 1, ("replacement", "output_bias"): 2,
        ("replacement", "output_layer"): 1, ("replacement", "output_bias, bias_filter"): 1}
    assert [c.dirichlet_alpha for c in groups["skewed"][0.1]] == [0.1, 0.1]
    other = groups["other_side"]["output_bias"]
    assert [(c.semantic_set, c.adaptive, c.attack_scale, c.seed) for c in other] == [
        ("flat_sandals", "output_bias", 10.0, 0), ("flat_sandals", "output_bias", 10.0, 1)]
    assert plan(other="").groups["other_side"] == {}


def test_the_plan_gives_the_results_back_by_test_and_label():
    p = plan()
    configs = p.configs
    assert len(configs) == 3 + (2 + 1) + (2 + 1 + 2 + 1 + 1) + 2 * 2 + 2 * 2
    split = p.split(range(len(configs)))  # stand-ins for the results, in the sweep's order
    assert split["schedules"] == {"every round": [0], "pool": [1], "single shot": [2]}
    assert split["constrained"] == {"fedavg": [3, 4], "bias_filter": [5]}
    assert split["other_side"]["output_bias"] == [len(configs) - 2, len(configs) - 1]


def test_run_numbers_count_the_runs_and_what_a_further_seed_of_the_examples_would_cost():
    base = flsim.Config(num_clients=5, samples_per_client=60, num_rounds=2, malicious_data_rate=2)
    run = results(rounds=rounds([0.1, 0.2, 0.3], seconds=2.0))  # 3 rows: 6 s
    runs = {"a": {"one": [run], "seeds": [run, run]}, "b": {"one": [run]}}
    numbers = stress.run_numbers(runs, base, [0, 1], 3)
    assert (numbers["num_runs"], numbers["compute_seconds"]) == (4, 24.0)
    assert (numbers["first_seed_runs"], numbers["first_seed_seconds"]) == (2, 12.0)
    assert (numbers["num_seeds_text"], numbers["num_rounds_text"]) == ("2 seeds", "2 rounds")
    assert numbers["sample_passes"] == 5 * 60 * 2 and numbers["poison_every"] == 2
    assert numbers["dataset_name"] == "Fashion-MNIST"
    # a client's whole deal when samples_per_client is None: 60,000 images over 6 parties
    assert stress.run_numbers(runs, base.replace(samples_per_client=None), [0], 3)["sample_passes"] == \
        5 * 10_000 * 2


def test_the_axis_says_which_side_of_chapter_4s_law_each_backdoor_sits():
    scale = pd.Series({"striped_tshirts": 1.10, "flat_sandals": 0.27})
    found = stress.axis_findings(scale, "striped_tshirts", "flat_sandals")
    assert found["other_side_text"] == ("the flat sandals (activation scale 0.27), where the law predicts that "
                                        "the output bias leads")
    assert found["axis_note"].startswith("the striped T-shirts sit higher on the axis (1.10 against 0.27)")
    assert (found["default_set_name"], found["other_set_name"], found["scale_other"]) == (
        "striped T-shirts", "flat sandals", 0.27)
    flipped = stress.axis_findings(scale[::-1].rename({"striped_tshirts": "a", "flat_sandals": "b"}), "b", "a")
    assert "is not below the default's" in flipped["other_side_text"]
    alone = stress.axis_findings(scale[:1], "striped_tshirts", "")
    assert alone["other_side_text"].startswith("not run here") and alone["other_set_name"] == "none"
    assert alone["axis_note"] == "the striped T-shirts sit at 1.10"
    assert stress.axis_sets("striped_tshirts", "") == ["striped_tshirts"]
    assert stress.axis_sets("x", "x") == ["x"]


def test_half_life_counts_the_rounds_until_the_backdoor_is_below_half_its_peak():
    backdoor = pd.Series([0.1, 0.1, 1.0, 0.6, 0.4, 0.2], index=range(6))
    assert stress.half_life(backdoor, 2) == 2  # 1.0 in round 2, below 0.5 first in round 4
    assert stress.half_life(pd.Series([0.0, 0.8, 0.8, 0.5]), 1) is None  # 0.5 is not below half of 0.8... ever
    assert stress.half_life(pd.Series([0.0, 0.8, 0.3]), 1) == 1


def test_quiet_flags_count_the_outlier_rules_flags_in_rounds_without_an_attacker():
    frame = detection(attacked_rounds={1, 3}, loud_honest=(2, 4))
    assert stress.quiet_flags(frame) == (1, 10)  # rounds 2 and 4, 5 clients each; client 4 of round 2 flagged
    assert stress.quiet_flags(detection(attacked_rounds={1, 2, 3, 4})) == (0, 0)


def test_the_schedule_table_and_its_words():
    schedules = {"every round": [results(rounds=rounds([0.0, 0.9, 1.0, 1.0, 0.9]),
                                         detection=detection({1, 2, 3, 4}))],
                 "pool": [results(rounds=rounds([0.0, 0.0, 0.8, 0.5, 0.3]), detection=detection({2, 3}))],
                 "single shot": [results(rounds=rounds([0.0, 0.0, 1.0, 0.6, 0.2]),
                                         detection=detection({2}, loud_honest=(4, 3)))]}
    table = stress.schedule_table(schedules)
    assert table["rounds attacked"].tolist() == [4, 2, 1]
    assert table.peak.tolist() == [1.0, 0.8, 1.0] and table.final.tolist() == [0.9, 0.3, 0.2]
    # the single shot's loud honest client (50) outscores its one attacking round (10): 18 of 19 pairs
    assert table.AUC.tolist() == [1.0, 1.0, pytest.approx(18 / 19)] and table.TPR.tolist() == [1.0, 1.0, 1.0]
    assert math.isnan(table["FPR, no attacker"]["every round"])
    found = stress.schedule_findings(schedules, table, attack_round=2, schedule_rounds=4)
    assert (found["shot_peak"], found["shot_next"], found["shot_final"]) == (1.0, "60%", 0.2)
    assert found["shot_half_life"] == "2 rounds" and found["schedule_rounds_text"] == "4 rounds"
    assert (found["pool_attacked"], found["pool_peak"], found["every_peak"], found["every_final"]) == (
        2, 0.8, 1.0, 0.9)
    assert found["shot_clean_flags"].startswith("1 of 15 (7% [")  # rounds 1, 3 and 4 without the attacker
    assert found["persist_note"] == "the backdoor lasts about as long as the attacker keeps replacing the model"


def report(**aucs) -> pd.DataFrame:
    """A detection report indexed by detector: name=(auc, lo, hi)."""
    return pd.DataFrame({name: dict(auc=a, auc_lo=lo, auc_hi=hi) for name, (a, lo, hi) in aucs.items()}).T


def test_clearly_needs_intervals_apart():
    rows = report(a=(0.9, 0.8, 1.0), b=(0.5, 0.3, 0.7), c=(0.75, 0.6, 0.85))
    assert stress.clearly(rows.loc["a"], rows.loc["b"]) == "first"
    assert stress.clearly(rows.loc["b"], rows.loc["a"]) == "second"
    assert stress.clearly(rows.loc["a"], rows.loc["c"]) == "neither"


def test_the_norm_bounded_attackers_words():
    table = pd.DataFrame({"unconstrained peak": [1.0, 0.05], "constrained peak": [0.4, 0.05],
                          "constrained TPR": [0.0, 0.25]}, index=pd.Index(["fedavg", "bias_filter"], name="defence"))
    pair = {"unconstrained": report(output_bias_max=(0.97, 0.86, 1.0), update_norm=(1.0, 0.91, 1.0)),
            "constrained": report(output_bias_max=(0.84, 0.68, 0.93), update_norm=(0.48, 0.28, 0.66),
                                  krum_score=(0.92, 0.78, 0.99))}
    found = stress.norm_findings(table, pair)
    assert found["constrained_norm_auc_ci"] == "0.48 [0.28, 0.66]"
    assert found["unconstrained_paper_auc_ci"] == "0.97 [0.86, 1.00]"
    assert (found["constrained_best"], found["constrained_best_auc_ci"]) == ("krum_score", "0.92 [0.78, 0.99]")
    assert found["constrained_cost"] == "in this seed staying small costs it the backdoor"  # 0.4 < half of 1.0
    assert found["norm_note"].startswith("the norm ball limits the update's size")  # 0.68 > 0.66
    assert found["constrained_filter_tpr"] == 0.25
    assert math.isnan(stress.norm_findings(table.drop(index="bias_filter"), pair)["constrained_filter_tpr"])
    columns = stress.auc_columns(pair)
    assert columns.loc["update_norm"].tolist() == ["1.00 [0.91, 1.00]", "0.48 [0.28, 0.66]"]
    assert list(columns) == ["unconstrained AUC", "constrained AUC"]


def test_the_norm_table_reads_each_defences_first_run():
    def run(peak, accepted):
        defence = pd.DataFrame({"round": 1, "client": [0, 1], "malicious": [True, False],
                                "accepted": accepted})
        return results(rounds=rounds([0.0, peak]), defence=defence)
    table = stress.norm_table([run(1.0, [True, True]), run(0.3, [False, True])],
                              {"fedavg": [run(0.2, [True, True]), run(0.9, [True, True])],
                               "bias_filter": [run(0.1, [False, True])]}, ["fedavg", "bias_filter"])
    assert table["unconstrained peak"].tolist() == [1.0, 0.3]
    assert table["constrained peak"].tolist() == [0.2, 0.1] and table["constrained TPR"].tolist() == [0.0, 1.0]


def fpr_report(**rates) -> pd.DataFrame:
    """A report indexed by detector with fpr, auc and their intervals, 100 honest client-rounds."""
    rows = {name: dict(fpr=f, fpr_lo=f / 2, fpr_hi=min(1.0, 2 * f), auc=a, auc_lo=a - 0.1, auc_hi=min(1.0, a + 0.1),
                       honest_rounds=100) for name, (f, a) in rates.items()}
    return pd.DataFrame(rows).T


def test_the_non_iid_words_and_table():
    at_skew = fpr_report(output_bias_max=(0.07, 0.30), output_bias_class=(0.12, 0.55), update_norm=(0.02, 0.64))
    iid = fpr_report(output_bias_max=(0.0, 0.99), output_bias_class=(0.02, 0.98), update_norm=(0.03, 0.6))
    found = stress.skew_findings(at_skew, iid, 0.1)
    assert found["paper_fpr_skew_count"] == "7 of 100" and found["paper_fpr_skew_ci"] == "7.0% [3.5%, 14.0%]"
    assert found["paper_fpr_iid_ci"] == "0.0% [0.0%, 0.0%]"
    assert found["class_vs_max"] == "better than"  # 0.45 above 0.40
    assert (found["worst_fpr_detector"], found["best_auc_skew_detector"]) == ("output_bias_class", "update_norm")
    table = stress.skew_table(at_skew, iid, 0.1)
    assert list(table) == ["FPR % (alpha 0.1)", "FPR % (IID)", "AUC (alpha 0.1)"]
    assert table.loc["output_bias_max"].tolist() == ["7 [4, 14]", "0 [0, 0]", "0.30 [0.20, 0.40]"]


def test_the_skew_frame_has_a_row_per_alpha_seed_and_detector():
    runs = {0.1: [results(detection=detection({1, 2, 3, 4}))] * 2, 1.0: [results(detection=detection({1}))]}
    frame = stress.skew_frame(runs)
    assert frame.dirichlet_alpha.tolist() == [0.1, 0.1, 1.0] and set(frame.detector) == {"output_bias_max"}


def test_the_findings_table_reads_the_glued_numbers():
    found = dict(num_runs=36, num_seeds=3, shot_peak=1.0, shot_next="10%", shot_final=0.1, shot_half_life="1 round",
                 every_peak=1.0, every_final=1.0, pool_attacked=4, schedule_rounds_text="8 rounds", bound=0.0682,
                 constrained_norm_auc_ci="0.48 [0.28, 0.69]", constrained_paper_auc_ci="0.84 [0.68, 0.93]",
                 constrained_peak=0.05, unconstrained_peak=1.0, adaptive_bias_auc_ci="0.25 [0.14, 0.42]",
                 plain_bias_auc_ci="0.99 [0.90, 1.00]", adaptive_separating=7, other_tensors=7,
                 repl_bias_paper_auc_ci="0.17 [0.08, 0.32]", repl_bias_loss_ci="0 [0, 0]", other_set_name="flat sandals",
                 other_bias_auc_ci="0.27 [0.15, 0.44]", other_bias_loss_ci="3 [-11, 18]", first_seed_runs=9,
                 skew_alpha=0.1, paper_fpr_skew_ci="7.4% [3.8%, 13.9%]", paper_fpr_iid_ci="0.0% [0.0%, 3.4%]")
    table = stress.findings(found, pd.Series({"striped_tshirts": 1.1042, "flat_sandals": 0.2746}))
    assert table["single shot: backdoor accuracy in its round, next round, final"] == "100%, 10%, 10%"
    assert table["activation scale (chapter 4's axis)"] == "striped T-shirts 1.10, flat sandals 0.27"
    assert table["adaptive replacement on the flat sandals: peak given up (points)"] == "3 [-11, 18]"
    assert table["alpha = 0.1: honest client-rounds the output-bias rule flags"] == (
        "7.4% [3.8%, 13.9%] (IID: 0.0% [0.0%, 3.4%])")
    assert np.isclose(table["norm bound (L2)"], 0.0682)


@pytest.mark.parametrize("backdoor, expected", [([0.0, 1.0, 0.9], "outlasts"), ([0.0, 1.0, 0.1], "even the attacker")])
def test_whether_the_backdoor_persists(backdoor, expected):
    run = results(rounds=rounds(backdoor), detection=detection({1}, num_rounds=2))
    schedules = {"every round": [run], "pool": [run], "single shot": [run]}
    found = stress.schedule_findings(schedules, stress.schedule_table(schedules), 1, 2)
    assert expected in found["persist_note"]
