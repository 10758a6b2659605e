"""flsim.analysis.evasion (chapter 9's adaptive attacker and verdict), on small hand-made tables with known
answers: where the anomaly goes, whether the attacker both hides and keeps its backdoor, and the verdict's
sentences (at most 40 words each)."""

import re

import pandas as pd
import pytest

import flsim
from flsim import notebook
from flsim.analysis import evasion
from flsim.analysis.evasion import Evasion

SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def row(auc, lo, hi, attacker_rounds=12) -> pd.Series:
    return pd.Series(dict(auc=auc, auc_lo=lo, auc_hi=hi, attacker_rounds=attacker_rounds))


HIDES_KEEPS = Evasion(row(0.17, 0.08, 0.32), 0.0, 0.0, 0.0, "0 [0, 0]", 3)
SEEN = Evasion(row(0.93, 0.85, 0.98), 0.05, -0.02, 0.12, "5 [-2, 12]", 3)
LOSES = Evasion(row(0.3, 0.2, 0.45), 0.5, 0.4, 0.6, "50 [40, 60]", 3)
OPEN = Evasion(row(0.55, 0.4, 0.7), 0.1, -0.1, 0.3, "10 [-10, 30]", 3)
ONE_SEED = Evasion(row(0.17, 0.08, 0.32), 0.0, float("nan"), float("nan"), "0", 1)


def test_the_judgement_needs_the_intervals():
    assert HIDES_KEEPS.works and not HIDES_KEEPS.fails
    assert SEEN.fails and not SEEN.works  # AUC interval above 0.6
    assert LOSES.fails and not LOSES.works  # gives up 40 points or more
    assert not OPEN.works and not OPEN.fails  # both intervals straddle their thresholds
    assert not ONE_SEED.works and not ONE_SEED.fails  # one seed: no interval on what it keeps
    assert Evasion(row(0.17, 0.08, 0.32), 0.3, float("nan"), float("nan"), "30", 1).fails  # lost on one seed
    assert HIDES_KEEPS.auc_text == "0.17 [0.08, 0.32]"


def test_the_adaptive_verdict_and_the_other_side():
    assert evasion.adaptive_verdict(HIDES_KEEPS).startswith("an attacker who knows it can keep")
    assert evasion.adaptive_verdict(SEEN).startswith("keeping the output bias honest did not")
    assert evasion.adaptive_verdict(OPEN).startswith("these runs cannot tell")
    assert evasion.other_state(HIDES_KEEPS, HIDES_KEEPS) == ("it hides and keeps its backdoor there too", False)
    assert evasion.other_state(SEEN, HIDES_KEEPS) == (
        "there it hides and keeps its backdoor: the verdict flips on that side", True)
    assert evasion.other_state(HIDES_KEEPS, LOSES) == (
        "there it does not both hide and succeed: the verdict flips on that side", True)
    assert evasion.other_state(SEEN, LOSES) == ("there too it does not both hide and succeed", False)
    assert evasion.other_state(HIDES_KEEPS, OPEN) == (
        "these runs cannot tell whether it both hides and succeeds there", False)


CONFIG = flsim.Config(num_clients=10, num_rounds=4, malicious_data_rate=2, attack_scale=10.0)


@pytest.mark.parametrize("attack", [HIDES_KEEPS, SEEN, LOSES, OPEN, ONE_SEED])
@pytest.mark.parametrize("other", [None, HIDES_KEEPS, LOSES, OPEN])
def test_the_verdict_reads_in_sentences_of_at_most_40_words(attack, other):
    text = evasion.verdict(attack, other, CONFIG, "flat_sandals")
    sentences = SENTENCE_END.split(text)
    assert all(len(s.split()) <= 40 for s in sentences), [len(s.split()) for s in sentences]
    assert "(attack scale = 10), with one poisoned sample in 2, 10 clients, 4 rounds and" in text
    assert not notebook.uncertain_claims(text)  # every measured decimal with its interval
    assert f"ROC-AUC on it is {attack.auc_text}, and it gives up {attack.loss_text} points" in text
    assert ("On the other side of chapter 4's law, the flat sandals, " in text) == (other is not None)


def test_the_verdict_says_what_the_attacker_did_to_the_papers_finding():
    fragile = evasion.verdict(HIDES_KEEPS, None, CONFIG, "")
    assert fragile.startswith("The verdict's attacker knows the paper's detector: it submits a clean output bias "
                              "under model replacement")
    assert "3 seeds (12 attacking client-rounds)" in fragile
    assert "An attacker who knows it can keep its output bias honest and still plant the backdoor: " in fragile
    assert fragile.endswith("As a defence on its own, the paper's finding is fragile.")
    assert evasion.verdict(SEEN, None, CONFIG, "").endswith(
        "So the paper's finding held up as a defence against it.")
    assert evasion.verdict(OPEN, None, CONFIG, "").endswith("points of peak backdoor accuracy.")


def test_adaptive_findings_glue_not_run_without_the_other_side():
    found = evasion.adaptive_findings(HIDES_KEEPS, None, CONFIG, "")
    assert (found["other_bias_auc_ci"], found["other_state"], found["other_flips"]) == ("not run", "not run", False)
    assert (found["repl_bias_paper_auc"], found["repl_bias_loss"]) == (0.17, 0.0)
    found = evasion.adaptive_findings(SEEN, HIDES_KEEPS, CONFIG, "flat_sandals")
    assert found["other_flips"] and found["other_bias_loss_ci"] == "0 [0, 0]"
    assert found["other_state"] in found["verdict"]


