"""flsim.analysis.defences and flsim.analysis.detector_tables (chapter 8) on small hand-made runs and tables,
with answers worked out by hand."""

import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import flsim
from flsim import notebook
from flsim.analysis import defences, detector_tables, words
from flsim.analysis.statistics import wilson_interval
from flsim.detectors import DETECTORS

BASE = flsim.Config(num_clients=5, samples_per_client=60, num_rounds=2, server_share=0.2, malicious_data_rate=2)
ATTACKS = {"semantic": {}, "trigger": dict(attack="trigger"), "replacement": dict(attack_scale=5.0),
           "DBA": dict(attack="trigger", num_malicious=2, trigger_parts=2)}
OTHERS = {"flat sandals": dict(semantic_set="flat_sandals")}


class Run:
    """A stand-in for flsim.Results: two rounds of accuracies, and the aggregator's decisions."""

    def __init__(self, config=None, main=0.8, backdoor=(0.0, 0.5, 0.2), accepted=(True,) * 5,
                 malicious=(True, False, False, False, False), seconds=1.0, detection=None):
        self.config = config
        self.rounds = pd.DataFrame({"round": range(len(backdoor)), "main_accuracy": [0.1] * (len(backdoor) - 1) + [main],
                                    "backdoor_accuracy": list(backdoor), "seconds": [0.0] + [seconds] * (len(backdoor) - 1)})
        self.defence = pd.DataFrame({"round": 1, "client": range(len(malicious)),
                                     "accepted": [None if a is None else bool(a) for a in accepted],
                                     "malicious": list(malicious)})
        self.detection = detection


def sweep_of(seconds=1.0):
    """A sweep that returns a stand-in run per config, each config's seed in its seconds (to tell them apart)."""
    return lambda configs: [Run(config=c, seconds=seconds + c.seed) for c in configs]


def test_defence_runs_build_every_role_once_and_count_them():
    runs = defences.DefenceRuns(BASE, ATTACKS, OTHERS, ["fedavg", "krum"], [0, 1], 1)
    configs = runs.configs
    # 4 attacks x 2 defences x 1 defence seed, then (4 attacks + 1 other + "none") x 2 seeds undefended
    assert len(configs) == 4 * 2 * 1 + 6 * 2
    runs.run(sweep_of())
    assert set(runs.runs) == {(a, d, 0) for a in ATTACKS for d in ("fedavg", "krum")}
    assert runs.by_seed["flat sandals", 1].config.semantic_set == "flat_sandals"
    assert runs.by_seed["none", 1].config.attack == "none" and len(runs.clean) == 2
    assert [r.config.seed for r in runs.attacked("DBA")] == [0, 1]
    values = runs.values()
    # the undefended defence runs on seed 0 are detection runs too: 8 + 12 - 4 distinct runs
    assert values["num_runs"] == 16 and values["num_defence_runs"] == 8 and values["num_detection_runs"] == 8
    assert values["num_seeds_text"] == "2 seeds" and values["defence_seeds_text"] == "1 seed"
    assert values["defence_seed_runs"] == 4 and values["defence_extra_runs"] == 0
    # Krum's four runs on seed 0, each two rounds of 1 s (the stand-in's seed 0 + 1.0)
    assert values["defence_seconds"] == 8.0 and values["defence_extra_seconds"] == 0.0
    assert values["judged_text"] == "every attack, of the flat sandals" and values["num_other_runs"] == 2


