"""flsim.sweep_chapter: a sweep chapter's tables, figures, glued values and verdict (chapters 5-7), on
hand-made Results and hand-made tables with known answers."""

import matplotlib
import numpy as np
import pandas as pd
import pytest

from flsim import analysis, notebook, sweep_chapter
from flsim.sweep_chapter import SWEPT, SweepChapter
from tests.test_reader_first import long_sentences
from tests.test_sweep_analysis import noisy_results

matplotlib.use("Agg")


def evidence_of(rows, index=(1, 2, 4), name="num_malicious"):
    """A hand-made :func:`flsim.analysis.sweep_evidence`: per swept value (ratio, lo, hi, ratio_rank,
    auc_rank, clear, ratio_clear)."""
    columns = ["ratio", "ratio_lo", "ratio_hi", "ratio_rank", "auc_rank", "clear", "ratio_clear"]
    return pd.DataFrame(rows, columns=columns, index=pd.Index(index, name=name))


FALLING = evidence_of([(5.0, 4.6, 5.4, 1, 1, True, True), (3.0, 2.7, 3.3, 1, 2, True, True),
                       (1.2, 1.0, 1.4, 6, 1, False, False)])


def test_the_ratio_trend_needs_intervals_apart():
    assert sweep_chapter.ratio_trend(FALLING) == "fell"
    assert sweep_chapter.ratio_trend(FALLING, ascending=False) == "rose"  # read from the last value
    overlapping = FALLING.assign(ratio_lo=[4.6, 2.7, 1.0], ratio_hi=[5.4, 3.3, 4.7])
    assert sweep_chapter.ratio_trend(overlapping) == "did not change beyond its intervals"
    assert sweep_chapter.ratio_trend(FALLING.iloc[:1]) == ""


def test_the_claim_counts_the_values_where_the_tensor_leads_clear_by_each_measure():
    # AUC: rank 1 and clear at m = 1 only (m = 4 is first but within chance); ratio: m = 1 and 2
    sentence = sweep_chapter.claim_sentence(FALLING, "fc2.bias", "striped T-shirts", "numbers of attackers")
    assert sentence == ("For the striped T-shirts (the default backdoor) the paper's claim holds only in part "
                        "across the numbers of attackers: fc2.bias leads, clear of no difference, at 1 of 3 by "
                        "ROC-AUC and 2 of 3 by ratio.")
    everywhere = FALLING.assign(auc_rank=1, clear=True, ratio_rank=1, ratio_clear=True)
    assert " claim holds across " in sweep_chapter.claim_sentence(everywhere, "fc2.bias", "x", "rates")
    nowhere = FALLING.assign(clear=False, ratio_clear=False)
    assert " claim does not hold across " in sweep_chapter.claim_sentence(nowhere, "fc2.bias", "x", "rates")
    assert not long_sentences(sentence)


def test_the_trend_sentence_gives_both_ends_and_what_the_theory_expects():
    m = SWEPT["num_malicious"]
    sentence = sweep_chapter.trend_sentence(FALLING, "fc2.bias", m, 8)
    assert sentence == ("With more attackers, fc2.bias's malicious/benign ratio fell (5.00 [4.60, 5.40] at m = 1, "
                        "1.20 [1.00, 1.40] at m = 4, rank 6 of 8 there), as the first-order theory expects.")
    # chapter 7 reads from the smallest dose (the largest r) to the largest, and expects a rise
    r = SWEPT["malicious_data_rate"]
    doses = FALLING.rename_axis("malicious_data_rate").set_axis([2, 10, 30])
    sentence = sweep_chapter.trend_sentence(doses, "fc2.bias", r, 8)
    assert sentence.startswith("With a larger dose, fc2.bias's malicious/benign ratio rose (1.20 [1.00, 1.40] at "
                               "r = 30, 5.00 [4.60, 5.40] at r = 2, rank 1 of 8 there), as the first-order")
    flat = FALLING.assign(ratio_lo=0.0, ratio_hi=9.0)
    assert sweep_chapter.trend_sentence(flat, "fc2.bias", m, 8).endswith(
        "where the first-order theory expects it to fall.")
    assert sweep_chapter.trend_sentence(FALLING.iloc[:1], "fc2.bias", m, 8) == (
        "This run has one number of attackers, so it shows no trend.")
    for text in (sentence, sweep_chapter.trend_sentence(flat, "fc2.bias", m, 8)):
        assert not long_sentences(text) and not notebook.uncertain_claims(text)


