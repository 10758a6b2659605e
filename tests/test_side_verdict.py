"""flsim.sides' one rule and the other side's verdict (chapters 3 and 5-7), on hand-made rows with known
answers: the rule (:func:`leads`, :func:`claim`), the law's words, the verdict's sentences and the ratio's
ceiling."""

import pandas as pd

from flsim import notebook
from flsim.sides import LEFT_OUT, at_ceiling, ceiling_text, claim, claim_said, law_text, leads, side_verdict
from tests.test_reader_first import long_sentences

NAMES = {"striped_tshirts": "striped T-shirts", "flat_sandals": "flat sandals"}
SCALES = {"striped_tshirts": 1.10, "flat_sandals": 0.27}


def row(auc_rank, clear, ratio_rank, ratio_clear):
    return pd.Series(dict(auc_rank=auc_rank, clear=clear, ratio_rank=ratio_rank, ratio_clear=ratio_clear))


def test_the_rule_needs_the_top_rank_and_a_clear_interval_by_each_measure():
    assert leads(row(1, True, 1, True)) == {"AUC": True, "ratio": True}
    assert leads(row(1, False, 1, True)) == {"AUC": False, "ratio": True}  # first, but within chance
    assert leads(row(2, True, 1, False)) == {"AUC": False, "ratio": False}  # clear, but not first
    assert claim(row(2, True, 1, True)) == ("holds only in part", "ratio")
    assert claim(row(2, True, 1, False)) == ("does not hold", "neither AUC nor ratio")


def test_a_claim_in_words():
    assert claim_said(("holds", "AUC and ratio"), "flat sandals") == "holds for the flat sandals (by AUC and ratio)"
    assert claim_said(("does not hold", "neither AUC nor ratio"), "striped T-shirts") == (
        "does not hold for the striped T-shirts")


def test_the_law_predicts_a_better_rank_for_the_smaller_activation_scale():
    assert law_text({"striped_tshirts": 8, "flat_sandals": 1}, SCALES, NAMES) == (
        "the output bias ranks higher for the flat sandals, as chapter 4's law predicts")
    assert law_text({"striped_tshirts": 1, "flat_sandals": 3}, SCALES, NAMES) == (
        "the output bias ranks higher for the striped T-shirts, against chapter 4's law")
    assert law_text({"striped_tshirts": 2, "flat_sandals": 2}, SCALES, NAMES) == (
        "the two tie, where chapter 4's law predicts a better rank for the flat sandals")


def test_the_side_verdict_gives_each_sides_claim_then_the_law_in_short_sentences():
    claims = {"striped_tshirts": claim(row(8, True, 7, True)), "flat_sandals": claim(row(1, True, 1, True))}
    verdict = side_verdict(claims, NAMES, "as chapter 4's law predicts", "m = 1")
    assert verdict == ("At m = 1 the paper's claim (by ROC-AUC and by ratio) does not hold for the striped T-shirts "
                       "and holds for the flat sandals (by AUC and ratio). By ROC-AUC rank, as chapter 4's law "
                       "predicts.")
    # the longest a verdict can say: two claims in part, the law's tie
    partly = {"striped_tshirts": ("holds only in part", "AUC"), "flat_sandals": ("holds only in part", "ratio")}
    tie = law_text({"striped_tshirts": 2, "flat_sandals": 2}, SCALES, NAMES)
    longest = side_verdict(partly, NAMES, tie, "η = 0.003")
    assert not long_sentences(longest) and not notebook.uncertain_claims(longest)
    alone = side_verdict({"striped_tshirts": claims["striped_tshirts"]}, NAMES, None, "r = 2")
    assert alone == f"At r = 2 the paper's claim (by ROC-AUC and by ratio) does not hold for the striped T-shirts; {LEFT_OUT}."


def test_a_ratio_at_its_ceiling_is_flagged_with_one_attacker_only():
    """With one attacker among n clients the paper's ratio cannot pass n - 1 (chapter 4): chapter 7's flat
    sandals at 8.90 [8.84, 8.96] with 10 clients sit there, their interval within 1% of 9; a ratio whose
    interval ends at 8.90 does not, nor anything with two attackers."""
    evidence = pd.DataFrame({"ratio": [1.17, 8.90], "ratio_hi": [1.35, 8.96]},
                            index=["striped_tshirts", "flat_sandals"])
    assert at_ceiling(evidence, 1, 10) == ["flat_sandals"]  # 8.96 within 1% of 9
    assert at_ceiling(evidence.assign(ratio_hi=[1.35, 8.90]), 1, 10) == []  # 8.90 is not
    assert at_ceiling(evidence, 2, 10) == []
    assert ceiling_text(["flat_sandals"], NAMES, "fc2.bias", 10) == (
        "For the flat sandals, fc2.bias's ratio sits at its ceiling of 9 (its interval reaches within 1% of it): "
        "one attacker among 10 clients cannot pass it, and tensors there tie (chapter 4).")
    assert not long_sentences(ceiling_text(["striped_tshirts", "flat_sandals"], NAMES, "fc2.bias", 10))
    assert ceiling_text([], NAMES, "fc2.bias", 10) == ""
