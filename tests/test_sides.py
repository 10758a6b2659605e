"""flsim.sides: the default backdoor and the other side of chapter 4's axis at one point (chapters 3, 5-7)."""

import re

import pandas as pd
import pytest

import flsim
from flsim import analysis, pretraining
from flsim.attacks import semantic_set_name
from flsim.semantic import set_words
from flsim.sides import LEFT_OUT, at_ceiling, best_text, claim, claim_said, compare_sides, law_text

SEEDS = [0, 1]
POINT = "m = 1"
ROWS = ["activation scale", "fc2.bias AUC [2 SE]", "AUC rank (of 8)", "seeds with the largest AUC",
        "fc2.bias ratio [95% CI]", "ratio rank (of 8)", "seeds with the largest ratio",
        "seeds with the largest robust z", "best tensor by AUC", "backdoor accuracy [seeds]"]
# five rounds: enough for the bootstrap over rounds to draw different intervals from different draws
BASE = flsim.Config(num_clients=4, samples_per_client=60, num_rounds=5, eval_samples=100,
                    server_share=0.05)
INTERVAL = r"-?\d+\.\d+ \[-?\d+\.\d+, -?\d+\.\d+\]"


@pytest.fixture(scope="module")
def found(tmp_path_factory):
    """Both sides and the default alone, at one tiny point, in a cache of their own (4 runs)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FLSIM_CACHE", str(tmp_path_factory.mktemp("cache")))
        pretraining.forget()
        base = BASE
        default = semantic_set_name(base.dataset, base.semantic_set)
        swept = [base.replace(semantic_set=default, seed=seed) for seed in SEEDS]  # the sweep's own

        def compare(other, swept):
            return compare_sides(base, default, other, seeds=SEEDS, swept=swept, num_samples=60,
                                 point=POINT)

        yield default, compare("flat_sandals", swept), compare("", swept), compare("flat_sandals", [])
        pretraining.forget()


@pytest.fixture(scope="module")
def sides_runs(found):
    """The runs compare_sides pooled, per set (seed order), read back from the fixture's cache."""
    default = found[0]
    return {name: flsim.sweep([BASE.replace(semantic_set=name, seed=seed) for seed in SEEDS])
            for name in (default, "flat_sandals")}


def test_the_table_has_a_column_per_set_and_the_rows_the_chapters_show(found):
    default, both, alone, _ = found
    assert default == "striped_tshirts" and set_words(default) == "striped T-shirts"
    assert list(both.table.columns) == ["striped T-shirts", "flat sandals"]
    assert list(alone.table.columns) == ["striped T-shirts"]
    for sides in (both, alone):
        assert list(sides.table.index) == ROWS and sides.table.index.name == POINT
    column = both.table["flat sandals"]
    assert re.fullmatch(INTERVAL, column["fc2.bias AUC [2 SE]"])
    assert re.fullmatch(r"\d of 2", column["seeds with the largest AUC"])
    assert re.fullmatch(r"\d+% \[\d+%, \d+%\]", column["backdoor accuracy [seeds]"])
    # the default's column does not depend on whether the other side ran
    assert list(alone.table["striped T-shirts"]) == list(both.table["striped T-shirts"])


def test_the_values_agree_with_the_table_and_the_runs(found):
    _, both, _, unswept = found
    values, table, evidence = both.values, both.table, both.evidence
    assert values["num_other_runs"] == len(SEEDS)  # the sandals' runs; the T-shirts' are the sweep's
    assert values["other_pool_note"] == "the default backdoor's runs there are the sweep's own"
    assert unswept.values["num_other_runs"] == 2 * len(SEEDS)
    assert unswept.values["other_pool_note"] == "the default backdoor's runs there are new too"
    for side, name in (("default", "striped T-shirts"), ("other", "flat sandals")):
        assert 1 <= values[f"bias_rank_{side}"] <= 8 and 0 <= values[f"auc_seeds_{side}"] <= len(SEEDS)
        assert table.loc["AUC rank (of 8)", name] == values[f"bias_rank_{side}"]
        assert table.loc["fc2.bias AUC [2 SE]", name] == values[f"bias_auc_{side}"]
        assert table.loc["seeds with the largest AUC", name] == f"{values[f'auc_seeds_{side}']} of 2"
        assert table.loc["activation scale", name] == f"{values[f'scale_{side}']:.2f}"
    assert values["scales_text"] == (f"{values['scale_default']:.2f} for the striped T-shirts and "
                                     f"{values['scale_other']:.2f} for the flat sandals")
    assert values["other_side"] == f"the flat sandals at {POINT}"
    assert values["other_runs_text"].endswith(f"({len(SEEDS)} runs more)")
    assert list(evidence.index) == ["striped_tshirts", "flat_sandals"]
    assert both.names == {"striped_tshirts": "striped T-shirts", "flat_sandals": "flat sandals"}
    assert set(both.standings) == {"striped_tshirts", "flat_sandals"}
    assert all("its ratio " in text for text in both.standings.values())


def test_the_verdict_is_the_claim_for_each_side_then_the_law(found):
    """One rule for the other side in chapters 3 and 5-7 (flsim.sides.claim): the verdict gives each set's
    claim by ROC-AUC and by ratio, then whether chapter 4's law holds by ROC-AUC rank; chapter 3's
    claim_text says the same."""
    default, both, _, _ = found
    evidence, verdict = both.evidence, both.values["side_verdict"]
    said = [claim_said(claim(evidence.loc[name]), both.names[name]) for name in (default, "flat_sandals")]
    assert verdict.startswith(f"At {POINT} the paper's claim (by ROC-AUC and by ratio) {said[0]} and {said[1]}. ")
    ranks = evidence.auc_rank
    scales = {default: both.values["scale_default"], "flat_sandals": both.values["scale_other"]}
    small, large = sorted(scales, key=scales.get)
    law = (f"the output bias ranks higher for the {both.names[small]}, as chapter 4's law predicts"
           if ranks[small] < ranks[large] else
           f"the output bias ranks higher for the {both.names[large]}, against chapter 4's law"
           if ranks[small] > ranks[large] else "the two tie")
    assert f"By ROC-AUC rank, {law}" in verdict
    assert both.values["claim_text"] == (f"The paper's claim (by ROC-AUC and by ratio) {said[0]} and {said[1]}; "
                                         f"by ROC-AUC rank, {law_text(ranks, scales, both.names)}")
    # the note is the verdict, and says where a ratio sits at its ceiling (3 with one attacker of 4)
    note = both.values["other_note"]
    assert note.startswith(verdict)
    ceiling = at_ceiling(evidence, BASE.num_malicious, BASE.num_chosen)
    assert ("sits at its ceiling of 3" in note) == bool(ceiling)
    for name in (default, "flat_sandals"):
        cell = both.table.loc["fc2.bias ratio [95% CI]", both.names[name]]
        assert cell.endswith(" (ceiling)") == (name in ceiling)


def test_an_empty_other_set_is_left_out_in_words(found):
    _, _, alone, _ = found
    values = alone.values
    assert values["side_verdict"].endswith(f"; {LEFT_OUT}.") and "other_semantic_set is empty" in LEFT_OUT
    assert values["other_side"] == "none" and values["law_prediction"] == "this run has no other side"
    assert values["other_runs_text"] == LEFT_OUT[0].upper() + LEFT_OUT[1:]
    assert values["other_note"].startswith(f"At {POINT} the paper's claim (by ROC-AUC and by ratio) ")
    assert values["other_note"].endswith(f"; {LEFT_OUT}.") and "flat sandals" not in values["other_note"]
    assert values["num_other_runs"] == 0 and "scale_other" not in values
    assert values["scales_text"] == f"{values['scale_default']:.2f} for the striped T-shirts"


