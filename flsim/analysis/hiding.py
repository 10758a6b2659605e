"""Chapter 10's attackers that hide from the output layer (Neurotoxin, the LP attack, an adaptive attacker)
and FLAME at full strength, from :class:`flsim.analysis.location.LocationRuns`.

- :func:`layer_auc_map`: the paper's statistic on each tensor, per backdoor and attack (where the anomaly
  goes when the attacker hides);
- :func:`reports`, :func:`report_tables`, :func:`report_values`: each detector as chapter 8 reports it, per
  backdoor and attack, and how hiding moves the output-bias statistic's ROC-AUC against a bar of 0.9;
- :func:`flame_table`, :func:`flame_values`: each attack scaled by model replacement, undefended and under
  FLAME: what it keeps of its backdoor and whom FLAME leaves out.

Sentences are built from :mod:`flsim.analysis.words`' primitives; a chapter builds none.
"""

from __future__ import annotations

import pandas as pd

from .detection import defence_counts, defence_summary, detection_report, layer_aucs
from .detector_tables import BAR, PAPER  # an AUC interval below BAR: the attacker hides; above it: caught
from .statistics import wilson_interval
from .words import interval_columns, interval_text, row_interval_text


def layer_auc_map(runs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per tensor, map): :func:`flsim.analysis.layer_aucs` of each backdoor x attack's runs over the seeds
    (column ``row``: "backdoor, attack"), and their AUCs as rows x tensors (model order) for the heat map."""
    rows = [(b, a) for b in runs.backdoors for a in runs.attacks]
    table = pd.concat([layer_aucs([runs.runs[b, a, s] for s in runs.seeds]).assign(row=f"{b}, {a}") for b, a in rows])
    tensors = list(dict.fromkeys(table.layer))
    return table, table.pivot(index="row", columns="layer", values="auc").loc[[f"{b}, {a}" for b, a in rows], tensors]


def reports(runs, z: float = 3.0) -> pd.DataFrame:
    """:func:`flsim.analysis.detection_report` of each backdoor x attack's runs over the seeds against the
    FedAvg runs without an attacker, indexed by backdoor, attack and detector."""
    return pd.concat([detection_report([runs.runs[b, a, s] for s in runs.seeds],
                                       [runs.clean["fedavg", s] for s in runs.seeds], z=z).assign(backdoor=b, attack=a)
                      for b in runs.backdoors for a in runs.attacks],
                     ignore_index=True).set_index(["backdoor", "attack", "detector"])


def _best(report: pd.DataFrame) -> pd.DataFrame:
    return report.loc[report.auc.groupby(level=["backdoor", "attack"], sort=False).idxmax()].reset_index("detector")


def peaks(runs) -> pd.Series:
    """Each backdoor x attack's highest backdoor accuracy over its rounds and seeds, undefended."""
    return pd.Series({(b, a): max(defence_summary(runs.runs[b, a, s])["backdoor_peak"] for s in runs.seeds)
                      for b in runs.backdoors for a in runs.attacks})


def report_tables(report: pd.DataFrame, runs) -> list[tuple[str, pd.DataFrame]]:
    """(title, table) in the order the chapter shows them: per backdoor the output-bias statistic's AUC and
    outlier-rule rates per attack; the detector with the highest AUC per backdoor and attack; each
    detector's outlier rule in the runs without an attacker; the attacks' undefended peaks (%)."""
    paper, best = report.xs(PAPER, level="detector"), _best(report)
    rates = {"AUC": ("auc", ".2f"), "TPR %": ("tpr", "%"), "FPR %": ("fpr", "%")}
    # the attack-free runs are the same for every backdoor and attack
    clean = report.xs((runs.first_backdoor, list(runs.attacks)[0]), level=["backdoor", "attack"])
    peak = (100 * peaks(runs).unstack().loc[list(runs.backdoors), list(runs.attacks)]).round(0).astype(int)
    return ([(f"**{b}**: the output-bias statistic", interval_columns(paper.loc[b], rates)) for b in runs.backdoors]
            + [("The detector with the highest AUC for each backdoor and attack:",
                pd.concat([best[["detector"]], interval_columns(best, {"its AUC": ("auc", ".2f")})], axis=1)),
               ("Each detector's outlier rule in the attack-free runs:",
                interval_columns(clean, {"clean FPR %": ("clean_fpr", "%")})),
               ("The highest backdoor accuracy of each attack's global model over its rounds and seeds, "
                "undefended (%):",
                peak.rename_axis(index="peak backdoor %", columns=None))])


def report_values(report: pd.DataFrame, runs, layer_auc: pd.DataFrame, bias_backdoor: str, z: float,
                  lp: str = "LP") -> dict:
    """Hiding in the text: the output-bias statistic's AUC against the plain attacker per backdoor and on
    ``bias_backdoor`` under each attack; how often its interval falls below ``BAR`` (:mod:`flsim.analysis.detector_tables`) when the attacker
    hides, and how often the best detector stays above it; the tensor whose statistic separates the ``lp``
    attacker best, per backdoor; the statistic's false alarms without an attacker."""
    paper, best, plain = report.xs(PAPER, level="detector"), _best(report), list(runs.attacks)[0]
    clean = report.xs((runs.first_backdoor, plain), level=["backdoor", "attack"])
    hidden = runs.hidden
    lp_leaders = {b: layer_auc[layer_auc.row == f"{b}, {lp}"].set_index("layer").auc.idxmax() for b in runs.backdoors}
    return dict(
        lp_leaders="; ".join(f"{tensor} for the {b}" for b, tensor in lp_leaders.items()),
        paper_auc_plain=", ".join(f"{row_interval_text(paper.loc[b, plain], 'auc')} ({b})" for b in runs.backdoors),
        **{f"paper_auc_bias_backdoor_{a.lower()}_ci": row_interval_text(paper.loc[bias_backdoor, a], "auc")
           for a in runs.attacks},
        outlier_z=z, paper_clean_fpr_ci=row_interval_text(clean.loc[PAPER], "clean_fpr", ".0%"),
        hidden_below=sum(int(paper.loc[(b, a)].auc_hi < BAR) for b in runs.backdoors for a in hidden),
        hidden_total=len(runs.backdoors) * len(hidden),
        plain_above=sum(int(paper.loc[(b, plain)].auc_lo >= BAR) for b in runs.backdoors),
        caught_anyway=sum(int(best.loc[(b, a)].auc_lo >= BAR) for b in runs.backdoors for a in hidden),
        best_hidden=", ".join(sorted({str(d) for d in
                                      best[best.index.get_level_values("attack").isin(hidden)].detector})))


def _mean_of(results: list, column: str) -> float:
    return sum(defence_summary(r)[column] for r in results) / len(results)


def _rate(flagged: int, total: int) -> str:
    """The share flagged with its Wilson interval, in percent; "none" without client-rounds."""
    return interval_text(flagged / total, *wilson_interval(flagged, total), ".0%") if total else "none"


def flame_table(runs) -> pd.DataFrame:
    """Per scaled attack: the peak backdoor accuracy (%, mean over the strength seeds) undefended and under
    FLAME, FLAME's TPR and FPR pooled over the seeds with Wilson intervals, and ``main``, FLAME's main
    accuracy after the last round against FedAvg's (a share; the chapter shows the table without it)."""
    rows = []
    for a in runs.attacks:
        fedavg, flame = ([runs.strength[a, d, s] for s in runs.strong] for d in ("fedavg", "flame"))
        counts = defence_counts(flame)
        rows.append({"attack": a, "FedAvg peak %": round(100 * _mean_of(fedavg, "backdoor_peak")),
                     "FLAME peak %": round(100 * _mean_of(flame, "backdoor_peak")),
                     "TPR %": _rate(counts["attackers_flagged"], counts["attacker_rounds"]),
                     "FPR %": _rate(counts["honest_flagged"], counts["honest_rounds"]),
                     "main": _mean_of(flame, "main_accuracy") - _mean_of(fedavg, "main_accuracy")})
    return pd.DataFrame(rows).set_index("attack")


def flame_values(table: pd.DataFrame, runs) -> dict:
    """FLAME at full strength in the text: each attack's undefended peak, what hiding costs the attacker,
    whom FLAME flags and leaves out in every round, and FLAME's cost without an attacker."""
    plain, strong = list(runs.attacks)[0], runs.strong
    counts = {a: defence_counts([runs.strength[a, "flame", s] for s in strong]) for a in runs.attacks}
    left_out = [a for a, c in counts.items() if 0 < c["attacker_rounds"] == c["attackers_flagged"]]
    note = ("FLAME leaves every scaled attacker out in every round, so under FLAME the global model does not depend "
            "on what the attacker submits, and the attacks' rows agree: the scaled update gives each of them away, "
            "whatever its output layer" if len(left_out) == len(runs.attacks) else
            f"FLAME leaves the attacker out in every round under {len(left_out)} of the {len(runs.attacks)} attacks"
            + (f" ({', '.join(left_out)})" if left_out else ""))
    quiet = defence_counts([runs.clean["flame", s] for s in strong])
    clean_main = {d: sum(runs.clean[d, s].rounds.main_accuracy.iloc[-1] for s in strong) / len(strong)
                  for d in ("fedavg", "flame")}
    undefended = {a: _mean_of([runs.strength[a, "fedavg", s] for s in strong], "backdoor_peak") for a in runs.attacks}
    loss = max(undefended[plain] - undefended[a] for a in runs.hidden)
    cost = 100 * (clean_main["fedavg"] - clean_main["flame"])
    return dict(flame_note=note, flame_clean_fpr=_rate(quiet["honest_flagged"], quiet["honest_rounds"]),
                **{f"strong_{a.lower()}_peak": float(table.loc[a, "FedAvg peak %"]) / 100 for a in runs.attacks},
                flame_plain_peak=float(table.loc[plain, "FLAME peak %"]) / 100,
                flame_plain_tpr=table.loc[plain, "TPR %"], flame_lp_tpr=table.loc["LP", "TPR %"],
                flame_main_change=float(100 * table["main"].mean()),
                hiding_cost=(f"no hiding attacker peaks more than {100 * loss:.0f} points below the plain one"
                             if loss > 0 else "no hiding attacker peaks below the plain one"),
                flame_clean_main_cost=float(cost),
                flame_clean_main_text=f"{abs(cost):.1f} points {'below' if cost > 0 else 'above'} FedAvg's")
