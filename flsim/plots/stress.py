"""The figures of chapter 9's stress tests: each detector on its own panel as the label skew grows."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from .style import ROLE_COLORS, WIDTH

SKEW_PANELS = {"fpr": "honest client-rounds\nflagged (%)", "auc": "ROC-AUC,\nattacker vs honest"}


def skew_panels(frame: pd.DataFrame, iid: pd.DataFrame | None = None, x: str = "dirichlet_alpha",
                panels: dict[str, str] | None = None) -> plt.Figure:
    """Small multiples (chapter 9): a column per detector, a row per measure of ``panels`` (column ->
    y-axis label; by default the false-positive rate in percent and the ROC-AUC), each against the swept
    ``x`` on a log axis. ``frame`` holds one row per run and detector (columns detector, ``x`` and the
    measures, e.g. :func:`flsim.analysis.detection_summary` rows of several seeds): the line is their mean
    over the runs at each x, the band its 95% interval. ``iid`` (indexed by detector, the same measures),
    the runs without skew, is drawn as a dashed line in each panel, and chance (0.5) as a dotted one on the
    AUC's. One detector per panel, so that no band hides another."""
    panels = panels or SKEW_PANELS
    detectors = list(dict.fromkeys(frame.detector))
    values = sorted(frame[x].unique())
    fig, axes = plt.subplots(len(panels), len(detectors), figsize=(WIDTH, 1.7 * len(panels) + 1.0), sharex=True,
                             sharey="row", squeeze=False)
    color = ROLE_COLORS["benign"]
    for row, (column, label) in enumerate(panels.items()):
        scale = 100 if column == "fpr" else 1
        for ax, name in zip(axes[row], detectors):
            part = frame[frame.detector == name]
            sns.lineplot(x=part[x], y=scale * part[column], marker="o", markersize=4, color=color, ax=ax,
                         errorbar=("ci", 95))
            if iid is not None and name in iid.index:
                ax.axhline(scale * iid.loc[name, column], color="0.35", ls="--", lw=1)
            if column == "auc":
                ax.axhline(0.5, color="black", ls=":", lw=1)
                ax.set_ylim(-0.02, 1.02)
            ax.set_xscale("log")
            ax.set_xlim(values[0] / 1.6, values[-1] * 1.6)  # room around the ends, one value or several
            ax.set_xticks(values, labels=[f"{v:g}" for v in values], fontsize=7)
            ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            ax.tick_params(axis="y", labelsize=7)
            ax.set(xlabel="", ylabel=label if ax is axes[row][0] else "")
            if row == 0:
                ax.set_title(name.replace("_", "\n", 1), fontsize=8)
    for ax in axes[:, 0]:
        ax.yaxis.label.set_size(8)
    handles = [Line2D([], [], color=color, marker="o", markersize=4, label="skewed runs: mean over seeds, 95% band"),
               Line2D([], [], color="0.35", ls="--", label="IID runs"),
               Line2D([], [], color="black", ls=":", label="chance (AUC 0.5)")]
    fig.legend(handles=handles if iid is not None else [handles[0], handles[2]], loc="lower center", ncol=3,
               fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.12, 1, 1), w_pad=0.3)  # room below for the axis label, then the legend
    fig.text(0.5, 0.075, "Dirichlet alpha (log scale; smaller: stronger label skew)" if x == "dirichlet_alpha"
             else x, ha="center", va="center", fontsize=9)
    return fig