def test_the_exponent_sentence_and_whether_the_setting_cancels_out():
    row = pd.Series({"k": 0.73, "lo": 0.61, "hi": 0.83})
    assert sweep_chapter.exponent_sentence(row, "η") == (
        "The attacker's target-class bias shift grew like η^k with k = 0.73 [0.61, 0.83], below the first-order "
        "theory's 1.")
    assert "whose interval includes the first-order theory's 1" in sweep_chapter.exponent_sentence(
        pd.Series({"k": 0.9, "lo": 0.8, "hi": 1.1}), "η")
    assert ", above the first-order" in sweep_chapter.exponent_sentence(pd.Series({"k": 1.3, "lo": 1.2, "hi": 1.4}), "η")
    assert "attackers'" in sweep_chapter.exponent_sentence(row, "η", num_malicious=2)
    assert "undefined" in sweep_chapter.exponent_sentence(pd.Series({"k": np.nan, "lo": np.nan, "hi": np.nan}), "η")
    noun = "learning rate"
    assert "cancels out" in sweep_chapter.cancel_note(pd.Series({"k": -0.1, "lo": -0.3, "hi": 0.2}), noun)
    assert "hides the attacker's bias shift" in sweep_chapter.cancel_note(
        pd.Series({"k": -0.3, "lo": -0.5, "hi": -0.1}), noun)
    assert "stand out more" in sweep_chapter.cancel_note(pd.Series({"k": 0.3, "lo": 0.1, "hi": 0.5}), noun)
    assert "cannot say" in sweep_chapter.cancel_note(pd.Series({"k": np.nan, "lo": 0.1, "hi": 0.5}), noun)


def test_where_the_backdoor_took_hold_and_how_far_the_main_task_trained():
    spread = pd.DataFrame({"mean": [0.1, 0.6, 0.8], "lo": [0.0, 0.5, 0.7], "hi": [0.2, 0.7, 0.9]},
                          index=[0.003, 0.01, 0.1])
    lr = SWEPT["lr"]
    assert sweep_chapter.took_hold(spread, lr) == "it took hold (at least 50% on average) at η = 0.01, 0.1"
    assert sweep_chapter.took_hold(spread * 0.5, lr) == "it took hold at no learning rate: at most 40% on average"
    assert sweep_chapter.main_note(spread, "learning rate") == (
        "the largest learning rate trained the main task further than the smallest (80.0% [70.0%, 90.0%] against "
        "10.0% [0.0%, 20.0%])")
    overlapping = spread.assign(lo=[0.0, 0.0, 0.1])
    assert sweep_chapter.main_note(overlapping, "learning rate").endswith(": the seeds overlap)")


def test_the_two_doses_of_chapter_7():
    layers = ["fc1.weight", "fc2.bias"]
    auc = pd.DataFrame({"auc": [0.7, 0.95, 0.52, 0.6], "lo": [0.6, 0.9, 0.4, 0.45], "hi": [0.8, 1.0, 0.64, 0.75],
                        "clear": [True, True, False, False]},
                       index=pd.MultiIndex.from_product([[2, 30], layers], names=["malicious_data_rate", "layer"]))
    evidence = pd.DataFrame({"best": ["fc2.bias", "fc2.bias"], "best_auc": [0.95, 0.6], "best_lo": [0.9, 0.45],
                             "best_hi": [1.0, 0.75], "ratio_rank": [1, 2]},
                            index=pd.Index([2, 30], name="malicious_data_rate"))
    values = sweep_chapter.dose_values(auc, evidence)
    assert (values["r_high_dose"], values["r_low_dose"], values["bias_ratio_rank_high_dose"]) == (2, 30, 1)
    assert values["min_auc_high_dose"] == "0.70 [0.60, 0.80]" and values["best_auc_low_dose"] == "0.60 [0.45, 0.75]"
    assert "whole update stands out" in values["high_dose_note"] and "hides in every tensor" in values["low_dose_note"]


@pytest.fixture
def by_attackers():
    """Chapter 5's sweep on hand-made Results: m = 0, 1, 2 on three seeds, fc2.bias the attackers' tensor."""
    runs = [noisy_results(m, seed) for seed in (0, 1, 2) for m in (0, 1, 2)]
    return SweepChapter(runs[1].config.replace(seed=0), "num_malicious", [0, 1, 2], [0, 1, 2],
                        other_value=1).analyse(runs)


def test_the_plan_says_what_runs(by_attackers):
    plan = by_attackers.plan
    assert (plan["samples"], plan["local_steps"], plan["client_passes"]) == (20, 1, "480")  # 6 x 4 x 20
    assert plan["m_values"] == "0, 1, 2" and (plan["m_low"], plan["m_high"]) == (1, 2)
    assert plan["other_point"] == 1 and plan["dataset_name"] == "Fashion-MNIST"
    assert "num_malicious" not in plan and plan["malicious_data_rate"] == 5 and plan["lr"] == 0.01
    rule = by_attackers.poisoning_rule()  # positions 0, m r, ... of 20: 4 for one attacker, 2 each for two
    assert plan["poison_total_low"] == int(rule.loc[1, "in total"]) == 4
    assert plan["predicted_high"] == pytest.approx(rule.loc[2, "predicted shift"])
    assert [c.num_malicious for c in by_attackers.configs] == [0, 1, 2] * 3
    assert [c.seed for c in by_attackers.configs] == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_the_values_are_the_sweep_analysis_numbers(by_attackers):
    chapter, values = by_attackers, by_attackers.values
    assert (values["num_runs"], values["num_values"], values["num_tensors"]) == (9, 2, 2)
    evidence = analysis.sweep_evidence(chapter.auc, chapter.ratio, "fc2.bias", chapter.summary)
    pd.testing.assert_frame_equal(chapter.evidence, evidence)
    # fc2.bias deviates 3 + U(0, 1) for an attacker, 1 + U(0, 1) otherwise: it leads by both measures
    assert values["bias_clear"] == values["bias_ratio_clear"] == values["bias_top_auc"] == 2
    assert values["bias_auc_by_m"] == analysis.per_value_text(evidence, "m", "auc")
    assert values["bias_ratio_low"] == analysis.interval_text(*evidence.loc[1, ["ratio", "ratio_lo", "ratio_hi"]])
    assert values["best_by_m"].startswith("m = 1: fc2.bias (1.00 [")
    assert values["dose"] == "m = 0: 0, m = 1: 4, m = 2: 2" and values["poisoned"] == 4
    shift = analysis.sweep_shift(chapter.runs, "num_malicious")
    assert values["shift_low"] == analysis.interval_text(*shift.loc[1, ["measured", "lo", "hi"]], ".5f")
    assert values["backdoor_note"] == "it took hold with no number of attackers: at most 10% on average"
    assert "exponent_shift" not in values and "cancel_note" not in values  # chapter 5 fits no power law
    assert "side_verdict" not in values  # no other side without chapter.run()
    # each name glued once: myst-nb warns of a duplicate, which fails the book's build
    assert not set(chapter.plan) & set(values)


