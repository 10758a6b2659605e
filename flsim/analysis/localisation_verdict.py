"""Chapter 3 across its runs, and its verdict: where the output bias stands in each run (the other
seeds, the contrast attack), on the other side of chapter 4's law (:func:`flsim.sides.compare_sides`,
read here by flsim.sides' one rule, :func:`~flsim.sides.leads`, not recomputed), in a deeper model
with BatchNorm, and the paper's claim over all of it in a few short sentences. The per-backdoor
numbers stay in the tables (compare_sides' and :func:`standing_values`'), the details in the findings
table (:func:`localisation_findings`).

The run taken apart: :mod:`flsim.analysis.localisation_report`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..sides import LEFT_OUT, claim_said, law_text
from .localisation_report import counted
from .statistics import auc_interval, rank_correlation, wilson_interval
from .sweeps import sweep_auc, sweep_evidence, sweep_ratio, sweep_summary
from .tensors import layer_summary, tensor_standing
from .words import interval_text


def run_label(config) -> str:
    """A run of the chapter in its tables and figures: "semantic, seed 0"."""
    return f"{config.attack}, seed {config.seed}"


def run_summaries(runs: list) -> dict[str, pd.DataFrame]:
    """:func:`flsim.analysis.layer_summary` of the paper's statistic for each run, by :func:`run_label`."""
    return {run_label(r.config): layer_summary(r.updates, "max_abs_deviation") for r in runs}


def _seed_note(runs: list, summaries: dict) -> str:
    """How alike the first two seeds of the first run's attack rank the tensors by AUC (Spearman)."""
    same = [run_label(r.config) for r in runs if r.config.attack == runs[0].config.attack]
    if len(same) < 2:
        return "With one seed, this run cannot tell how much of that ranking is the draw's"
    rho, low, high = rank_correlation(*(summaries[label].set_index("layer").auc for label in same[:2]))
    correlation = f"Spearman correlation {interval_text(rho, low, high)}"
    if low > 0:
        return f"The first two seeds rank the tensors by AUC alike ({correlation})"
    return (f"The first two seeds do not rank the tensors by AUC clearly alike ({correlation}, an interval "
            "that includes 0): the uncertainty the standard error above warns of")


def _contrast_note(runs: list, summaries: dict, contrast_attack: str, tensor: str) -> str:
    """The output bias over the contrast attack's seeds: pooled (:func:`sweep_evidence`) and seed by seed."""
    contrast = [r for r in runs if r.config.attack == contrast_attack] if contrast_attack else []
    if not contrast:
        return "This run has no contrast attack"
    by = "malicious_data_rate"  # the same in every run of the contrast: the seeds pool
    pooled = sweep_evidence(sweep_auc(contrast, sweep_summary(contrast, by), by), sweep_ratio(contrast, by),
                            tensor).iloc[0]
    each = tensor_standing({r.config.seed: r for r in contrast}, tensor)
    above = [int((summaries[run_label(r.config)].ratio > 1).sum()) for r in contrast]
    count = len(summaries[run_label(runs[0].config)])
    return (f"With the {contrast_attack} backdoor ({counted(len(contrast), 'seed')}) the attacker deviates "
            f"more than the honest clients in {', '.join(map(str, above))} of {count} tensors, seed by seed; "
            f"{tensor}'s ratio ranks {', '.join(map(str, each.ratio_rank))} and its ROC-AUC "
            f"{', '.join(map(str, each.auc_rank))}; over the seeds its ROC-AUC is "
            f"{interval_text(pooled.auc, pooled.lo, pooled.hi)} (rank {pooled.auc_rank}; best: {pooled.best}, "
            f"{interval_text(pooled.best_auc, pooled.best_lo, pooled.best_hi)})")


