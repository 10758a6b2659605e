"""Chapter 8's detectors judged per attack, as tables and as the values its text glues, and its verdict.

- :func:`axis_values`: where the chapter's semantic backdoors sit on chapter 4's axis;
- :func:`attack_reports`, :func:`report_tables`, :func:`fixed_tables`: :func:`flsim.analysis.detection_report`
  of each backdoor's undefended runs (:class:`flsim.analysis.defences.DefenceRuns`) against the runs
  without an attacker, and the TPR at a threshold fixed on those;
- :func:`paper_table`, :func:`paper_values`: the output-bias statistic (``output_bias_max``) beside the
  detector with the highest AUC, per attack and seed by seed;
- :func:`bar_table`, :func:`verdict`: the chapter's bar on that statistic's ROC-AUC against every lone,
  unscaled attacker, and its verdict in three sentences.

Every sentence is built from :mod:`flsim.analysis.words`' primitives.
"""

from __future__ import annotations

import pandas as pd

from ..attacks import semantic_set_name
from ..detectors import DETECTORS
from ..semantic import set_words
from .detection import detection_report, detection_summary
from .words import interval_columns, plural, row_interval_text

PAPER = "output_bias_max"  # the paper's statistic among the detectors
BAR = 0.9  # chapters 8 and 10's bar: a ROC-AUC of at least this against a lone, unscaled attacker


def axis_values(scale: pd.Series, default_set: str, other_set: str) -> dict:
    """Where the default and the other semantic backdoor (``other_set``; "" for none) sit on chapter 4's
    axis, from their activation scales ``scale`` (indexed by set name), for the text."""
    words, default = set_words, float(scale[default_set])
    values = dict(default_set_name=words(default_set), scale_default=default)
    if not other_set:
        return values | dict(other_set_name="none", scale_other=default,
                             other_side_text="not run here (`other_semantic_set` is empty)",
                             axis_note=f"the {words(default_set)} sit at {default:.2f}")
    lower, higher, other = scale.idxmin(), scale.idxmax(), float(scale[other_set])
    side = (f"the {words(other_set)} (activation scale {other:.2f}), where the law predicts that the output "
            "bias leads" if other < default else
            f"the {words(other_set)}, though here its activation scale ({other:.2f}) is not below the default's")
    note = (f"the {words(higher)} sit higher on the axis ({scale[higher]:.2f} against {scale[lower]:.2f}), so "
            f"the law expects the output bias to stand out less for them than for the {words(lower)}"
            if lower != higher else "both sets sit at the same place")
    return values | dict(other_set_name=words(other_set), scale_other=other, other_side_text=side, axis_note=note)


def attack_reports(runs, z: float = 3.0, fpr: float = 0.05) -> pd.DataFrame:
    """:func:`flsim.analysis.detection_report` of each judged backdoor's undefended runs against the runs
    without an attacker, indexed by attack and detector."""
    return pd.concat([detection_report(runs.attacked(a), runs.clean, z=z, fpr=fpr).assign(attack=a)
                      for a in runs.judged], ignore_index=True).set_index(["attack", "detector"])


