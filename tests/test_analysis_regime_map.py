"""Chapter 4's map beyond its statistics, on small hand-made tables: the words of its plan, the per-setting
tables of flsim.analysis.regimes.MapReading, the strong attacks' leaders (flsim.analysis.strong) and the
paper's run beside the reference's (flsim.analysis.paper)."""

import types

import numpy as np
import pandas as pd
import pytest

from flsim import reference
from flsim.analysis import paper, regimes, strong


def test_the_plan_in_words():
    assert regimes.strength_text(1, 1.0) == "r = 1 (every sample poisoned)"
    assert regimes.strength_text(2, 10.0) == "r = 2 with model replacement (its update scaled x10)"
    assert regimes.strength_text(1, 2.5) == ("r = 1 (every sample poisoned) with model replacement "
                                             "(its update scaled x2.5)")
    assert regimes.attack_label(1, 1.0) == "r = 1" and regimes.attack_label(2, 10.0) == "r = 2 x10"
    assert regimes.training_text(300, 1) == "300 samples and 1 epoch"
    assert regimes.training_text(None, 2) == "the whole round-robin deal and 2 epochs"


@pytest.mark.parametrize("value", [[], [[1, 1.0, 3]], [[2]]])
def test_strong_attacks_must_be_pairs(value):
    with pytest.raises(ValueError, match=r"one or more \[r, attack_scale\] pairs"):
        regimes.check_strong_attacks(value)
    regimes.check_strong_attacks([[1, 1.0], [2, 10.0]])  # no error


def map_reading():
    """A MapReading of three settings, its leads given rather than computed from runs."""
    reading = object.__new__(regimes.MapReading)
    reading.tensor = "fc2.bias"
    reading.plan = types.SimpleNamespace(short={"semantic flat_sandals": "flat_sandals", "trigger": "trigger"})
    keys = dict(steps=[5, 5, 10], backdoor=["semantic flat_sandals", "trigger", "semantic flat_sandals"], r=[2, 2, 2])
    reading.lead = pd.DataFrame({**keys, "leader": ["fc2.bias", "conv1.weight", "fc2.bias"],
                                 "lead": [4.0, -0.04, 1.0], "lead_low": [1.0, -2.04, np.nan],
                                 "lead_high": [7.0, 1.96, np.nan], "runs": [3, 3, 1], "runs_led": [3, 1, 1]})
    reading.ratio_lead = pd.DataFrame({**keys, "leader": ["fc2.bias", "fc2.weight", "fc2.weight"],
                                       "runs": [3, 3, 1], "runs_led": [2, 0, 0]})
    reading.median_lead = pd.DataFrame({**keys, "leader": ["fc2.bias", "fc2.bias", "fc2.weight"],
                                        "runs": [3, 3, 1], "runs_led": [3, 2, 0]})
    reading.presence = pd.DataFrame({**keys, "value": [5.0, 1.0, 4.0], "present": [True, False, True],
                                     "runs_above": [3, 0, 1], "runs": [3, 3, 1]})
    reading.accuracy = np.array([0.1, 0.6, 0.05])
    return reading


def test_the_lead_table_gives_each_lead_with_half_its_interval_and_no_negative_zero():
    table = map_reading().lead_table()
    assert list(table.index) == [(5, "flat_sandals", 2), (5, "trigger", 2), (10, "flat_sandals", 2)]
    assert table["fc2.bias lead"].tolist() == ["4.0 ± 3.0", "0.0 ± 2.0", "1.0 (1 seed)"]
    assert table["seeds led"].tolist() == ["3 of 3", "1 of 3", "1 of 1"]
    assert table.leader.tolist() == ["fc2.bias", "conv1.weight", "fc2.bias"]
    assert table["backdoor acc."].tolist() == [0.1, 0.6, 0.05]


def test_the_readings_and_the_backdoors_count_each_reading():
    reading = map_reading()
    readings = reading.readings_table()
    assert readings.ratio.tolist() == ["fc2.bias", "fc2.weight", "fc2.weight"]
    assert readings.seeds.tolist() == ["2/3", "0/3", "0/1"] and readings["z > 3"].tolist() == ["3/3", "0/3", "1/1"]
    by_backdoor = reading.backdoor_table()
    assert list(by_backdoor.index) == ["flat_sandals", "trigger"]
    assert by_backdoor.loc["flat_sandals"].tolist() == [2, 1, 1, 1, 2]  # settings, ratio, median, settled, z > 3
    assert by_backdoor.loc["trigger"].tolist() == [1, 0, 1, 0, 0]