def standing_values(runs: list, summaries: dict, contrast_attack: str = "") -> tuple[pd.DataFrame, dict]:
    """Per run of the chapter (rows, :func:`run_label`): the output bias's AUC and ratio with their 95%
    intervals (:func:`flsim.analysis.tensor_standing`) and the tensor that does best by each; and the
    values the text glues: in how many runs it is the best tensor by each, how alike two seeds rank the
    tensors (seed_note), and how it fares under ``contrast_attack`` (contrast_note)."""
    tensor = runs[0].output_bias_tensor
    standing = tensor_standing({run_label(r.config): r for r in runs}, tensor)
    table = pd.DataFrame({  # the columns the text is about; the figure shows every tensor
        f"{tensor} AUC": [interval_text(s.auc, s.auc_lo, s.auc_hi) for s in standing.itertuples()],
        "best by AUC": standing.best_auc,
        f"{tensor} ratio": [interval_text(s.ratio, s.ratio_lo, s.ratio_hi) for s in standing.itertuples()],
        "best by ratio": standing.best_ratio}, index=standing.index)
    return table, dict(runs_count=len(runs), runs_bias_best_auc=int((standing.auc_rank == 1).sum()),
                       runs_bias_best_ratio=int((standing.ratio_rank == 1).sum()),
                       seed_note=_seed_note(runs, summaries),
                       contrast_note=_contrast_note(runs, summaries, contrast_attack, tensor))


def _sets(sides) -> tuple[str, str | None]:
    sets = list(sides.names)
    return sets[0], (sets[1] if len(sets) > 1 else None)


def sides_values(sides) -> dict:
    """The values chapter 3 glues from :func:`flsim.sides.compare_sides`' result beyond its own: each
    set's name and activation scale, the paper's claim for each (:func:`flsim.sides.claim`), and the
    default set's standing over the seeds (ranks, lower bounds, seeds on top by AUC, ratio and robust
    z). The section's sentence is compare_sides' ``other_note`` (:func:`flsim.sides.side_verdict`, with
    :func:`flsim.sides.ceiling_text`), as in chapters 5-7."""
    default, other = _sets(sides)
    values, pooled = sides.values, sides.evidence.loc[default]
    return dict(
        default_set_name=f"{sides.names[default]} (the default)", default_scale=values["scale_default"],
        other_set_name=sides.names[other] if other else "other side (not run: other_semantic_set is empty)",
        other_scale_text=f"{values['scale_other']:.2f}" if other else "no activation scale",
        other_verdict=values["claim_other"], verdict=values["claim_default"],
        bias_best_by=values["claim_by_default"], seeds_auc_rank=int(pooled.auc_rank),
        seeds_auc_low=float(pooled.lo), seeds_ratio_rank=int(pooled.ratio_rank),
        seeds_ratio_low=float(pooled.ratio_lo), seeds_count=int(pooled.seeds),
        seeds_auc_top=int(pooled.auc_seeds), seeds_ratio_top=int(pooled.ratio_seeds),
        seeds_z_top=int(pooled.z_seeds))


@dataclass
class Deeper:
    """The deeper model of chapter 3's last section: ``values`` to glue, ``summary`` (its first seed's
    :func:`flsim.analysis.layer_summary`, for the figure; None where none ran), ``far`` (its test
    accuracy more than 10 points below the paper's CNN's), ``model`` (its name; "" where none ran) and
    ``seeds`` (its runs)."""

    values: dict
    summary: pd.DataFrame | None = None
    far: bool = False
    model: str = ""
    seeds: int = 0


def _accuracy_text(value: float, test_images: int) -> str:
    return interval_text(value, *wilson_interval(round(value * test_images), test_images), ".1%")