def report_tables(report: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per attack, its detectors' AUC and outlier-rule rates, each a value with its interval."""
    columns = {"AUC": ("auc", ".2f"), "TPR %": ("tpr", "%"), "FPR %": ("fpr", "%"), "clean FPR %": ("clean_fpr", "%")}
    return {a: interval_columns(report.loc[a], columns) for a in dict.fromkeys(report.index.get_level_values(0))}


def report_values(report: pd.DataFrame, z: float, fpr: float, lone: str = "semantic", group: str = "DBA") -> dict:
    """The client-rounds behind the rates, under the ``lone`` attacker and the ``group`` of attackers."""
    one, many = report.loc[lone].iloc[0], report.loc[group].iloc[0]
    return dict(outlier_z=z, target_fpr=fpr, attacker_rounds_lone=int(one.attacker_rounds),
                honest_rounds_lone=int(one.honest_rounds), attacker_rounds_dba=int(many.attacker_rounds),
                honest_rounds_dba=int(many.honest_rounds), clean_rounds=int(one.clean_rounds))


def fixed_tables(report: pd.DataFrame, runs) -> list[pd.DataFrame]:
    """The TPR (%) at the threshold fixed on the runs without an attacker: per detector and attack, then
    (with another semantic backdoor) for the semantic backdoors side by side."""
    fixed = interval_columns(report, {"TPR %": ("cal_tpr", "%")})["TPR %"].unstack("attack")
    sets = [list(runs.attacks)] + ([[list(runs.attacks)[0], *runs.others]] if runs.others else [])
    return [fixed.loc[list(DETECTORS), columns].rename_axis(columns=None) for columns in sets]


def fixed_values(report: pd.DataFrame) -> dict:
    """The largest share of honest client-rounds of an attacked run above a fixed threshold, and where."""
    worst = report.cal_fpr.idxmax()
    return dict(cal_fpr_max_ci=row_interval_text(report.loc[worst], "cal_fpr", ".0%"),
                cal_fpr_max_where=f"{worst[1]} under the {worst[0]} attack")


def glue_keys(runs) -> dict[str, str]:
    """Each judged backdoor's name in glue names: the attack in lower case, the other backdoor "other"."""
    return {a: a.lower() for a in runs.attacks} | {a: "other" for a in runs.others}


def _best(report: pd.DataFrame) -> pd.DataFrame:
    return report.loc[report.auc.groupby(level="attack", sort=False).idxmax()].reset_index("detector")


def top_seeds(runs, attack: str) -> int:
    """The seeds in which the output-bias statistic's AUC is the highest of the detectors (ties count), on
    that seed's client-rounds alone."""
    aucs = [detection_summary(r.detection).set_index("detector").auc for r in runs.attacked(attack)]
    return sum(bool(auc[PAPER] >= auc.max()) for auc in aucs)


def paper_table(report: pd.DataFrame, runs) -> pd.DataFrame:
    """Per judged backdoor: the output-bias statistic's AUC, the seeds in which it is the highest, and the
    detector with the highest AUC, with its AUC."""
    paper, best, auc = report.xs(PAPER, level="detector"), _best(report), {"AUC": ("auc", ".2f")}
    return pd.concat([
        interval_columns(paper, auc).rename(columns={"AUC": f"{PAPER} AUC"}),
        pd.Series({a: f"{top_seeds(runs, a)} of {len(runs.seeds)}" for a in runs.judged}, name="highest in seeds"),
        best[["detector"]].rename(columns={"detector": "highest AUC"}),
        interval_columns(best, auc).rename(columns={"AUC": "its AUC"})], axis=1).loc[list(runs.judged)]


def _compare(side, default, column: str) -> str:
    """How ``side``'s ``column`` compares with ``default``'s, by their intervals."""
    return ("higher than" if side[f"{column}_lo"] > default[f"{column}_hi"] else
            "lower than" if side[f"{column}_hi"] < default[f"{column}_lo"] else "not distinguishable from")


def paper_values(report: pd.DataFrame, runs, z: float, lone: str = "semantic") -> dict:
    """The output-bias statistic as a detector, for the text: per judged backdoor its AUC, outlier-rule
    rates and fixed-threshold TPR beside the highest AUC; the seeds in which it catches the ``lone``
    attacker in its first round; the attack-free runs' false alarms; and the other side of chapter 4's law
    against the default backdoor."""
    paper, best, values = report.xs(PAPER, level="detector"), _best(report), {}
    top = {a: top_seeds(runs, a) for a in runs.judged}
    for a, key in glue_keys(runs).items():
        row = paper.loc[a]
        values |= {f"paper_auc_{key}": float(row.auc), f"paper_auc_{key}_ci": row_interval_text(row, "auc"),
                   f"paper_tpr_{key}": float(row.tpr), f"paper_tpr_{key}_ci": row_interval_text(row, "tpr", ".0%"),
                   f"paper_fpr_{key}_ci": row_interval_text(row, "fpr", ".0%"),
                   f"paper_cal_tpr_{key}": float(row.cal_tpr),
                   f"paper_cal_tpr_{key}_ci": row_interval_text(row, "cal_tpr", ".0%"),
                   f"best_detector_{key}": str(best.detector[a]), f"best_auc_{key}": float(best.auc[a]),
                   f"best_auc_{key}_ci": row_interval_text(best.loc[a], "auc"), f"paper_top_seeds_{key}": top[a]}
    first = [detection_summary(r.detection, z=z).set_index("detector").rounds_to_detection[PAPER] == 1
             for r in runs.attacked(lone)]
    fools = report.xs("foolsgold_similarity", level="detector")
    clean = report.loc[list(runs.attacks)[0]]  # the attack-free runs are the same for every attack
    # Tied with the highest: the statistic's AUC interval reaches the highest AUC's interval.
    ties = (paper.auc_hi >= best.auc_lo[paper.index])[list(runs.attacks)]
    values |= dict(paper_top_seeds_text=", ".join(f"{k} of {len(runs.seeds)} ({a})" for a, k in top.items()),
                   paper_first_round_seeds=int(sum(first)), paper_clean_fpr=float(clean.clean_fpr[PAPER]),
                   paper_clean_fpr_ci=row_interval_text(clean.loc[PAPER], "clean_fpr", ".1%"),
                   foolsgold_auc_max=float(fools.auc.max()),
                   foolsgold_auc_max_ci=row_interval_text(fools.loc[fools.auc.idxmax()], "auc"),
                   max_clean_fpr=float(clean.clean_fpr.max()),
                   max_clean_fpr_ci=row_interval_text(clean.loc[clean.clean_fpr.idxmax()], "clean_fpr", ".1%"),
                   max_clean_fpr_detector=str(clean.clean_fpr.idxmax()), paper_best_count=int(ties.sum()),
                   other_compare="not run")
    if runs.others:  # the two sides of chapter 4's law, by the paper's statistic: AUC, then TPR
        side, default = paper.loc[list(runs.others)[0]], paper.loc[lone]
        default_set = _backdoor_words(runs, lone)
        values["other_compare"] = (f"by the two intervals, its ROC-AUC is {_compare(side, default, 'auc')} the "
                                   f"{default_set}' and its outlier-rule TPR {_compare(side, default, 'tpr')} theirs")
    return values


def _backdoor_words(runs, attack: str) -> str:
    """A judged attack's backdoor as a sentence names it: its semantic set, or the pixel trigger."""
    settings = runs.judged[attack]
    if settings.get("attack") == "trigger":
        return "pixel trigger"
    return set_words(semantic_set_name(runs.base.dataset, settings.get("semantic_set", runs.base.semantic_set)))


def _lone(runs) -> dict[str, str]:
    """The lone, unscaled attackers (both sides of chapter 4's law and the trigger), each with its words."""
    return {a: _backdoor_words(runs, a) for a in ["semantic", *runs.others, "trigger"]}


def bar_table(report: pd.DataFrame, runs, scale: pd.Series, bar: float = BAR) -> pd.DataFrame:
    """The verdict's breakdown: per lone, unscaled attacker, its backdoor's activation scale (chapter 4's
    axis; blank for the trigger), the output-bias statistic's AUC and where its interval lies against
    ``bar`` (above, below, or "straddles" where it reaches both sides)."""
    paper, rows = report.xs(PAPER, level="detector"), {}
    for a, words in _lone(runs).items():
        settings, row = runs.judged[a], paper.loc[a]
        name = semantic_set_name(runs.base.dataset, settings.get("semantic_set", runs.base.semantic_set))
        rows[words] = {"activation scale": f"{scale[name]:.2f}" if settings.get("attack") != "trigger" else "",
                       f"{PAPER} AUC": row_interval_text(row, "auc"),
                       f"against {bar:g}": ("above" if row.auc_lo >= bar else "below" if row.auc_hi < bar
                                            else "straddles")}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("lone attacker")


def verdict(report: pd.DataFrame, runs, bar: float = BAR) -> str:
    """The chapter's verdict on the paper's statistic as a detector: useful where the intervals of its
    ROC-AUC against every lone, unscaled attacker lie above ``bar``, not reliable where any lies below,
    open otherwise; then the lowest, how many lie where, and the runs' conditions. Four sentences."""
    lone = _lone(runs)
    paper = report.xs(PAPER, level="detector").loc[list(lone)]
    above, below = int((paper.auc_lo >= bar).sum()), int((paper.auc_hi < bar).sum())
    claim = ("The paper's output-bias statistic is a useful detector of a lone attacker." if above == len(paper) else
             "The paper's output-bias statistic is not a reliable detector even of a lone attacker." if below else
             "These runs cannot tell whether the paper's output-bias statistic is a useful detector of a lone "
             "attacker.")
    lowest, base = paper.auc.idxmin(), runs.base
    samples = f" {base.samples_per_client}" if base.samples_per_client else ""
    rounds = int(report.loc["semantic"].iloc[0].attacker_rounds)
    return (f"{claim} Against a bar of {bar:g}, its lowest ROC-AUC among the {len(paper)} lone, unscaled "
            f"attackers is {row_interval_text(paper.loc[lowest], 'auc')}, against the {lone[lowest]}. Of the "
            f"{len(paper)} intervals, {above} lie wholly above the bar, {below} wholly below it and "
            f"{len(paper) - above - below} straddle it. These runs give a lone "
            f"attacker one poisoned sample in {base.malicious_data_rate} of its{samples} samples, among "
            f"{base.num_clients} clients for {base.num_rounds} rounds, pooled over {plural(len(runs.seeds), 'seed')} "
            f"({rounds} attacking client-rounds per attack).")