def test_the_verdict_is_short_sentences_with_intervals(by_attackers):
    verdict = by_attackers.verdict
    assert verdict.startswith("For the striped T-shirts (the default backdoor) the paper's claim holds across "
                              "the numbers of attackers: fc2.bias leads, clear of no difference, at 2 of 2 by ")
    assert "With more attackers, fc2.bias's malicious/benign ratio " in verdict
    assert not long_sentences(verdict) and not notebook.uncertain_claims(verdict)
    assert by_attackers.values["verdict"] == verdict


def test_the_tables_fit_the_page_and_the_findings_end_with_the_verdict(by_attackers, capsys):
    table = by_attackers.run_table()
    assert list(table.columns[:2]) == ["fc2.bias AUC", "fc2.bias ratio"] and table.index.names == ["m", "seed"]
    by_attackers.evidence_tables()
    by_attackers.shift_tables()
    findings = by_attackers.findings()
    assert findings.index[-1] == "verdict" and findings.value.iloc[-1] == by_attackers.verdict
    assert findings.loc["runs", "value"] == "9"
    assert findings.loc["numbers of attackers m", "value"] == "0, 1, 2"


def test_every_figure_is_shown_with_its_caption(by_attackers, monkeypatch):
    shown = []
    monkeypatch.setattr(notebook, "figure", lambda fig, caption: shown.append((fig, caption)))
    for name in ("accuracy", "roles", "tensors", "shift"):
        by_attackers.figure(name)
    assert len(shown) == 4 and all("against the number of attackers m" in caption for _, caption in shown)
    tensors = shown[2][0]
    assert [t.get_text() for t in tensors.axes[0].get_xticklabels()] == ["1", "2"]  # no tick for m = 0
    with pytest.raises(ValueError, match="no figure 'bias'"):
        by_attackers.figure("bias")
    matplotlib.pyplot.close("all")


def test_a_learning_rate_sweep_reads_the_power_law():
    runs = [noisy_results(1, seed, lr=lr) for seed in (0, 1) for lr in (0.003, 0.01, 0.03, 0.1)]
    chapter = SweepChapter(runs[0].config, "lr", [0.003, 0.01, 0.03, 0.1], [0, 1], other_value=0.01).analyse(runs)
    values, exponents = chapter.values, analysis.shift_exponents(runs, "lr")
    pd.testing.assert_frame_equal(chapter.exponents, exponents)
    assert values["exponent_shift"] == analysis.exponent_text(exponents.loc["measured"])
    assert values["cancel_note"] == sweep_chapter.cancel_note(exponents.loc["difference"], "learning rate")
    assert chapter.plan["lr_values"] == "0.003, 0.01, 0.03, 0.1" and "lr" not in chapter.plan
    assert chapter.plan["other_point"] == "0.01" and chapter.point == "η = 0.01"
    # the attacker's shift is 0.4-0.6 lr in every round: linear, and the verdict says so
    assert "grew like η^k with k = 1.00 [" in chapter.verdict and "includes the first-order theory's 1" in chapter.verdict
    assert not long_sentences(chapter.verdict)
    findings = chapter.findings()
    assert findings.loc["exponent k of the bias shift in η (theory: 1) [95% interval]", "value"] == \
        values["exponent_shift"]


def test_a_rate_sweep_fits_the_power_law_in_the_poisoned_samples():
    runs = [noisy_results(1, seed) for seed in (0, 1)]
    runs += [noisy_results(1, seed) for seed in (0, 1)]
    for run in runs[2:]:
        run.config = run.config.replace(malicious_data_rate=2)
    chapter = SweepChapter(runs[0].config, "malicious_data_rate", [2, 5], [0, 1], other_value=2).analyse(runs)
    exponents = analysis.shift_exponents(runs, "malicious_data_rate", x="poisoned")
    pd.testing.assert_frame_equal(chapter.exponents, exponents)
    values = chapter.values
    assert values["dose"] == "r = 2: 10, r = 5: 4" and values["r_high_dose"] == 2
    assert "cancel_note" not in values  # that reading is chapter 6's
    assert chapter.verdict.split(". ")[1].startswith("With a larger dose, fc2.bias's malicious/benign ratio ")