def deeper_report(deeper_runs: list, results, test_images: int, local_steps: int) -> Deeper:
    """The deeper model measured as the paper's CNN (``results``, the run taken apart on the same
    federation): its output bias's rank by ROC-AUC (first seed) and by the attacker's robust z-score
    (seed by seed), where the attacker stands out and separates most, its accuracy beside the CNN's
    (95% Wilson intervals over ``test_images``), whether the anomaly stays in its output bias (top by
    robust z-score in every seed, none, or some) and, with ``local_steps`` per round, why it may be far
    from trained."""
    if not deeper_runs:
        return Deeper(dict(deeper_name="no deeper model", deeper_tensors=0, deeper_bias="-", deeper_buffers=0,
                           deeper_z_top=0, deeper_seeds=0, deeper_verdict="was not tested",
                           deeper_finding="no deeper model ran (deeper_model is empty)",
                           deeper_note="No deeper model ran"))
    deep = deeper_runs[0]
    model, bias = deep.config.model, deep.output_bias_tensor
    summary = layer_summary(deep.updates, "max_abs_deviation")
    table = summary.set_index("layer")
    rank = table[["auc", "attacker_z"]].rank(ascending=False, method="min").loc[bias]
    malicious = deep.updates[deep.updates.layer == bias].malicious
    client_rounds = int(malicious.sum()), int((~malicious).sum())
    auc = {name: interval_text(value, *auc_interval(value, *client_rounds))
           for name, value in {"bias": table.auc[bias], "best": table.auc.max()}.items()}
    z_ranks = [int(layer_summary(d.updates).set_index("layer").attacker_z
                   .rank(ascending=False, method="min")[bias]) for d in deeper_runs]
    z_top = sum(r == 1 for r in z_ranks)  # seed by seed
    cnn = layer_summary(results.updates, "max_abs_deviation").set_index("layer")
    cnn_z_rank = int(cnn.attacker_z.rank(ascending=False, method="min")[results.output_bias_tensor])
    accuracy, deep_accuracy = float(results.rounds.main_accuracy.iloc[-1]), deep.rounds.main_accuracy.iloc[-1]
    far = bool(deep_accuracy < accuracy - 0.1)  # far below the paper's CNN on the same federation
    finding = (
        f"in {model}'s first seed, {bias} ranks {int(rank.auc)} of {len(table)} tensors by ROC-AUC ({auc['bias']}) "
        f"and {z_ranks[0]} by the attacker's robust z-score (seed by seed: {', '.join(map(str, z_ranks))}, the top "
        f"tensor by it in {z_top} of {counted(len(z_ranks), 'seed')}); the attacker stands out most in "
        f"{table.attacker_z.idxmax()} and separates best in {table.auc.idxmax()} (ROC-AUC {auc['best']}). In the "
        f"paper's CNN on the same federation {results.output_bias_tensor} ranks {cnn_z_rank} of {len(cnn)} by robust "
        f"z-score. {model} reaches {_accuracy_text(deep_accuracy, test_images)} test accuracy (the paper's CNN "
        f"{_accuracy_text(accuracy, test_images)}), its backdoor at most {deep.rounds.backdoor_accuracy.max():.0%}"
        + ("; a model this far from trained says little about where the anomaly sits in a trained deep network"
           if far else ""))
    verdict = ("stays in the output bias" if z_top == len(z_ranks) else
               "does not stay in the output bias" if z_top == 0 else
               f"stays in the output bias in {z_top} of {len(z_ranks)} seeds")
    note = (f"With {counted(local_steps, 'local SGD step')} per round at learning rate {deep.config.lr:g} a network "
            "trained from scratch learns little: the deeper model is far from trained here" if far else
            "The deeper model trains to within 10 points of the paper's CNN here")
    values = dict(deeper_name=model, deeper_tensors=len(table), deeper_bias=bias, deeper_z_top=z_top,
                  deeper_seeds=len(z_ranks),
                  deeper_buffers=sum(name.endswith(("running_mean", "running_var")) for name in table.index),
                  deeper_finding=finding, deeper_verdict=verdict, deeper_note=note)
    return Deeper(values, summary, far, model, len(z_ranks))