def strong_summary():
    """Two strong settings of two runs each, per run and tensor the attacker's z-score."""
    rows, z = [], {0: {"a": 5.0, "fc2.bias": 4.0}, 1: {"a": 3.0, "fc2.bias": 6.0},
                   2: {"a": 1.0, "fc2.bias": 2.0}, 3: {"a": 0.5, "fc2.bias": 3.0}}
    for run, scores in z.items():
        setting = dict(steps=5, backdoor="trigger", r=1, scale=1.0 if run < 2 else 10.0)
        rows += [dict(setting, run=run, layer=layer, attacker_z=value) for layer, value in scores.items()]
    return pd.DataFrame(rows)


def test_strong_leaders_count_the_seeds_a_leader_leads_alone():
    table = strong.leaders(strong_summary(), "attacker_z")
    assert table.leader.tolist() == ["fc2.bias", "fc2.bias"]  # means 5.0 > 4.0; 2.5 > 0.75
    assert table.led.tolist() == [1, 2] and table.runs.tolist() == [2, 2]
    assert table.scale.tolist() == [1.0, 10.0]
    assert strong.tally(table, [True, True], [2, 2]) == "fc2.bias in 2 (3 of 4 seeds)"
    assert strong.tally(table, [False, True], [2, 2]) == "fc2.bias in 1 (2 of 2 seeds)"
    assert strong.tally(table, [False, False], [2, 2]) == "none"
    assert [strong.kept_text(m, z) for m, z in [(True, True), (True, False), (False, True), (False, False)]] == \
        ["both", "med.", "z", "none"]


def paper_results():
    """Two rounds of four clients (client 0 attacks) in two tensors: the attacker on top in fc2.bias in
    round 1 only (its statistic 4 against 1, 1, 2; then 1.5 against 2, 1, 1)."""
    values = {1: {"fc2.bias": [4.0, 1.0, 1.0, 2.0], "fc1.weight": [1.0, 2.0, 3.0, 4.0]},
              2: {"fc2.bias": [1.5, 2.0, 1.0, 1.0], "fc1.weight": [1.0, 2.0, 3.0, 4.0]}}
    updates = pd.DataFrame([dict(round=r, client=c, layer=layer, malicious=c == 0, max_abs_deviation=v)
                            for r, layers in values.items() for layer, column in layers.items()
                            for c, v in enumerate(column)])
    rounds = pd.DataFrame({"round": [0, 1, 2], "main_accuracy": [0.5, 0.6, 0.7],
                           "backdoor_accuracy": [0.0, 0.2, 0.55]})
    return types.SimpleNamespace(config=types.SimpleNamespace(num_rounds=2), updates=updates, rounds=rounds)


def test_the_papers_run_beside_the_reference():
    run = paper.PaperRun(paper_results())
    table = run.table()
    assert list(table.columns.get_level_values(0)) == ["test acc.", "test acc.", "backdoor acc.", "backdoor acc.",
                                                     "attacker / honest", "attacker / honest", "rank", "rank"]
    assert table[("attacker / honest", "book")].tolist() == pytest.approx([3.0, 1.125])
    assert table[("rank", "book")].tolist() == [1, 2]
    assert table[("test acc.", "ref.")].tolist() == list(reference.TEST_ACCURACY[:2])
    words = run.words()
    assert words["paper_top"] == "1" and words["paper_top_count"] == 1 and words["paper_top_text"] == "round 1"
    assert words["paper_held"] == "from round 2" and words["paper_backdoor_last"] == 0.55
    assert words["paper_acc_first"] == 0.6 and words["paper_acc_last"] == 0.7
    assert words["paper_ratio_first"] == pytest.approx(3.0)
    assert words["quoted_top"] == "1, 2" and words["quoted_ratio_text"].startswith("3.27 [")
    assert words["paper_best_tensor"] == "fc2.bias" and words["paper_bias_text"] == words["paper_best_text"]
    assert words["paper_bias_auc"] == pytest.approx(5 / 6)  # the attacker above 5 of the 6 honest client-rounds
    assert words["paper_auc_text"].endswith(", Hanley and McNeil's interval")