def test_a_set_of_runs_gives_the_same_intervals_in_every_sweep_it_sits_in(found, sides_runs):
    """One computation per number: the output bias's mean ratio and AUC, and their intervals, for a
    set's runs are the same, bit for bit, whether compare_sides pooled them beside the other side
    (chapters 5-7), a sweep of those runs alone gives them (chapter 3's pooled case), or they sit at
    one value of a larger sweep whose runs come in another order (chapter 7's rates)."""
    default, both, _, _ = found
    columns = ["auc", "lo", "hi", "ratio", "ratio_lo", "ratio_hi", "auc_rank", "ratio_rank"]

    def evidence(runs, by):
        summary = analysis.sweep_summary(runs, by)
        return analysis.sweep_evidence(analysis.sweep_auc(runs, summary, by),
                                       analysis.sweep_ratio(runs, by), "fc2.bias", summary)

    default_runs, sandal_runs = sides_runs[default], sides_runs["flat_sandals"]
    # the other order and the seeds interleaved: each value still draws as if alone
    interleaved = [r for pair in zip(sandal_runs[::-1], default_runs[::-1]) for r in pair]
    swept = evidence(interleaved, "semantic_set")
    for name, runs in sides_runs.items():
        alone = evidence(runs, "malicious_data_rate").iloc[0]
        assert list(both.evidence.loc[name, columns]) == list(alone[columns]), name
        assert list(swept.loc[name, columns]) == list(alone[columns]), name
    # a sweep of one run gives that run's interval in tensor_standing (chapter 3's per-run table)
    one = analysis.sweep_ratio(default_runs[:1], "seed").loc[(SEEDS[0], "fc2.bias")]
    standing = analysis.tensor_standing({"run": default_runs[0]}, "fc2.bias").loc["run"]
    assert (one.lo, one.hi) == (standing.ratio_lo, standing.ratio_hi)


def test_the_claim_needs_the_top_rank_and_a_clear_interval_by_each_measure():
    """Chapter 3's claim: by each of ROC-AUC and ratio, the top tensor over the seeds and clear of no
    difference."""
    def row(auc_rank, clear, ratio_rank, ratio_clear):
        return pd.Series(dict(auc_rank=auc_rank, clear=clear, ratio_rank=ratio_rank,
                              ratio_clear=ratio_clear))

    assert claim(row(1, True, 1, True)) == ("holds", "AUC and ratio")
    assert claim(row(1, True, 2, True)) == ("holds only in part", "AUC")
    assert claim(row(1, False, 1, True)) == ("holds only in part", "ratio")
    assert claim(row(1, False, 3, False)) == ("does not hold", "neither AUC nor ratio")


def test_the_claims_and_the_robust_z_seeds_follow_the_evidence(found):
    default, both, alone, _ = found
    for name, (word, by) in both.claims.items():
        assert (word, by) == claim(both.evidence.loc[name])
        assert 0 <= both.evidence.z_seeds[name] <= len(SEEDS)
        assert (both.table.loc["seeds with the largest robust z", both.names[name]]
                == f"{both.evidence.z_seeds[name]} of {len(SEEDS)}")
    values = both.values
    assert (values["claim_default"], values["claim_by_default"]) == both.claims[default]
    assert values["claim_other"] == both.claims["flat_sandals"][0]
    def said(word, by, words):
        return f"{word} for the {words}" + (f" (by {by})" if word != "does not hold" else "")

    assert values["claim_text"].startswith(
        f"The paper's claim (by ROC-AUC and by ratio) {said(*both.claims[default], 'striped T-shirts')}"
        f" and {said(*both.claims['flat_sandals'], 'flat sandals')}; by ROC-AUC rank, ")
    assert values["claim_text"].endswith(("as chapter 4's law predicts", "against chapter 4's law",
                                          "predicts a better rank for the flat sandals"))
    assert alone.values["claim_other"] == "was not tested"
    assert alone.values["claim_text"].endswith(f"; {LEFT_OUT}")


def test_the_best_tensor_cell_names_at_most_two_tensors():
    assert best_text("fc2.bias") == "fc2.bias"
    assert best_text("fc2.bias and fc2.weight") == "fc2.bias and fc2.weight"
    assert best_text("conv1.weight and conv1.bias and fc2.bias") == "3 tensors, tied"