# the measures that carry flsim.sides.claim (by flsim.sides.leads), as the verdict says them after "fc2.bias"
CARRIED = {"AUC and ratio": "is the top tensor by ROC-AUC and by ratio, clear of no difference",
           "AUC": "is the top tensor by ROC-AUC, clear of no difference, but not by ratio",
           "ratio": "is the top tensor by ratio, clear of no difference, but not by ROC-AUC",
           "neither AUC nor ratio": "is not the top tensor, clear of no difference, by ROC-AUC or by ratio"}


def claim_verdict(sides, deeper: Deeper, tensor: str) -> str:
    """Chapter 3's verdict, stated once, in short sentences: the paper's claim for the default backdoor
    and what carries it, then the other side of chapter 4's law in :mod:`flsim.sides`' words (its
    claim, :func:`~flsim.sides.claim_said`, and the law by ROC-AUC rank, :func:`~flsim.sides.law_text`,
    as chapters 5-7 say them), and the deeper model. No number needs an interval here: the tables hold
    them."""
    default, other = _sets(sides)
    word, by = sides.claims[default]
    seeds = int(sides.evidence.loc[default].seeds)
    sentences = [f"The paper's claim {word} for the {sides.names[default]}, the book's default backdoor: over "
                 f"{counted(seeds, 'seed')} {tensor} {CARRIED[by]}."]
    if other is None:
        sentences.append(f"{LEFT_OUT[0].upper()}{LEFT_OUT[1:]}.")
    else:
        scales = {default: sides.values["scale_default"], other: sides.values["scale_other"]}
        sentences.append(f"On the other side of chapter 4's law, the claim "
                         f"{claim_said(sides.claims[other], sides.names[other])}.")
        sentences.append(f"By ROC-AUC rank, {law_text(sides.evidence.auc_rank, scales, sides.names)}.")
    if deeper.model:
        sentences.append(f"In a deeper model ({deeper.model}, {counted(deeper.seeds, 'seed')}, by the attacker's "
                         f"robust z-score) the anomaly {deeper.values['deeper_verdict']}"
                         + ("; far from trained here, that model says little about a trained deep network."
                            if deeper.far else "."))
    return " ".join(sentences)


def localisation_findings(g: dict) -> dict[str, str]:
    """Chapter 3's findings table (label -> value) from its glued values ``g``: the run taken apart, the
    chapter's runs, the other side and the deeper model, each number with its interval."""
    n_tensors = g["num_tensors"]
    return {
        "main accuracy after the last round": g["main_accuracy_text"],
        "backdoor accuracy, highest in any round": f"{g['backdoor_accuracy_max']:.0%}",
        "rounds in which the attacker raised the target / lowered the source bias":
            f"{g['target_up_share']:.0%} / {g['source_down_share']:.0%}",
        "attacker's target-class bias shift in honest SDs: pooled z-score (chapter 1's per-round z)":
            f"{g['target_z_text']} ({g['target_round_z_text']})",
        f"fc2.bias malicious / benign ratio (rank of {n_tensors})": f"{g['bias_ratio_text']} ({g['bias_ratio_rank']})",
        "largest ratio": f"{g['top_ratio_text']} ({g['top_ratio_layer']})",
        f"fc2.bias ROC-AUC (rank of {n_tensors})": f"{g['bias_auc_text']} ({g['bias_auc_rank']})",
        "best ROC-AUC": f"{g['best_auc_text']} ({g['best_auc_layer']})",
        "rounds in which the attacker has the largest fc2.bias deviation":
            f"{g['bias_top_count']} of {g['attacked_rounds']}",
        "runs in which fc2.bias is the best tensor by AUC / by ratio":
            f"{g['runs_bias_best_auc']} / {g['runs_bias_best_ratio']} of {g['runs_count']}",
        "the paper's claim, the default backdoor / the other side": f"{g['verdict']} / {g['other_verdict']}",
        "activation scale (chapter 4's axis): the default backdoor / the other side":
            f"{g['default_scale']:.2f} / {g['other_scale_text']}",
        "deeper model with BatchNorm": g["deeper_finding"],
    }