def results(peak, scores):
    """A run whose backdoor peaks at ``peak`` and whose paper statistic scores client 0 (the attacker, in
    rounds 1 and 2) ``scores[round]`` against honest clients at 1, 2, 3."""
    detection = pd.DataFrame([dict(round=r, client=c, malicious=c == 0, detector="output_bias_max",
                                   score=scores[r - 1] if c == 0 else float(c)) for r in (1, 2) for c in range(4)])
    rounds = pd.DataFrame({"round": [0, 1, 2], "main_accuracy": 0.7, "backdoor_accuracy": [0.0, peak, peak / 2]})
    defence = pd.DataFrame(columns=["round", "client", "malicious", "accepted"])  # FedAvg decides nothing
    return flsim.Results(flsim.Config(), {"detection": detection, "rounds": rounds, "defence": defence})


def test_evasion_pools_the_seeds_and_takes_the_loss_against_the_same_seed():
    plain = [results(1.0, [9, 9]), results(0.8, [9, 9])]
    evading = [results(0.9, [0, 0]), results(0.8, [2.5, 0])]
    attack = evasion.evasion(plain, evading)
    # attacker below every honest client but 2.5 above 1 and 2 in one round: 2 of 2 x 3 x 2 pairs = 2 / 12
    assert attack.row.auc == pytest.approx(2 / 12) and attack.row.attacker_rounds == 4
    assert attack.loss == pytest.approx(0.05)  # (0.1 + 0.0) / 2
    # two seeds' Student-t interval: 0.05 +- 12.706 x 0.0707 / sqrt(2)
    assert (attack.loss_lo, attack.loss_hi) == pytest.approx((0.05 - 0.6353, 0.05 + 0.6353), abs=1e-3)
    assert attack.loss_text == "5 [-59, 69]" and attack.seeds == 2
    assert evasion.evasion(plain[:1], evading[:1]).loss_text == "10"  # one seed: no interval


def aucs(**layers):
    """layer_aucs-like tables: label -> rows of layer, auc, auc_lo, auc_hi."""
    return {label: pd.DataFrame([dict(layer=name, auc=a, auc_lo=lo, auc_hi=hi) for name, (a, lo, hi) in rows.items()])
            for label, rows in layers.items()}


def test_where_the_anomaly_goes():
    tables = aucs(**{"plain": {"fc1.bias": (0.95, 0.85, 1.0), "fc2.weight": (0.92, 0.45, 1.0),
                               "fc2.bias": (0.99, 0.9, 1.0)},
                     "adaptive output_bias": {"fc1.bias": (1.0, 0.91, 1.0), "fc2.weight": (0.7, 0.5, 0.9),
                                              "fc2.bias": (0.25, 0.14, 0.42)},
                     "adaptive output_layer": {"fc1.bias": (0.98, 0.74, 1.0), "fc2.weight": (0.21, 0.05, 0.51),
                                               "fc2.bias": (0.31, 0.12, 0.6)}})
    assert evasion.separates(tables["plain"].set_index("layer")).tolist() == [True, False, True]
    found = evasion.tensor_findings(tables)
    assert (found["plain_bias_auc_ci"], found["adaptive_bias_auc_ci"]) == ("0.99 [0.90, 1.00]", "0.25 [0.14, 0.42]")
    assert (found["num_tensors"], found["other_tensors"]) == (3, 2)
    assert (found["plain_separating"], found["adaptive_separating"]) == (2, 1)
    assert (found["adaptive_new_layer"], found["adaptive_new_auc_ci"]) == ("fc1.bias", "1.00 [0.91, 1.00]")
    assert (found["adaptive_layer_best"], found["adaptive_layer_best_auc"]) == ("fc1.bias", 0.98)
    assert found["anomaly_note"] == "The anomaly does not need to go anywhere"
    table = evasion.tensor_table(tables)
    assert table.index.name == "ROC-AUC by tensor" and list(table) == list(tables)
    assert table.loc["fc2.bias"].tolist() == ["0.99 [0.90, 1.00]", "0.25 [0.14, 0.42]", "0.31 [0.12, 0.60]"]


def test_the_attack_table_and_its_peaks():
    keys = [("semantic", "output_bias"), ("semantic", "output_layer"), ("replacement", "output_bias"),
            ("replacement", "output_layer"), ("replacement", "output_bias, bias_filter")]
    adaptive = {key: [results(0.1 * (i + 1), [0, 0])] for i, key in enumerate(keys)}
    table = evasion.attack_table(results(0.25, [9, 9]), results(1.0, [9, 9]), adaptive)
    assert table.index.tolist() == ["semantic, plain", "replacement, plain", "semantic, output_bias",
                                    "semantic, output_layer", "replacement, output_bias", "replacement, output_layer",
                                    "replacement, output_bias, bias_filter"]
    assert table.AUC.tolist() == [1.0, 1.0] + [0.0] * 5
    peaks = evasion.peak_findings(table)
    assert (peaks["repl_plain_peak"], peaks["repl_bias_peak"], peaks["repl_bias_filter_peak"]) == pytest.approx(
        (1.0, 0.3, 0.5))
    assert list(evasion.shown_attacks(table)) == ["main", "backdoor, final", "backdoor, peak", "AUC"]
