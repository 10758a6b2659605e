"""Chapter 9's adaptive attacker, who knows the paper's detector and submits a clean output bias (or output
layer): where the anomaly goes (:func:`tensor_aucs`), what each attack keeps of its backdoor
(:func:`attack_table`), whether it both hides and plants its backdoor against its plain twin
(:func:`evasion`), on both sides of chapter 4's law, and chapter 9's verdict on it (:func:`verdict`).
Sentences are built here from :mod:`flsim.analysis.words`' primitives; a chapter builds none.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..semantic import set_words
from .detection import defence_summary, detection_report, detection_summary, layer_aucs
from .statistics import mean_interval
from .stress import PAPER
from .words import interval_columns, interval_text, plural, row_interval_text

# The adaptive attacker hides when the paper's statistic's AUC is at most this (about chance), and keeps its
# backdoor when it gives up less than this share of peak backdoor accuracy; each where its interval says so.
HIDDEN_AUC, KEPT_LOSS = 0.6, 0.25


def tensor_aucs(plains, adaptive: dict) -> dict:
    """:func:`~flsim.analysis.layer_aucs` of the plain semantic attacker's runs and of the adaptive attackers' that submit a
    clean output bias or output layer (label -> table), as :func:`flsim.plots.layer_auc` reads them."""
    runs = {"plain": plains, **{f"adaptive {a}": adaptive["semantic", a] for a in ("output_bias", "output_layer")}}
    return {label: layer_aucs(group) for label, group in runs.items()}


def tensor_table(aucs: dict) -> pd.DataFrame:
    """:func:`tensor_aucs` as one table of "auc [lo, hi]" text, a row per tensor and a column per attacker."""
    return pd.concat([interval_columns(table.set_index("layer"), {label: ("auc", ".2f")})
                      for label, table in aucs.items()], axis=1).rename_axis("ROC-AUC by tensor")


def separates(table: pd.DataFrame) -> pd.Series:
    """Per tensor: whether it separates the attacker, an AUC of 0.9 or more with its interval clear of chance."""
    return (table.auc >= 0.9) & (table.auc_lo > 0.5)


def tensor_findings(aucs: dict) -> dict:
    """Where the anomaly goes when the output bias is clean: fc2.bias's AUC plain and adaptive, the tensors
    that separate each attacker, the adaptive one's best other tensor, and the clean output layer's."""
    plain, moved_all, layer = (aucs[label].set_index("layer")
                               for label in ("plain", "adaptive output_bias", "adaptive output_layer"))
    moved = moved_all.drop(index="fc2.bias")
    separating = separates(moved)
    new, best = moved.auc.idxmax(), layer.auc.idxmax()
    return dict(adaptive_bias_auc=float(moved_all.auc["fc2.bias"]),
                adaptive_bias_auc_ci=row_interval_text(moved_all.loc["fc2.bias"], "auc"),
                plain_bias_auc=float(plain.auc["fc2.bias"]),
                plain_bias_auc_ci=row_interval_text(plain.loc["fc2.bias"], "auc"),
                num_tensors=len(plain), other_tensors=len(moved),
                plain_separating=int(separates(plain).sum()), adaptive_separating=int(separating.sum()),
                adaptive_new_layer=str(new), adaptive_new_auc=float(moved.auc.max()),
                adaptive_new_auc_ci=row_interval_text(moved.loc[new], "auc"),
                adaptive_layer_best=str(best), adaptive_layer_best_auc=float(layer.auc[best]),
                adaptive_layer_best_auc_ci=row_interval_text(layer.loc[best], "auc"),
                anomaly_note="The anomaly does not need to go anywhere" if separating.any()
                else "With a clean output bias, no other tensor separates the attacker as clearly")


def attack_table(plain, unconstrained, adaptive: dict) -> pd.DataFrame:
    """Each attack on the first seed (rows): :func:`~flsim.analysis.defence_summary` and the paper's statistic's AUC."""
    rows = {"semantic, plain": plain, "replacement, plain": unconstrained,
            **{", ".join(key): runs[0] for key, runs in adaptive.items()}}
    return pd.DataFrame([dict(run=label, **defence_summary(r),
                              AUC=detection_summary(r.detection).set_index("detector").auc[PAPER])
                         for label, r in rows.items()]).set_index("run")


def shown_attacks(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`attack_table` as the chapter shows it: accuracies and the AUC, short headers."""
    return table.drop(columns=["tpr", "fpr"]).rename(columns={
        "main_accuracy": "main", "backdoor_accuracy": "backdoor, final", "backdoor_peak": "backdoor, peak"})


def peak_findings(table: pd.DataFrame) -> dict:
    """The replacement attacks' peak backdoor accuracy from :func:`attack_table`, and the bias filter's TPR."""
    peaks = {"repl_plain": "replacement, plain", "repl_bias": "replacement, output_bias",
             "repl_layer": "replacement, output_layer", "repl_bias_filter": "replacement, output_bias, bias_filter"}
    return {**{f"{key}_peak": float(table.backdoor_peak[label]) for key, label in peaks.items()},
            "repl_bias_filter_tpr": float(table.tpr["replacement, output_bias, bias_filter"])}


@dataclass
class Evasion:
    """How an evading attacker fares against its plain twin on the same seeds (:func:`evasion`): the paper's
    statistic's report row on it, the peak backdoor accuracy it gives up (mean, lo, hi over the seeds) and
    that in points as text; and the judgement: hidden (the AUC's interval below ``HIDDEN_AUC``), seen
    (above it), kept (the loss's interval below ``KEPT_LOSS``, which needs two seeds) or lost."""

    row: pd.Series
    loss: float
    loss_lo: float
    loss_hi: float
    loss_text: str
    seeds: int

    @property
    def auc_text(self) -> str:
        return row_interval_text(self.row, "auc")

    @property
    def works(self) -> bool:
        """It hides and keeps its backdoor."""
        return self.row.auc_hi < HIDDEN_AUC and self.seeds > 1 and self.loss_hi < KEPT_LOSS

    @property
    def fails(self) -> bool:
        """It is seen, or it loses its backdoor."""
        lost = self.loss_lo >= KEPT_LOSS if self.seeds > 1 else self.loss >= KEPT_LOSS
        return bool(self.row.auc_lo >= HIDDEN_AUC or lost)


def evasion(plain_runs, evading_runs) -> Evasion:
    """The paper's statistic on ``evading_runs`` (pooled) and the peak backdoor accuracy they give up
    against ``plain_runs`` of the same seeds, in the same order (:class:`Evasion`)."""
    row = detection_report(evading_runs).set_index("detector").loc[PAPER]
    peaks = [[defence_summary(r)["backdoor_peak"] for r in runs] for runs in (plain_runs, evading_runs)]
    loss, lo, hi = mean_interval([p - a for p, a in zip(*peaks)])
    seeds = len(evading_runs)
    text = interval_text(100 * loss, 100 * lo, 100 * hi, ".0f") if seeds > 1 else f"{100 * loss:.0f}"
    return Evasion(row, loss, lo, hi, text, seeds)


def adaptive_verdict(attack: Evasion) -> str:
    """Whether the attacker who keeps its output bias honest both hides and plants its backdoor."""
    if attack.works:
        return "an attacker who knows it can keep its output bias honest and still plant the backdoor"
    if attack.fails:
        return "keeping the output bias honest did not let the attacker both hide and succeed"
    return "these runs cannot tell whether keeping the output bias honest lets the attacker both hide and succeed"


def other_state(attack: Evasion, other: Evasion) -> tuple[str, bool]:
    """What the same attacker does on the other side of chapter 4's law, and whether the verdict flips there."""
    flips = (other.works and attack.fails) or (other.fails and attack.works)
    state = ("it hides and keeps its backdoor there too" if other.works and attack.works else
             "there it hides and keeps its backdoor" if other.works else
             "there too it does not both hide and succeed" if other.fails and attack.fails else
             "there it does not both hide and succeed" if other.fails else
             "these runs cannot tell whether it both hides and succeeds there")
    return state + (": the verdict flips on that side" if flips else ""), bool(flips)


def evidence(attack: Evasion) -> str:
    """The paper's statistic's AUC on the attacker and the backdoor it gives up, as a clause."""
    return (f"the paper's statistic's ROC-AUC on it is {attack.auc_text}, and it gives up {attack.loss_text} "
            "points of peak backdoor accuracy")


def verdict(attack: Evasion, other: Evasion | None, replacement, other_set: str) -> str:
    """Chapter 9's verdict, in sentences of at most 40 words: the conditions of the verdict's attacker
    (``replacement``, its config less the clean output bias), what it did with a clean output bias, what
    that says of the paper's finding as a defence, and the same attacker on the other side of chapter 4's
    law, ``other_set`` (``other``, None where it did not run). Every measured decimal comes with its interval
    (:func:`flsim.notebook.summary` refuses one without): the sets' activation scales, which have none, are
    in the findings table, not here."""
    c = replacement
    text = ("The verdict's attacker knows the paper's detector: it submits a clean output bias under model "
            f"replacement (attack scale = {c.attack_scale:g}), with one poisoned sample in "
            f"{c.num_malicious * c.malicious_data_rate}, "
            f"{c.num_clients} clients, {plural(c.num_rounds, 'round')} and {plural(attack.seeds, 'seed')} "
            f"({int(attack.row.attacker_rounds)} attacking client-rounds). ")
    said = adaptive_verdict(attack)
    text += f"{said[0].upper()}{said[1:]}: {evidence(attack)}."
    if attack.works:
        text += " As a defence on its own, the paper's finding is fragile."
    elif attack.fails:
        text += " So the paper's finding held up as a defence against it."
    if other is not None:
        state, _ = other_state(attack, other)
        text += f" On the other side of chapter 4's law, the {set_words(other_set)}, {state}. There {evidence(other)}."
    return text


def adaptive_findings(attack: Evasion, other: Evasion | None, replacement, other_set: str) -> dict:
    """The verdict's attacker's numbers and words for the text, the other side's ("not run" without it),
    and the :func:`verdict`."""
    found = dict(repl_bias_paper_auc=float(attack.row.auc), repl_bias_paper_auc_ci=attack.auc_text,
                 repl_bias_loss=float(100 * attack.loss), repl_bias_loss_ci=attack.loss_text,
                 adaptive_verdict=adaptive_verdict(attack))
    if other is None:
        found |= dict(other_bias_auc_ci="not run", other_bias_loss_ci="not run", other_state="not run",
                      other_flips=False)
    else:
        state, flips = other_state(attack, other)
        found |= dict(other_bias_auc=float(other.row.auc), other_bias_auc_ci=other.auc_text,
                      other_bias_loss=float(100 * other.loss), other_bias_loss_ci=other.loss_text,
                      other_state=state, other_flips=flips)
    return found | dict(verdict=verdict(attack, other, replacement, other_set))
