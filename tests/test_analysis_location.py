"""flsim.analysis.location and flsim.analysis.hiding (chapter 10), and flsim.localisation.taken_apart, on small
hand-made tables and stand-in runs, with answers worked out by hand."""

import re
from types import SimpleNamespace

import pandas as pd
import pytest

import flsim
from flsim import localisation, notebook
from flsim.analysis import hiding, location
from flsim.analysis.words import count_text

TENSORS = ["conv.weight", "fc2.weight", "fc2.bias"]
BASE = flsim.Config(num_clients=5, samples_per_client=60, num_rounds=2, malicious_data_rate=2)


def substituted(backdoor, seed, own, global_, alone, without, critical):
    """One round-1 attacker (client 3) taken apart: per tensor its backdoor accuracy alone and without."""
    return [dict(backdoor=backdoor, seed=seed, client=3, tensor=t, own_backdoor=own, global_backdoor=global_,
                 backdoor_alone=a, backdoor_without=w, critical=t in critical)
            for t, a, w in zip(TENSORS, alone, without)]


def located() -> pd.DataFrame:
    """Backdoor A lives in conv.weight on both seeds (seed 1 needs fc2.bias too); B is learned on seed 1 only,
    in fc2.weight."""
    rows = (substituted("A", 0, 0.9, 0.1, (0.9, 0.1, 0.3), (0.1, 0.9, 0.8), {"conv.weight"})
            + substituted("A", 1, 0.5, 0.1, (0.5, 0.1, 0.1), (0.1, 0.5, 0.5), {"conv.weight", "fc2.bias"})
            + substituted("B", 0, 0.1, 0.2, (0.1, 0.1, 0.1), (0.1, 0.1, 0.1), set())
            + substituted("B", 1, 0.6, 0.2, (0.2, 0.6, 0.4), (0.6, 0.2, 0.6), {"fc2.weight"}))
    return localisation.shares(pd.DataFrame(rows))


def anomaly() -> pd.DataFrame:
    """Round 1's ratio and attacker z-score per tensor: (backdoor, seed) -> (ratios, z-scores) in TENSORS' order."""
    values = {("A", 0): ((1.2, 1.5, 3.0), (2, 3, 5)), ("A", 1): ((2.0, 1.0, 1.5), (6, 1, 2)),
              ("B", 0): ((1.0, 1.0, 1.0), (1, 1, 1)), ("B", 1): ((1.1, 1.2, 4.0), (1, 2, 1.5))}
    return pd.DataFrame([dict(backdoor=b, seed=s, layer=t, ratio=r, attacker_z=z)
                         for (b, s), (ratios, zs) in values.items() for t, r, z in zip(TENSORS, ratios, zs)])


def test_shares_of_the_hand_made_attackers():
    table = located().set_index(["backdoor", "seed", "tensor"])
    assert table.share_alone[("A", 0, "fc2.bias")] == pytest.approx(0.25)  # (0.3 - 0.1) / (0.9 - 0.1)
    assert table.share_removed[("A", 0, "fc2.bias")] == pytest.approx(0.125)  # (0.9 - 0.8) / 0.8
    assert table.share_alone[("B", 0, "fc2.bias")] != table.share_alone[("B", 0, "fc2.bias")]  # not learned: NaN


def test_location_values_find_the_home_and_where_the_anomaly_is():
    values = location.location_values(located(), anomaly(), ["A", "B"], bias="fc2.bias")
    assert (values["num_models"], values["num_learned"]) == (4, 3)
    assert values["home"] == "conv.weight" and values["home_critical"] == count_text(2, 3)
    assert values["bias_critical"] == count_text(1, 3)
    # the largest ratio: fc2.bias (A, 0), conv.weight (A, 1), fc2.bias (B, 1); critical only in (A, 1)
    assert values["ratio_top_critical"] == count_text(1, 3) and values["bias_top_ratio"] == count_text(2, 3)
    # the largest z-score: fc2.bias (A, 0), conv.weight (A, 1), fc2.weight (B, 1)
    assert values["z_top_critical"] == count_text(2, 3)
    assert (values["smallest_critical"], values["largest_critical"]) == (1, 2)
    assert values["ratio_leaders"] == "fc2.bias for the A; fc2.bias for the B"
    assert values["bias_backdoor"] == "A"  # fc2.bias's mean z-score: 3.5 against 1.25
    assert values["bias_alone_ci"].startswith("25% [")  # (0.25, 0, 0.5) over the three learned models
    assert values["home_alone_ci"].startswith("67% [")  # (1, 1, 0)


