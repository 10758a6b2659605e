"""The other side of chapter 4's axis: a chapter's default backdoor and another named semantic set,
compared at one point of the chapter's sweep (chapters 3, 5, 6 and 7).

Chapter 4's law: the smaller a backdoor's activation scale, the more the output bias leads the other
tensors. A chapter that sweeps one setting with its default backdoor runs one more named set at one
point of the sweep, on the same seeds. :func:`compare_sides` says where the two sit on the law's
axis, how the output bias fares for each under the chapter's measures (ROC-AUC and the
malicious/benign ratio, each with its rank among the tensors and the seeds in which it leads, and
the seeds in which it leads by the attacker's robust z-score), and the paper's claim for each set by
both measures (:func:`claim`, by :func:`leads`: the one rule of chapters 3 and 5-7, which the sweep
chapters also apply at every swept value) with whether chapter 4's law holds (:func:`side_verdict`):
as a table and as the values a chapter glues. Its means and intervals are :func:`flsim.analysis.sweep_evidence`'s,
so the same runs give the same numbers here as in a chapter's sweep.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from . import analysis, semantic
from .analysis import interval_text
from .sweep import sweep

LEFT_OUT = "this run left out the other side of chapter 4's law (other_semantic_set is empty)"


@dataclass
class Sides:
    """What :func:`compare_sides` found at one point of a chapter's sweep.

    ``table``: one column per set (in its words), the rows the chapters show, the index named by the
    point. ``values``: the chapter's glue names and their values. ``evidence``: per set (rows, the
    default first), :func:`flsim.analysis.sweep_evidence`'s columns for the output bias, with
    auc_seeds and ratio_seeds, the seeds in which it has the largest AUC / ratio of its run (a tie
    counts for each), and z_seeds, those in which it has the attacker's largest robust z-score.
    ``names``: each set's words. ``standings``: per set, the output bias's AUC and ratio in words,
    with their ranks and seeds on top (for a chapter's summary). ``claims``: per set,
    :func:`claim`'s word and the measures that carry it.
    """

    table: pd.DataFrame
    values: dict
    evidence: pd.DataFrame
    names: dict[str, str]
    standings: dict[str, str]
    claims: dict[str, tuple[str, str]]


def leads(row) -> dict[str, bool]:
    """The one rule by which the output bias counts as the attacker's tensor (chapters 3, 5, 6 and 7): per
    measure, whether it is the top tensor over the seeds (means) and clear of no difference, its AUC's
    interval above chance (0.5) for "AUC", its ratio's above 1 for "ratio". ``row``: a row of
    :func:`flsim.analysis.sweep_evidence` (auc_rank, clear, ratio_rank, ratio_clear)."""
    return {"AUC": bool(row.auc_rank == 1 and row.clear),
            "ratio": bool(row.ratio_rank == 1 and row.ratio_clear)}


def claim(row) -> tuple[str, str]:
    """The paper's claim for one set or one swept value by :func:`leads` (chapters 3, 5-7): "holds" by
    both measures, "holds only in part" by one, "does not hold"; and the measures that carry it,
    joined by " and ", or "neither AUC nor ratio". ``row``: a row of
    :func:`flsim.analysis.sweep_evidence`."""
    best = leads(row)
    word = {2: "holds", 1: "holds only in part", 0: "does not hold"}[sum(best.values())]
    return word, " and ".join(k for k, v in best.items() if v) or "neither AUC nor ratio"


def claim_said(claimed: tuple[str, str], name: str) -> str:
    """One set's :func:`claim` as the verdict says it: "holds for the flat sandals (by AUC and ratio)",
    "does not hold for the striped T-shirts"."""
    word, by = claimed
    return f"{word} for the {name}" + (f" (by {by})" if word != "does not hold" else "")


def law_text(ranks: dict[str, int], scales: dict[str, float], names: dict[str, str]) -> str:
    """Whether two sets' ROC-AUC ranks of the output bias (1 = the best) follow chapter 4's law, which
    predicts a better rank for the set with the smaller activation scale (chapters 3, 5-7)."""
    small, large = sorted(scales, key=scales.get)
    if ranks[small] < ranks[large]:
        return f"the output bias ranks higher for the {names[small]}, as chapter 4's law predicts"
    if ranks[small] > ranks[large]:
        return f"the output bias ranks higher for the {names[large]}, against chapter 4's law"
    return f"the two tie, where chapter 4's law predicts a better rank for the {names[small]}"


def side_verdict(claims: dict[str, tuple[str, str]], names: dict[str, str], law: str | None,
                 point: str) -> str:
    """The other side's verdict (chapters 3, 5-7): at ``point``, the paper's claim (:func:`claim`) for
    each set, the default first, then by ROC-AUC rank whether chapter 4's law holds (``law``:
    :func:`law_text`; None where the run left the other side out, which it then says). At most two
    sentences, each short enough for a verdict."""
    said = " and ".join(claim_said(claims[name], names[name]) for name in claims)
    text = f"At {point} the paper's claim (by ROC-AUC and by ratio) {said}"
    return f"{text}. By ROC-AUC rank, {law}." if law else f"{text}; {LEFT_OUT}."


def at_ceiling(evidence: pd.DataFrame, num_malicious: int, num_chosen: int) -> list:
    """The rows of ``evidence`` (:func:`flsim.analysis.sweep_evidence`) whose malicious/benign ratio sits
    at its ceiling, num_chosen - 1, which one attacker's ratio cannot pass: the upper end of its
    interval within 1% of it (:func:`flsim.analysis.ratio_at_ceiling`, chapter 4); none with several
    attackers (another ceiling)."""
    if num_malicious != 1:
        return []
    return list(evidence.index[analysis.ratio_at_ceiling(evidence.ratio_hi, num_chosen)])


def ceiling_text(sets: list[str], names: dict[str, str], tensor: str, num_chosen: int) -> str:
    """The sentence that flags ratios at their ceiling (:func:`at_ceiling`); "" where none is."""
    if not sets:
        return ""
    said = " and the ".join(names[name] for name in sets)
    return (f"For the {said}, {tensor}'s ratio sits at its ceiling of {num_chosen - 1} (its interval "
            f"reaches within 1% of it): one attacker among {num_chosen} clients cannot pass it, and "
            f"tensors there tie (chapter 4).")


def best_text(best: str) -> str:
    """The best tensor(s) by AUC as the table shows them: one or two names, or "k tensors, tied" where
    more tie (a tiny run's AUCs of 1), so that the column fits the page."""
    count = best.count(" and ") + 1
    return best if count <= 2 else f"{count} tensors, tied"


def _standing(row, layer_count: int, seed_count: int) -> str:
    return (f"its AUC {interval_text(row.auc, row.lo, row.hi)}, rank {row.auc_rank} of "
            f"{layer_count} tensors, the largest in {row.auc_seeds} of {seed_count} seeds; its ratio "
            f"{interval_text(row.ratio, row.ratio_lo, row.ratio_hi)}, rank {row.ratio_rank}, the largest "
            f"in {row.ratio_seeds} of {seed_count} seeds")


def compare_sides(point_base, default_set: str, other_set: str, *, seeds, swept, num_samples: int,
                  point: str) -> Sides:
    """The output bias for ``default_set`` and ``other_set`` (named semantic sets; ``""`` leaves the
    other side out) at one point of a chapter's sweep (chapters 3, 5, 6 and 7).

    ``point_base``: the chapter's config at that point, ``point`` its words (e.g. "m = 1"). Each set
    runs on ``seeds`` through :func:`flsim.sweep`; ``swept``, the sweep's configs, tells which runs
    are new (the default set's are the sweep's own where it swept the point). The activation scales
    are read from ``point_base``'s pre-trained model before any attack
    (:func:`flsim.semantic.named_set_predictors`); the backdoor accuracy (mean of the last three
    rounds [lowest, highest seed]) counts ``num_samples`` training images per client. The verdict is
    :func:`side_verdict`'s: the paper's claim for each set by ROC-AUC and by ratio (:func:`claim`),
    then chapter 4's law by ROC-AUC rank; ``other_note`` adds where a ratio sits at its ceiling
    (:func:`at_ceiling`), which the table's ratio row marks "(ceiling)".
    """
    sets = [default_set] + ([other_set] if other_set else [])
    names = {name: semantic.set_words(name) for name in sets}
    scales = semantic.named_set_predictors(point_base, sets).activation_scale
    configs = [point_base.replace(semantic_set=name, seed=seed) for name in sets for seed in seeds]
    runs = sweep(configs)
    tensor = runs[0].output_bias_tensor
    summary = analysis.sweep_summary(runs, by="semantic_set")
    evidence = analysis.sweep_evidence(analysis.sweep_auc(runs, summary, "semantic_set"),
                                       analysis.sweep_ratio(runs, "semantic_set"), tensor,
                                       summary).loc[sets]
    attacked = summary.dropna(subset=["auc"])
    z_top = attacked.groupby("run").attacker_z.rank(ascending=False, method="min") == 1
    evidence["z_seeds"] = z_top[attacked.layer == tensor].groupby(attacked.semantic_set).sum()
    per_run = analysis.sweep_runs(runs, "semantic_set", num_samples=num_samples)
    accuracy = analysis.seed_spread(per_run, "semantic_set", "backdoor_accuracy_last")
    layer_count, seed_count = summary.layer.nunique(), len(seeds)

    def standing(name):
        return _standing(evidence.loc[name], layer_count, seed_count)

    def accuracy_text(name):
        return interval_text(*accuracy.loc[name, ["mean", "lo", "hi"]], ".0%")

    other_keys = {c.key() for c in configs} - {c.key() for c in swept}
    in_sweep = len(other_keys) == seed_count * (len(sets) - 1)  # the default set's: the sweep's own
    claims = {name: claim(evidence.loc[name]) for name in sets}
    ranks = evidence.auc_rank
    law = law_text(ranks, scales[sets].to_dict(), names) if other_set else None
    verdict = side_verdict(claims, names, law, point)
    ceiling = at_ceiling(evidence, point_base.num_malicious, point_base.num_chosen)
    values = dict(
        scale_default=float(scales[default_set]), num_other_runs=len(other_keys),
        claim_default=claims[default_set][0], claim_by_default=claims[default_set][1],
        claim_text="The paper's claim (by ROC-AUC and by ratio) "  # chapter 3's verdict
        + " and ".join(claim_said(claims[name], names[name]) for name in sets)
        + (f"; by ROC-AUC rank, {law}" if law else f"; {LEFT_OUT}"),
        scales_text=" and ".join(f"{scales[name]:.2f} for the {names[name]}" for name in sets),
        other_pool_note="the default backdoor's runs there are the sweep's own" if in_sweep
        else "the default backdoor's runs there are new too",
        side_verdict=verdict,
        other_note=" ".join(filter(None, [verdict, ceiling_text(ceiling, names, tensor,
                                                                 point_base.num_chosen)])))
    if other_set:
        other = other_set
        small, large = sorted(sets, key=scales.get)
        values.update(
            scale_other=float(scales[other]), claim_other=claims[other][0],
            law_prediction=f"the law predicts that {tensor} leads more for the {names[small]}, "
                           f"whose activations are the smaller, than for the {names[large]}",
            other_side=f"the {names[other]} at {point}",
            other_runs_text=f"At {point} the {names[other]}, the other side of chapter 4's law, "
                            f"run on the same seeds as well ({len(other_keys)} "
                            f"run{'s' * (len(other_keys) != 1)} more)",
            bias_auc_default=interval_text(*evidence.loc[default_set, ["auc", "lo", "hi"]]),
            bias_auc_other=interval_text(*evidence.loc[other, ["auc", "lo", "hi"]]),
            bias_rank_default=int(ranks[default_set]), bias_rank_other=int(ranks[other]),
            auc_seeds_default=int(evidence.auc_seeds[default_set]),
            auc_seeds_other=int(evidence.auc_seeds[other]))
    else:
        values.update(other_side="none", law_prediction="this run has no other side",
                      claim_other="was not tested",
                      other_runs_text=f"{LEFT_OUT[0].upper()}{LEFT_OUT[1:]}")
    table = pd.DataFrame({names[name]: {
        "activation scale": f"{scales[name]:.2f}",
        f"{tensor} AUC [2 SE]": interval_text(r.auc, r.lo, r.hi),
        f"AUC rank (of {layer_count})": r.auc_rank,
        "seeds with the largest AUC": f"{r.auc_seeds} of {seed_count}",
        f"{tensor} ratio [95% CI]": interval_text(r.ratio, r.ratio_lo, r.ratio_hi)
        + " (ceiling)" * (name in ceiling),
        f"ratio rank (of {layer_count})": r.ratio_rank,
        "seeds with the largest ratio": f"{r.ratio_seeds} of {seed_count}",
        "seeds with the largest robust z": f"{r.z_seeds} of {seed_count}",
        "best tensor by AUC": best_text(r.best),
        "backdoor accuracy [seeds]": accuracy_text(name),
    } for name, r in evidence.iterrows()}).rename_axis(point)
    return Sides(table=table, values=values, evidence=evidence, names=names,
                 standings={name: standing(name) for name in sets}, claims=claims)
