"""Chapter 8 with tiny parameters: 5 clients x 60 samples, 2 rounds, four defences (Krum needs 5 clients),
the detection runs (with the flat sandals, the other side of chapter 4's law) and the defence runs on two
seeds."""

import math
import re

import nbformat
import pytest

from flsim.notebook import ParameterError

from .conftest import assert_reads_well, html_tables, parameter_check, shown, unreadable_outputs

TINY = dict(num_clients=5, samples_per_client=60, num_rounds=2, eval_samples=100, server_share=0.05,
            dba_attackers=2, aggregator_values=["fedavg", "krum", "foolsgold", "bias_filter"], seeds=[0, 1],
            defence_seeds=2)
NUMBER = r"(-?[\d.]+)(%?)"
INTERVAL = re.compile(rf"^{NUMBER} \[{NUMBER}, {NUMBER}\]$")


def interval(text: str) -> tuple[float, float, float]:
    """(value, lo, hi) of a glued "0.93 [0.85, 0.99]" or "12% [6%, 20%]", as fractions for percentages."""
    match = INTERVAL.match(text)
    assert match, text
    numbers = [float(match.group(i)) / (100 if match.group(i + 1) else 1) for i in (1, 3, 5)]
    return tuple(numbers)


def assert_interval(text: str, point: float | None = None) -> None:
    value, lo, hi = interval(text)
    assert 0 <= lo <= value <= hi <= 1, text
    if point is not None:
        assert value == pytest.approx(point, abs=0.006), (text, point)


def counted(text: str) -> tuple[int, int]:
    """(k, n) of a glued "k of n" or "k of n (rate [lo, hi])", with its interval checked."""
    match = re.match(r"^(\d+) of (\d+)(?: \((.*)\))?$", text)
    assert match, text
    k, n = int(match.group(1)), int(match.group(2))
    assert k <= n
    if match.group(3):
        assert_interval(match.group(3), k / n)
    return k, n