def test_location_values_without_a_learned_model():
    table = located()
    values = location.location_values(table[(table.backdoor == "B") & (table.seed == 0)], anomaly(), ["B"])
    assert values["home"] == "none" and values["home_alone_ci"] == "none" and values["bias_critical"] == "0 of 0"


def test_model_and_tensor_tables():
    models = location.model_table(located())
    assert models.loc["A"].tolist() == ["70% [50%, 90%]", "10%", "2 of 2"]
    assert models.loc["B", "models that learned it"] == "1 of 2"
    tables = location.tensor_tables(located(), anomaly(), ["A", "B", "C"])
    assert tables["C"] is None
    a = tables["A"]
    assert a.loc["conv.weight", "critical"] == "2 of 2" and a.loc["fc2.bias", "critical"] == "1 of 2"
    assert a.loc["conv.weight", "share alone"] == "100% [100%, 100%]"
    assert a.loc["conv.weight", "ratio"] == pytest.approx(1.6) and a.loc["fc2.bias", "z-score"] == pytest.approx(3.5)
    assert tables["B"].loc["fc2.weight", "share alone"] == "100%"  # one model: no interval
    share = location.share_map(located(), ["B", "A"])
    assert share.index.tolist() == ["B", "A"] and share.columns.tolist() == TENSORS
    assert share.loc["A", "fc2.bias"] == pytest.approx(0.125)


class Run:
    """A stand-in for flsim.Results: accuracies per round and the aggregator's decisions on five clients."""

    def __init__(self, config=None, main=0.8, peak=0.5, flagged=(), attackers=(0,)):
        self.config, self.output_bias_tensor = config, "fc2.bias"
        self.rounds = pd.DataFrame({"round": [0, 1, 2], "main_accuracy": [0.1, 0.5, main],
                                    "backdoor_accuracy": [0.0, peak, peak / 2], "seconds": [0.0, 1.0, 1.0]})
        self.defence = pd.DataFrame({"round": 1, "client": range(5), "accepted": [c not in flagged for c in range(5)],
                                     "malicious": [c in attackers for c in range(5)]})


ATTACKS = {"plain": {}, "LP": dict(lp_threshold=0.9)}


def test_location_runs_build_every_role():
    backdoors = {"striped T-shirts": dict(semantic_set="striped_tshirts"), "trigger": dict(attack="trigger")}
    runs = location.LocationRuns(BASE, backdoors, ATTACKS, [0, 1], 1, 10.0)
    assert len(runs.configs) == 2 * 2 * 2 + 2 * 2 * 1 + (2 + 1)
    runs.run(lambda configs: [Run(config=c) for c in configs])
    assert runs.strength["LP", "flame", 0].config.attack_scale == 10.0
    assert runs.strength["LP", "flame", 0].config.semantic_set == "striped_tshirts"
    assert set(runs.clean) == {("fedavg", 0), ("fedavg", 1), ("flame", 0)} and runs.hidden == ["LP"]
    assert runs.output_bias == "fc2.bias"
    assert set(runs.substitution_configs()) == {(b, s) for b in backdoors for s in (0, 1)}
    values = runs.values()
    assert values["num_seeds_text"] == "2 seeds" and values["strength_seeds_text"] == "1 seed"
    assert values["first_backdoor"] == "striped T-shirts" and values["dataset_name"] == "Fashion-MNIST"


def stand_in(strength: dict, clean: dict, attacks=ATTACKS):
    return SimpleNamespace(attacks=attacks, strong=[0, 1], strength=strength, clean=clean, hidden=list(attacks)[1:])


def test_flame_table_and_values():
    strength = {("plain", "fedavg", s): Run(main=0.6, peak=0.9) for s in (0, 1)}
    strength |= {("LP", "fedavg", s): Run(main=0.6, peak=0.7 + 0.1 * s) for s in (0, 1)}
    # FLAME leaves out the plain attacker in both seeds, the LP attacker in one, an honest client once
    strength |= {("plain", "flame", s): Run(main=0.5, peak=0.1, flagged=(0,)) for s in (0, 1)}
    strength |= {("LP", "flame", s): Run(main=0.5, peak=0.3, flagged=(0, 1) if s else ()) for s in (0, 1)}
    clean = {(d, s): Run(main=0.8 if d == "fedavg" else 0.78, attackers=()) for d in ("fedavg", "flame") for s in (0, 1)}
    table = hiding.flame_table(stand_in(strength, clean))
    assert table.loc["plain", "FedAvg peak %"] == 90 and table.loc["LP", "FedAvg peak %"] == 75
    assert table.loc["plain", "TPR %"].startswith("100% [") and table.loc["LP", "TPR %"].startswith("50% [")
    assert table.loc["LP", "FPR %"].startswith("12% [")  # 1 of 8 honest client-rounds
    assert table.loc["plain", "main"] == pytest.approx(-0.1)
    values = hiding.flame_values(table, stand_in(strength, clean))
    assert values["flame_note"] == "FLAME leaves the attacker out in every round under 1 of the 2 attacks (plain)"
    assert values["hiding_cost"] == "no hiding attacker peaks more than 15 points below the plain one"
    assert values["strong_lp_peak"] == 0.75 and values["flame_plain_peak"] == 0.1
    assert values["flame_clean_fpr"].startswith("0% [") and values["flame_clean_main_text"] == "2.0 points below FedAvg's"
    assert values["flame_main_change"] == pytest.approx(-10.0)


def row(auc, lo, hi):
    return dict(auc=auc, auc_lo=lo, auc_hi=hi, tpr=0.5, tpr_lo=0.3, tpr_hi=0.7, fpr=0.0, fpr_lo=0.0, fpr_hi=0.1,
                clean_fpr=0.02, clean_fpr_lo=0.01, clean_fpr_hi=0.05)


def test_report_values_count_what_hiding_does_to_the_paper_statistic():
    # (backdoor, attack) -> the output-bias statistic's AUC, and the other detector's
    aucs = {("A", "plain"): ((0.99, 0.95, 1.0), (0.9, 0.8, 1.0)), ("A", "LP"): ((0.6, 0.5, 0.7), (0.97, 0.92, 1.0)),
            ("B", "plain"): ((0.9, 0.85, 0.95), (0.5, 0.4, 0.6)), ("B", "LP"): ((0.88, 0.8, 0.95), (0.7, 0.6, 0.8))}
    report = pd.DataFrame([dict(backdoor=b, attack=a, detector=d, **row(*v))
                           for (b, a), pair in aucs.items() for d, v in zip(("output_bias_max", "l2_norm"), pair)]
                          ).set_index(["backdoor", "attack", "detector"])
    layer_auc = pd.DataFrame([dict(row=f"{b}, LP", layer=t, auc=auc) for b, best in (("A", "conv.weight"), ("B", "fc2.bias"))
                              for t, auc in zip(TENSORS, [0.9 if t == best else 0.5 for t in TENSORS])])
    runs = SimpleNamespace(backdoors={"A": {}, "B": {}}, attacks=ATTACKS, hidden=["LP"], first_backdoor="A")
    values = hiding.report_values(report, runs, layer_auc, "A", 3.0)
    assert values["hidden_below"] == 1 and values["hidden_total"] == 2  # A under LP: 0.7 < 0.9
    assert values["caught_anyway"] == 1 and values["best_hidden"] == "l2_norm, output_bias_max"
    assert values["plain_above"] == 1  # B's plain interval reaches below 0.9
    assert values["paper_auc_bias_backdoor_lp_ci"] == "0.60 [0.50, 0.70]"
    assert values["paper_auc_plain"] == "0.99 [0.95, 1.00] (A), 0.90 [0.85, 0.95] (B)"
    assert values["lp_leaders"] == "conv.weight for the A; fc2.bias for the B"
    assert values["paper_clean_fpr_ci"] == "2% [1%, 5%]"


