"""Chapter 4's law, the book's answer in one figure (the intro shows it)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .style import ROLE_COLORS, WIDTH

LAW_LABELS = {"activation_scale": "activation scale of the poisoned images\n(their norm at the output layer's "
                                  "input / clean images', pre-trained model)",
              "poisoned_error": "poisoned error 1 - p_t (pre-trained model)",
              "similarity": "mean cosine of the poisoned images' activations (pre-trained model)"}


def anomaly_law(law: pd.DataFrame, predictor: str = "activation_scale", lead: str = "z lead",
                largest: str = "ratio first", group: str = "rule") -> plt.Figure:
    """Where the anomaly sits against what decides it (chapter 4's law; the intro's figure): per backdoor
    (a row of ``law``), the pre-trained model's ``predictor`` (x) against fc2.bias's lead in robust z-score
    over the strongest other tensor (``lead``, y; above 0: fc2.bias sets the attacker apart most), red where
    fc2.bias also carries the largest malicious/benign ratio (boolean column ``largest``), blue where
    another tensor does. Rows with a ``group`` (the rule that built them) are dots; rows without one are
    the map's named backdoors, drawn as labelled stars. A named backdoor without a ``predictor`` value
    (the trigger: its images are the attacker's own, stamped) is a dashed line at its lead."""
    from ..semantic import set_words  # the backdoors' names in words; semantic loads torch, plots need not

    missing = [c for c in (predictor, lead, largest, group) if c not in law.columns]
    if missing:
        raise ValueError(f"law: no column {', '.join(map(repr, missing))}; columns: {', '.join(law.columns)}")
    colour = {True: ROLE_COLORS["malicious"], False: ROLE_COLORS["benign"]}
    fig, ax = plt.subplots(figsize=(WIDTH, 4.8))
    built, named = law[law[group].notna()], law[law[group].isna()]
    for first, rows in built.groupby(built[largest].astype(bool)):
        ax.scatter(rows[predictor], rows[lead], s=36, color=colour[first], alpha=0.8, zorder=2,
                   label="built by a rule; largest ratio: " + ("fc2.bias" if first else "another tensor"))
    ax.axhline(0, color="0.3", linewidth=1, zorder=1)
    for name, row in named.iterrows():
        words, tint = set_words(str(name)), colour[bool(row[largest])]
        if np.isfinite(row[predictor]):
            ax.scatter(row[predictor], row[lead], marker="*", s=260, color=tint, edgecolor="black",
                       linewidth=0.8, zorder=3)
            ax.annotate(words, (row[predictor], row[lead]), textcoords="offset points", xytext=(9, 5),
                        fontsize=10, fontweight="bold", zorder=4,
                        bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none", alpha=0.8))
        else:
            ax.axhline(row[lead], color=tint, linestyle="--", linewidth=1.2, zorder=1)
            ax.annotate(f"{words} (no {predictor.replace('_', ' ')})", (1.0, row[lead]), ha="right",
                        xycoords=("axes fraction", "data"), textcoords="offset points", xytext=(-4, 4),
                        fontsize=9, color=tint)
    low, high = ax.get_ylim()  # room on both sides of 0 for the two labels
    room = 0.12 * (high - low)
    ax.set_ylim(min(low, -room), max(high, room))
    # the law leaves these corners empty: fc2.bias leads at small scales, another tensor at large ones
    ax.annotate("fc2.bias leads", (0.99, 0), xycoords=("axes fraction", "data"), textcoords="offset points",
                xytext=(0, 4), ha="right", fontsize=9, color="0.3")
    ax.annotate("another tensor leads", (0.01, 0), xycoords=("axes fraction", "data"), textcoords="offset points",
                xytext=(0, -12), fontsize=9, color="0.3")
    ax.set(xlabel=LAW_LABELS.get(predictor, predictor),
           ylabel="fc2.bias's lead in robust z-score\n(median absolute deviations, round 1)")
    if len(named[named[predictor].notna()]):
        ax.scatter([], [], marker="*", s=160, color="0.85", edgecolor="black",
                   label="the map's backdoors (same colours)")
    ax.legend(loc="best", fontsize=8, frameon=True)
    fig.tight_layout()
    return fig


PREDICTOR_NAMES = {"poisoned_error": "poisoned error 1 - p_t",
                   "activation_scale": "activation scale (backdoor / clean norm of the output layer's input)",
                   "similarity": "mean cosine of the backdoor's activations"}
LAW_CAPTION = ("Where the anomaly sits against what decides it. Dots: the rule-built backdoors; stars: the map's "
               "semantic backdoors; dashed: the trigger (stamped on the attacker's own images, so no activation "
               "scale). x: the activation scale of the poisoned images in the pre-trained model; y: fc2.bias's "
               "robust z-score minus the strongest other tensor's, round 1, mean over the seeds (above 0: fc2.bias "
               "sets the attacker apart most). Red: fc2.bias also has the largest malicious/benign ratio; blue: "
               "another tensor has.")


def law_by_rule(law: pd.DataFrame, predictor: str, lead: str = "z lead",
                group: str = "rule") -> tuple[plt.Figure, str]:
    """Chapter 4's best predictor against where the anomaly sits, coloured by the rule that built each
    backdoor (a row of ``law`` with a ``group``), the map's named backdoors (no ``group``) as black stars;
    with its caption."""
    fig, ax = plt.subplots(figsize=(WIDTH, 4.5))
    built = law[law[group].notna()]
    for rule, rows in built.groupby(group, sort=False):
        ax.scatter(rows[predictor], rows[lead], label=rule, s=30)
    for name in law.index[law[group].isna() & law[predictor].notna()]:  # the map's two sets
        ax.scatter(law.loc[name, predictor], law.loc[name, lead], marker="*", s=160, color="black")
        ax.annotate(name, (law.loc[name, predictor], law.loc[name, lead]), textcoords="offset points",
                    xytext=(6, 4))
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set(xlabel=PREDICTOR_NAMES.get(predictor, predictor), ylabel="fc2.bias's z lead (round 1, mean over seeds)")
    ax.legend(title="rule")
    return fig, ("The law's best predictor (the largest |Spearman| with the outcome) against where the anomaly "
                 "sits: per rule-built backdoor (colour: its rule), fc2.bias's robust z-score minus the strongest "
                 "other tensor's, round 1, mean over the seeds (above 0: fc2.bias sets the attacker apart most); "
                 "black stars: the map's striped T-shirts and flat sandals, in the same panels.")