def test_the_chapter_with_tiny_parameters(run_chapter, tmp_path):
    values = run_chapter("08_detection_defences", **TINY)
    # attacks x defences x 2 defence seeds; then the attack-free and flat-sandals runs on each seed (the
    # undefended runs of the four attacks are defence runs too)
    assert values["num_defence_runs"] == 4 * 4 * 2 and values["num_detection_runs"] == 2 * 2
    assert values["num_runs"] == 4 * 4 * 2 + 2 * 2 and values["num_seeds"] == 2
    assert values["num_other_runs"] == 2
    assert values["defence_seeds"] == 2 and values["defence_seeds_text"] == "2 seeds"
    # per seed of the defence table, the defences that the detection runs do not share
    assert values["defence_seed_runs"] == 4 * 3 and values["defence_extra_runs"] == 4 * 3
    assert values["defence_seconds"] > values["defence_extra_seconds"] > 0
    assert values["num_seeds_text"] == "2 seeds" and values["num_attacks"] == 4
    assert values["compute_seconds"] > 0
    # The counts behind the rates: 2 seeds x 2 rounds, all 5 clients chosen, 1 attacker (DBA: 2).
    assert (values["attacker_rounds_lone"], values["honest_rounds_lone"]) == (2 * 2 * 1, 2 * 2 * 4)
    assert (values["attacker_rounds_dba"], values["honest_rounds_dba"]) == (2 * 2 * 2, 2 * 2 * 3)
    assert values["clean_rounds"] == 2 * 2 * 5
    assert values["sample_passes"] == 5 * 60 * 2 and values["local_training"].startswith("1 local epoch ")
    assert (values["outlier_z"], values["target_fpr"]) == (3.0, 0.05)
    for attack in ("semantic", "trigger", "replacement", "dba", "other"):
        for name in (f"paper_auc_{attack}", f"best_auc_{attack}", f"paper_tpr_{attack}",
                     f"paper_cal_tpr_{attack}"):
            assert 0 <= values[name] <= 1, name
        if attack != "other":  # the other side runs undefended for the detectors only
            assert 0 <= values[f"undefended_peak_{attack}"] <= 1
        assert_interval(values[f"paper_auc_{attack}_ci"], values[f"paper_auc_{attack}"])
        assert_interval(values[f"best_auc_{attack}_ci"], values[f"best_auc_{attack}"])
        for name in (f"paper_tpr_{attack}", f"paper_cal_tpr_{attack}"):
            assert_interval(values[f"{name}_ci"], values[name])
        assert_interval(values[f"paper_fpr_{attack}_ci"])
        assert values[f"best_auc_{attack}"] >= values[f"paper_auc_{attack}"]
    assert 0 <= values["paper_best_count"] <= 4 and 0 <= values["paper_first_round_seeds"] <= 2
    # seed by seed: the seeds in which the output-bias statistic has the highest AUC, per attack
    tops = re.findall(r"(\d+) of (\d+) \(([^)]*)\)", values["paper_top_seeds_text"])
    assert [t[2] for t in tops] == ["semantic", "trigger", "replacement", "DBA", "flat sandals"]
    assert all(int(k) <= int(n) == 2 for k, n, _ in tops)
    assert [int(k) for k, _, _ in tops] == [values[f"paper_top_seeds_{a}"]
                                            for a in ("semantic", "trigger", "replacement", "dba", "other")]
    assert 0 <= values["paper_clean_fpr"] <= values["max_clean_fpr"] <= 1
    assert_interval(values["paper_clean_fpr_ci"], values["paper_clean_fpr"])
    assert_interval(values["max_clean_fpr_ci"], values["max_clean_fpr"])
    assert_interval(values["foolsgold_auc_max_ci"], values["foolsgold_auc_max"])
    assert_interval(values["cal_fpr_max_ci"])
    assert 0 <= values["stopped_count"] <= 4
    assert (values["stopped_names"] == "none") == (values["stopped_count"] == 0)
    if values["stopped_count"]:  # each stopping defence with the seeds in which it halves the peak
        stopped = values["stopped_names"].split(", ")
        assert len(stopped) == values["stopped_count"]
        for i, entry in enumerate(stopped):
            match = re.fullmatch(r"(\w+) \((\d) of 2( seeds)?\)", entry)
            assert match and match.group(1) in TINY["aggregator_values"], entry
            assert bool(match.group(3)) == (i == 0) and int(match.group(2)) <= 2
    assert values["worst_cost_name"] in TINY["aggregator_values"]
    cost = re.fullmatch(rf"{NUMBER} \[{NUMBER}, {NUMBER}\]", values["worst_cost_ci"])
    assert cost, values["worst_cost_ci"]  # points below FedAvg, mean over the 2 seeds [interval]
    low, mean, high = float(cost.group(3)), float(cost.group(1)), float(cost.group(5))
    assert low <= mean <= high and mean == pytest.approx(values["worst_cost"], abs=0.06)
    for attack in ("semantic", "trigger", "replacement", "dba"):  # means over the defence seeds
        assert_interval(values[f"undefended_peak_{attack}_ci"], values[f"undefended_peak_{attack}"])
    assert_interval(values["filter_peak_replacement_ci"], values["filter_peak_replacement"])
    assert_interval(values["foolsgold_peak_semantic_ci"], values["foolsgold_peak_semantic"])
    # The defences' flags pooled over the 2 defence seeds: counts of the client-rounds they summarise.
    assert counted(values["filter_semantic_flags"])[1] == 2 * 2
    assert counted(values["filter_dba_flags"])[1] == 2 * 2 * 2
    assert counted(values["filter_honest_flags"])[1] == (4 * 2 * 4 - 2) * 2  # 4 attacks x 2 rounds x 4; DBA: 3
    assert counted(values["foolsgold_attacker_flags"])[1] == 3 * 2 * 2
    assert counted(values["foolsgold_honest_flags"])[1] == 3 * 2 * 4 * 2
    for name in ("filter_tpr_semantic", "filter_fpr_mean", "filter_peak_replacement", "filter_tpr_dba",
                 "foolsgold_fpr_lone", "foolsgold_tpr_lone", "foolsgold_peak_semantic"):
        assert 0 <= values[name] <= 1, name
    assert math.isfinite(values["foolsgold_cost"])
    assert values["foolsgold_note"].startswith(("FoolsGold ", "Pooled over these seeds, FoolsGold"))
    assert (values["dba_attackers"], values["dba_dose"]) == (2, 4)  # one sample in m * r
    assert (values["krum_f"], values["multi_krum_kept"], values["num_detectors"]) == (1, 4, 7)
    assert values["krum_assumes"] == "1 attacker"
    # Both semantic backdoors on chapter 4's axis, read from this chapter's pre-trained model.
    assert values["default_set_name"] == "striped T-shirts" and values["other_set_name"] == "flat sandals"
    assert values["scale_default"] > 0 and values["scale_other"] > 0
    assert f"{values['scale_other']:.2f}" in values["other_side_text"]
    assert values["axis_note"].startswith("the ") and "law expects" in values["axis_note"]
    relations = "(higher than|lower than|not distinguishable from)"
    assert re.fullmatch(rf"by the two intervals, its ROC-AUC is {relations} the striped T-shirts' and "
                        rf"its outlier-rule TPR {relations} theirs", values["other_compare"])
    assert values["judged_text"] == "every attack, of the flat sandals"
    # The verdict: its claim, the lowest AUC against a lone, unscaled attacker with its interval, and its
    # conditions, each sentence at most 40 words; the AUC of each lone attacker is in the bar's table.
    verdict = values["verdict"]
    claims = {"above": "The paper's output-bias statistic is a useful detector of a lone attacker.",
              "below": "The paper's output-bias statistic is not a reliable detector even of a lone attacker.",
              "straddles": "These runs cannot tell whether the paper's output-bias statistic is a useful detector "
                           "of a lone attacker."}
    assert verdict.startswith(tuple(claims.values()))
    assert "2 seeds" in verdict and "5 clients" in verdict
    assert "one poisoned sample in 2 of its 60 samples" in verdict and "4 attacking client-rounds" in verdict
    lowest = min(("semantic", "other", "trigger"), key=lambda a: values[f"paper_auc_{a}"])
    assert f"is {values[f'paper_auc_{lowest}_ci']}, against the " in verdict
    assert all(len(sentence.split()) <= 40 for sentence in re.split(r"(?<=\.) ", verdict))

    # The executed notebook reads without the book: captions, DataFrames, the findings table.
    path = tmp_path / "08_detection_defences.ipynb"
    assert_reads_well(path)
    notebook = nbformat.read(path, as_version=4)
    assert len(shown(notebook, "image/png")) == 3
    tables = shown(notebook, "text/html")  # the tables render as DataFrames, the long ones whole
    assert len(tables) == 15 and verdict in tables[-1]
    assert tables[0].count("<tr>") == 1 + 2  # the axis: the index name's row, then the two sets
    # per attack and the flat sandals: the index name's row, the detectors
    assert [t.count("<tr>") for t in tables[1:6]] == [1 + 7] * 5
    # the fixed threshold's TPR: the four attacks, then the two semantic backdoors
    assert [t.count("<tr>") for t in tables[6:8]] == [1 + 7] * 2
    # the defence tables, accuracies then flags: the index names' row, then attacks x defences, each
    # accuracy a mean over the seeds with its interval
    assert [t.count("<tr>") for t in tables[9:11]] == [1 + 4 * 4] * 2
    assert tables[9].count("[") >= 4 * 4 * 3
    assert tables[11].count("<tr>") == 1 + 4  # the undefended peaks, one per attack
    assert tables[12].count("<tr>") == 1 + 4 and "of 2" in tables[12]  # each defence: seeds it halves
    # the bar: each lone, unscaled attacker (both semantic backdoors and the trigger), its activation scale,
    # the output-bias statistic's AUC and where its interval lies against 0.9
    bar = html_tables(path)[13]
    assert [row[0] for row in bar[2:]] == ["striped T-shirts", "flat sandals", "pixel trigger"]
    assert bar[2][1:3] == [f"{values['scale_default']:.2f}", values["paper_auc_semantic_ci"]]
    assert bar[3][1:3] == [f"{values['scale_other']:.2f}", values["paper_auc_other_ci"]]
    assert bar[4][1:3] == ["", values["paper_auc_trigger_ci"]]
    sides = [row[3] for row in bar[2:]]
    assert set(sides) <= set(claims)  # any interval below the bar fails it; all above pass it; else open
    assert verdict.startswith(claims["below" if "below" in sides else "above" if set(sides) == {"above"}
                                     else "straddles"])
    assert f"{sides.count('above')} lie wholly above the bar, {sides.count('below')} wholly below" in verdict
    assert not unreadable_outputs(path)  # no nan, inf, negative zero or "(s)" in what a reader sees


@pytest.mark.parametrize("parameters, message", [
    (dict(replacement_scale=5.0), "this chapter has no parameter 'replacement_scale'"),  # now attack_scale
    (dict(defences=["fedavg"]), "this chapter has no parameter 'defences'"),  # now aggregator_values
    (dict(seed=1), "this chapter has no parameter 'seed'"),  # now seeds
])
def test_a_mistyped_parameter_stops_the_run(parameters, message):
    """The chapter stops at its parameter check, before anything is trained, naming the parameter."""
    error = parameter_check("08_detection_defences", **parameters)
    assert isinstance(error, ParameterError) and message in str(error)


@pytest.mark.parametrize("defence_seeds", [0, 6])
def test_defence_seeds_outside_the_seeds_stop_the_run(defence_seeds):
    """The defence runs run on the first ``defence_seeds`` of the five seeds: at least one, at most all."""
    error = parameter_check("08_detection_defences", defence_seeds=defence_seeds)
    assert isinstance(error, ValueError) and "defence_seeds" in str(error)