FOUND = dict(home="conv.weight", home_critical="2 of 3 (67% [21%, 94%])", bias_critical="1 of 3 (33% [6%, 79%])",
             home_alone_ci="67% [0%, 100%]", bias_alone_ci="25% [0%, 50%]", ratio_top_critical="1 of 3 (33% [6%, 79%])",
             hidden_below=4, hidden_total=9, bias_backdoor="flat sandals",
             paper_auc_bias_backdoor_plain_ci="0.99 [0.95, 1.00]", paper_auc_bias_backdoor_lp_ci="0.60 [0.50, 0.70]",
             caught_anyway=5, num_learned=3, num_models=4)


@pytest.mark.parametrize("changes, so", [
    ({}, "So the output bias is where the anomaly can be largest, not where the backdoor is, and an attacker can "
         "move the anomaly."),
    (dict(hidden_below=0), "So the backdoor lives outside the output bias, but no hiding attacker moved the anomaly "
                           "out of its reach here."),
    (dict(home="fc2.bias"), "So here the output bias carries the backdoor as well as the anomaly."),
])
def test_the_verdict_reads_its_numbers(changes, so):
    runs = SimpleNamespace(output_bias="fc2.bias", base=BASE, backdoors={"A": {}, "B": {}, "C": {}}, seeds=[0, 1])
    text = location.verdict(FOUND | changes, runs)
    assert so in text
    if changes.get("home") != "fc2.bias":  # the output bias beside the backdoor's home
        assert f"conv.weight is critical in {FOUND['home_critical']}, fc2.bias in {FOUND['bias_critical']}." in text
    assert text.startswith("By substitution, the backdoor lives in ")
    assert "3 backdoors on 2 seeds, each with one poisoned sample in 2 of 60." in text
    assert all(len(sentence.split()) <= 40 for sentence in re.split(r"(?<=\.) ", text))
    assert not notebook.uncertain_claims(text)


def test_findings_name_the_output_bias():
    found = FOUND | dict(num_runs=10, own_backdoor_ci="70%", bias_removed_ci="10%", z_top_critical="2 of 3",
                         lp_leaders="conv.weight for the A", paper_clean_fpr_ci="1%", flame_plain_tpr="100%",
                         flame_clean_fpr="0%")
    numbers = location.findings(found, "fc2.bias")
    assert numbers["fc2.bias: critical in"] == FOUND["bias_critical"]
    assert numbers["conv.weight: share alone"] == FOUND["home_alone_ci"]
    assert numbers["where the LP attack moves the anomaly"] == "conv.weight for the A"


def test_taken_apart_labels_each_attacker_by_its_key(monkeypatch):
    def substitution(config, threshold):
        assert threshold == 0.8
        return pd.DataFrame(substituted(None, None, 0.9, 0.1, (0.9, 0.1, 0.5), (0.1, 0.9, 0.9),
                                        {"conv.weight"})).drop(columns=["backdoor", "seed"])
    monkeypatch.setattr(localisation, "substitution", substitution)
    table = localisation.taken_apart({("A", 0): BASE, ("B", 3): BASE}, 0.8)
    assert len(table) == 2 * 3 and table.groupby(["backdoor", "seed"]).size().to_dict() == {("A", 0): 3, ("B", 3): 3}
    assert table.share_alone.tolist() == pytest.approx([1.0, 0.0, 0.5] * 2)