def test_setting_values_name_the_settings():
    values = defences.setting_values(BASE, dba_attackers=2)
    deal = -(-60000 // 6)  # Fashion-MNIST's 60,000 training images over 5 clients and the server
    assert values["server_samples"] == round(0.2 * deal) == 2000
    assert values["sample_passes"] == 5 * 60 * 2 * 1
    assert values["local_training"] == f"1 local epoch (lr {BASE.lr:g}, batch {BASE.batch_size})"
    assert values["dba_dose"] == 4 and values["krum_assumes"] == "1 attacker" and values["multi_krum_kept"] == 4
    assert values["dataset_name"] == "Fashion-MNIST" and values["num_detectors"] == len(DETECTORS)
    assert values["eval_text"] == f"{BASE.eval_samples} test images" if BASE.eval_samples else "all test images"


def test_defence_table_pools_accuracies_over_seeds_and_flags_over_client_rounds():
    runs = defences.DefenceRuns(BASE, {"semantic": {}}, {}, ["fedavg", "krum"], [0, 1], 2)
    runs.runs = {("semantic", "fedavg", 0): Run(main=0.8, backdoor=(0, 0.6, 0.4), accepted=(None,) * 5),
                 ("semantic", "fedavg", 1): Run(main=0.9, backdoor=(0, 0.2, 0.8), accepted=(None,) * 5),
                 # Krum leaves out the attacker and one honest client in seed 0, nobody in seed 1
                 ("semantic", "krum", 0): Run(main=0.7, backdoor=(0, 0.1, 0.1), accepted=(False, False, True, True, True)),
                 ("semantic", "krum", 1): Run(main=0.7, backdoor=(0, 0.3, 0.1))}
    per_run, table = defences.defence_table(runs)
    assert len(per_run) == 4 and per_run.backdoor_peak.tolist() == [0.6, 0.8, 0.1, 0.3]
    fedavg = table.set_index("aggregator").loc["fedavg"]
    assert fedavg.main_accuracy == pytest.approx(0.85) and fedavg.backdoor_peak == pytest.approx(0.7)
    # t interval of (0.6, 0.8): 0.7 +- 12.706 x 0.1414 / sqrt(2), cut to [0, 1]
    assert (fedavg.backdoor_peak_lo, fedavg.backdoor_peak_hi) == (0.0, 1.0)
    assert np.isnan(fedavg.tpr) and np.isnan(fedavg.fpr_lo)  # FedAvg decides nothing per client
    krum = table.set_index("aggregator").loc["krum"]
    assert krum.tpr == 0.5 and krum.fpr == 1 / 8  # 1 of 2 attacking, 1 of 8 honest client-rounds
    assert (krum.tpr_lo, krum.tpr_hi) == pytest.approx(wilson_interval(1, 2))
    accuracy, flags = defences.defence_tables(table)
    assert accuracy.loc[("semantic", "krum"), "main"] == "70 [70, 70]"
    assert flags.loc[("semantic", "fedavg"), "TPR"] == "" and flags.loc[("semantic", "krum"), "TPR"].startswith("50 [")


def per_run_table():
    """Two seeds of FedAvg, median and a costly norm_clip under two attacks (hand-made)."""
    rows = []
    for seed, base_peak in ((0, 0.8), (1, 0.4)):
        for attack in ("semantic", "replacement"):
            rows += [dict(attack=attack, aggregator="fedavg", seed=seed, main_accuracy=0.80, backdoor_peak=base_peak),
                     dict(attack=attack, aggregator="median", seed=seed, main_accuracy=0.79, backdoor_peak=0.3),
                     dict(attack=attack, aggregator="norm_clip", seed=seed, main_accuracy=0.70 - 0.02 * seed,
                          backdoor_peak=0.1 if seed == 0 else 0.4)]
    return pd.DataFrame(rows)


def test_replacement_finds_who_halves_the_peak_and_what_it_costs():
    per_run = per_run_table()
    table = per_run.groupby(["attack", "aggregator"], sort=False)[["main_accuracy", "backdoor_peak"]].mean().reset_index()
    table = table.assign(backdoor_peak_lo=table.backdoor_peak - 0.1, backdoor_peak_hi=table.backdoor_peak + 0.1)
    found = defences.replacement(per_run, table, ["fedavg", "median", "norm_clip"])
    # the mean undefended peak 0.6; median's 0.3 and norm_clip's 0.25 are at most half of it
    assert found.stopped == ["median", "norm_clip"]
    # seed by seed: median 0.3 <= 0.4 (seed 0) but not <= 0.2 (seed 1); norm_clip 0.1 <= 0.4, 0.4 > 0.2
    assert found.halved.to_dict() == {"fedavg": 0, "median": 1, "norm_clip": 1} and found.seeds == 2
    mean, lo, hi = found.cost_ci["norm_clip"]  # -10 and -12 points against FedAvg
    assert mean == pytest.approx(-11.0) and lo < -11 < hi
    assert found.costs.idxmin() == "norm_clip" and found.costs["median"] == pytest.approx(-0.01)
    undefended, against = defences.replacement_tables(found, ["fedavg", "median", "norm_clip"])
    assert undefended.loc["replacement"].iloc[0] == "60 [50, 70]"
    assert against.loc["median", "halves it in seeds"] == "1 of 2"
    assert against.loc["norm_clip", "main vs FedAvg"] == words.interval_text(mean, lo, hi, ".1f")


def test_defence_values_read_the_filter_and_foolsgold_flags():
    attacks = {"semantic": {}, "trigger": {}, "replacement": {}, "DBA": {}}
    runs = defences.DefenceRuns(BASE, attacks, {}, ["fedavg", "foolsgold", "bias_filter"], [0], 1)
    dba = (True, True, False, False, False)
    # FoolsGold flags honest clients, never the attacker; the filter flags the attacker only
    runs.runs = {(a, d, 0): Run(accepted=(True, False, False, False, False) if d == "foolsgold" else
                                (False, True, True, True, True) if d == "bias_filter" else (None,) * 5,
                                malicious=dba if a == "DBA" else (True, False, False, False, False))
                 for a in attacks for d in runs.defences}
    per_run, table = defences.defence_table(runs)
    values = defences.defence_values(table, defences.replacement(per_run, table, runs.defences), runs)
    assert values["filter_semantic_flags"] == "1 of 1" and values["filter_dba_flags"] == "1 of 2"
    assert values["filter_honest_flags"].startswith("0 of 15 (0% [")  # 4 + 4 + 4 + 3 honest client-rounds
    assert values["foolsgold_attacker_flags"].startswith("0 of 3 (") and values["foolsgold_honest_flags"].startswith("12 of 12")
    assert values["foolsgold_note"].startswith("FoolsGold turns against its purpose here")
    assert values["stopped_count"] == 0 and values["stopped_names"] == "none"
    # every backdoor peaks at 50% undefended: each "works"
    assert values["undefended_peak_semantic"] == 0.5 and values["working_attacks"] == "semantic, trigger, replacement, DBA"


def report_row(auc, lo, hi, **more):
    return dict(auc=auc, auc_lo=lo, auc_hi=hi, attacker_rounds=20, honest_rounds=180, clean_rounds=200,
                tpr=0.5, tpr_lo=0.3, tpr_hi=0.7, fpr=0.01, fpr_lo=0.0, fpr_hi=0.03, cal_tpr=0.4, cal_tpr_lo=0.2,
                cal_tpr_hi=0.6, cal_fpr=0.05, cal_fpr_lo=0.02, cal_fpr_hi=0.1, clean_fpr=0.02, clean_fpr_lo=0.01,
                clean_fpr_hi=0.04, **more)


def report_of(aucs: dict) -> pd.DataFrame:
    """attack -> (the output-bias statistic's auc, lo, hi); every other detector at 0.6 [0.5, 0.7]."""
    rows = [dict(attack=a, detector=d, **report_row(*(aucs[a] if d == "output_bias_max" else (0.6, 0.5, 0.7))))
            for a in aucs for d in DETECTORS]
    return pd.DataFrame(rows).set_index(["attack", "detector"])


def judged(others=True):
    attacks = {"semantic": {}, "trigger": dict(attack="trigger")}
    return SimpleNamespace(base=BASE, attacks=attacks, others=OTHERS if others else {}, seeds=[0, 1, 2],
                           judged={**attacks, **(OTHERS if others else {})})


@pytest.mark.parametrize("aucs, claim, sides", [
    ({"semantic": (0.95, 0.91, 0.99), "flat sandals": (0.97, 0.93, 1.0), "trigger": (0.99, 0.95, 1.0)},
     "The paper's output-bias statistic is a useful detector of a lone attacker.", (3, 0, 0)),
    ({"semantic": (0.95, 0.85, 0.99), "flat sandals": (0.7, 0.6, 0.8), "trigger": (0.99, 0.95, 1.0)},
     "The paper's output-bias statistic is not a reliable detector even of a lone attacker.", (1, 1, 1)),
    ({"semantic": (0.95, 0.85, 0.99), "flat sandals": (0.97, 0.93, 1.0), "trigger": (0.99, 0.95, 1.0)},
     "These runs cannot tell whether the paper's output-bias statistic is a useful detector of a lone attacker.",
     (2, 0, 1)),
])
def test_the_verdict_and_its_bar_table(aucs, claim, sides):
    report, runs = report_of(aucs), judged()
    text = detector_tables.verdict(report, runs)
    assert text.startswith(claim)
    lowest = min(aucs, key=lambda a: aucs[a][0])
    names = {"semantic": "striped T-shirts", "flat sandals": "flat sandals", "trigger": "pixel trigger"}
    assert f"is {words.interval_text(*aucs[lowest])}, against the {names[lowest]}." in text
    assert f"{sides[0]} lie wholly above the bar, {sides[1]} wholly below it and {sides[2]} straddle it" in text
    assert "one poisoned sample in 2 of its 60 samples, among 5 clients for 2 rounds, pooled over 3 seeds" in text
    assert all(len(s.split()) <= 40 for s in re.split(r"(?<=\.) ", text))
    assert not notebook.uncertain_claims(text)  # every measured decimal with its interval
    bar = detector_tables.bar_table(report, runs, pd.Series({"striped_tshirts": 1.08, "flat_sandals": 0.35}))
    assert bar.index.tolist() == ["striped T-shirts", "flat sandals", "pixel trigger"]
    assert bar["activation scale"].tolist() == ["1.08", "0.35", ""]
    assert bar["against 0.9"].tolist().count("above") == sides[0]


def test_report_and_fixed_values_read_the_report():
    report = report_of({"semantic": (0.9, 0.8, 1.0), "DBA": (0.7, 0.6, 0.8)})
    report.loc[("DBA", "krum_score"), ["cal_fpr", "cal_fpr_lo", "cal_fpr_hi"]] = [0.3, 0.2, 0.4]
    values = detector_tables.report_values(report, 3.0, 0.05)
    assert values["attacker_rounds_lone"] == 20 and values["clean_rounds"] == 200 and values["outlier_z"] == 3.0
    assert detector_tables.fixed_values(report) == dict(cal_fpr_max_ci="30% [20%, 40%]",
                                                        cal_fpr_max_where="krum_score under the DBA attack")
    tables = detector_tables.report_tables(report)
    assert list(tables) == ["semantic", "DBA"] and tables["DBA"].loc["output_bias_max", "AUC"] == "0.70 [0.60, 0.80]"


def test_axis_values_place_the_two_sets_on_chapter_4s_axis():
    scale = pd.Series({"striped_tshirts": 1.08, "flat_sandals": 0.35})
    values = detector_tables.axis_values(scale, "striped_tshirts", "flat_sandals")
    assert values["other_side_text"] == ("the flat sandals (activation scale 0.35), where the law predicts that "
                                         "the output bias leads")
    assert values["axis_note"].startswith("the striped T-shirts sit higher on the axis (1.08 against 0.35)")
    alone = detector_tables.axis_values(scale, "striped_tshirts", "")
    assert alone["other_set_name"] == "none" and alone["axis_note"] == "the striped T-shirts sit at 1.08"
    same = detector_tables.axis_values(pd.Series({"a_b": 1.0, "c_d": 1.0}), "a_b", "c_d")
    assert same["axis_note"] == "both sets sit at the same place" and "is not below the default's" in same["other_side_text"]


def detection(attacker_score: float) -> pd.DataFrame:
    """One round of five clients, client 0 attacking; output_bias_max scores it ``attacker_score``, the
    other detectors 1.0, and the honest clients score 0 to 0.4 everywhere."""
    return pd.DataFrame([dict(round=1, client=c, malicious=c == 0, detector=d,
                              score=(attacker_score if d == "output_bias_max" else 1.0) if c == 0 else 0.1 * c)
                         for d in DETECTORS for c in range(5)])


def test_paper_values_count_the_seeds_in_which_the_statistic_is_highest():
    runs = judged(others=False)
    # seed 0: the attacker scores below two honest clients on output_bias_max (AUC 0.5); seeds 1, 2: on top
    runs.by_seed = {("semantic", s): Run(detection=detection(0.25 if s == 0 else 9.0)) for s in runs.seeds}
    runs.by_seed |= {("trigger", s): Run(detection=detection(9.0)) for s in runs.seeds}
    runs.attacked = lambda a: [runs.by_seed[a, s] for s in runs.seeds]
    assert detector_tables.top_seeds(runs, "semantic") == 2 and detector_tables.top_seeds(runs, "trigger") == 3
    report = report_of({"semantic": (0.9, 0.8, 1.0), "trigger": (0.95, 0.85, 1.0)})
    values = detector_tables.paper_values(report, runs, z=3.0)
    assert values["paper_top_seeds_text"] == "2 of 3 (semantic), 3 of 3 (trigger)"
    assert values["paper_auc_trigger_ci"] == "0.95 [0.85, 1.00]" and values["best_detector_trigger"] == "output_bias_max"
    assert values["paper_best_count"] == 2 and values["other_compare"] == "not run"
    table = detector_tables.paper_table(report, runs)
    assert table.loc["semantic", "highest in seeds"] == "2 of 3"


def test_findings_keep_every_number_of_the_summary():
    runs = SimpleNamespace(attacks={"semantic": {}}, others={"flat sandals": {}}, defences=["fedavg", "bias_filter"])
    found = {"num_runs": 3, "num_seeds": 5, "defence_seeds": 3, "attacker_rounds_lone": 20, "honest_rounds_lone": 180,
             "paper_best_count": 1, "paper_clean_fpr_ci": "1%", "working_attacks": "semantic", "stopped_names": "none",
             "worst_cost_name": "krum", "worst_cost_ci": "5.0 [4.0, 6.0]", "filter_semantic_flags": "1 of 2",
             "filter_honest_flags": "0 of 8", "filter_peak_replacement_ci": "10%",
             **{f"{k}_{a}{s}": "x" for a in ("semantic", "other") for k, s in
                (("paper_auc", "_ci"), ("best_detector", ""), ("best_auc", "_ci"), ("undefended_peak", "_ci"))}}
    numbers = defences.findings(found, runs, pd.Series({"striped_tshirts": 1.08}))
    assert numbers["activation scale (chapter 4's axis)"] == "striped T-shirts 1.08"
    assert "flat sandals: output-bias statistic's ROC-AUC" in numbers
    assert "flat sandals: undefended peak backdoor accuracy" not in numbers  # detectors only
    assert numbers["attacks whose backdoor peaks at 50% or more undefended"] == "semantic"
    assert numbers["bias filter: honest client-rounds flagged"] == "0 of 8"


def test_paper_values_compare_the_two_sides_of_chapter_4s_law_by_their_intervals():
    runs = judged()
    runs.by_seed = {(a, s): Run(detection=detection(9.0)) for a in runs.judged for s in runs.seeds}
    runs.attacked = lambda a: [runs.by_seed[a, s] for s in runs.seeds]
    # the sandals' AUC interval lies above the T-shirts'; their outlier-rule TPRs (0.5 [0.3, 0.7]) are alike
    report = report_of({"semantic": (0.7, 0.6, 0.8), "flat sandals": (0.95, 0.9, 1.0), "trigger": (0.9, 0.8, 1.0)})
    values = detector_tables.paper_values(report, runs, z=3.0)
    assert values["other_compare"] == ("by the two intervals, its ROC-AUC is higher than the striped T-shirts' and "
                                       "its outlier-rule TPR not distinguishable from theirs")
    assert values["paper_auc_other_ci"] == "0.95 [0.90, 1.00]" and values["paper_top_seeds_other"] == 3
