"""The figure of chapter 8's defences: what each costs the main task against what it leaves of the backdoor."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .style import ROLE_COLORS, WIDTH


def defence_tradeoff(table: pd.DataFrame, backdoor: str = "backdoor_peak") -> plt.Figure:
    """What each defence (row) keeps and what it lets through, one panel per attack (chapter 8): the final
    main-task accuracy (blue dot) and the backdoor accuracy in column ``backdoor`` (red cross, by default
    its peak over the rounds) on one 0-100% axis, joined by a line. From a table with columns attack,
    aggregator, main_accuracy and ``backdoor``. Each defence has a row of its own, so defences with the
    same numbers cannot hide behind each other; the best place is a dot far right, a cross far left."""
    attacks = list(dict.fromkeys(table.attack))
    rules = list(dict.fromkeys(table.aggregator))
    fig, axes = plt.subplots(1, len(attacks), figsize=(WIDTH, 0.8 + 0.3 * len(rules)), sharex=True, sharey=True,
                             squeeze=False)
    main_color, backdoor_color = ROLE_COLORS["benign"], ROLE_COLORS["malicious"]
    for ax, attack in zip(axes.flat, attacks):
        part = table[table.attack == attack].set_index("aggregator").reindex(rules)
        rows = np.arange(len(rules))
        main, leaked = 100 * part.main_accuracy.to_numpy(), 100 * part[backdoor].to_numpy()
        ax.hlines(rows, np.fmin(main, leaked), np.fmax(main, leaked), color="0.75", linewidth=1.5, zorder=1)
        ax.scatter(main, rows, s=45, color=main_color, zorder=3, label="main accuracy, final")
        ax.scatter(leaked, rows, s=60, marker="X", color=backdoor_color, zorder=3,
                   label="backdoor accuracy, " + ("peak" if backdoor == "backdoor_peak" else "final"))
        ax.set(title=attack, xlabel="accuracy (%)", xlim=(-5, 105), ylim=(len(rules) - 0.5, -0.5))
        ax.set_yticks(rows, rules)
        ax.grid(axis="y", visible=False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig
