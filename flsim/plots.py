"""Every figure of the book: one seaborn style, fixed sizes, labelled axes with units.

Each function takes Results tables (or plain tensors) and returns a matplotlib
Figure; captions live in the notebook cell's metadata.
"""

from __future__ import annotations

import matplotlib

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

WIDTH = 9.0  # inches: the book's text width
ROLE_COLORS = {"benign": "#4C72B0", "malicious": "#C44E52"}


def use_style() -> None:
    """The book's one style (seaborn's own theme names, stable across matplotlib releases)."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    matplotlib.rcParams.update({"figure.dpi": 110, "savefig.bbox": "tight", "axes.titleweight": "bold"})


def _role(frame: pd.DataFrame) -> pd.Series:
    return frame.malicious.map({True: "malicious", False: "benign"})


def image_grid(images, labels, class_names, title_prefix: str = "", ncols: int = 8) -> plt.Figure:
    """Images (N x C x H x W in [0, 1]) with their labels as titles (chapter 2)."""
    n = len(images)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(WIDTH, 1.25 * nrows + 0.3), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, label in zip(axes.flat, images, labels):
        image = np.asarray(image).transpose(1, 2, 0)
        ax.imshow(image.squeeze(-1) if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"{title_prefix}{class_names[int(label)]}", fontsize=8)
    fig.tight_layout()
    return fig


def accuracy_curves(runs: dict[str, pd.DataFrame]) -> plt.Figure:
    """Main and backdoor accuracy per round for several runs' ``rounds`` tables (chapter 2)."""
    frame = pd.concat([r.assign(run=label) for label, r in runs.items()], ignore_index=True)
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH, 3.4), sharex=True)
    for ax, column, title in zip(axes, ("main_accuracy", "backdoor_accuracy"), ("Main task", "Backdoor")):
        sns.lineplot(data=frame, x="round", y=frame[column] * 100, hue="run", marker="o", ax=ax)
        ax.set(title=title, xlabel="round", ylabel="accuracy (%)", ylim=(-2, 102))
    axes[1].get_legend().remove()
    fig.tight_layout()
    return fig


def deviation_heatmap(updates: pd.DataFrame, statistic: str = "max_abs_deviation", layers=None) -> plt.Figure:
    """Client x round heatmaps of a statistic, one panel per layer (chapter 3).

    Each panel has its own colour scale, so the question it answers is "which
    client stands out in this layer", not "which layer is largest".
    Malicious clients' rows are labelled with a star.
    """
    layers = layers or list(dict.fromkeys(updates.layer))
    ncols = min(4, len(layers))
    nrows = int(np.ceil(len(layers) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(WIDTH, 2.6 * nrows), squeeze=False)
    for ax in axes.flat[len(layers):]:
        ax.axis("off")
    names = updates.drop_duplicates("client").set_index("client").malicious.sort_index()
    for ax, layer in zip(axes.flat, layers):
        grid = updates[updates.layer == layer].pivot(index="client", columns="round", values=statistic)
        sns.heatmap(grid, ax=ax, cmap="viridis", cbar=False,
                    yticklabels=[f"{c}*" if names[c] else str(c) for c in grid.index])
        ax.set(title=layer, xlabel="round", ylabel="client (* malicious)")
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def layer_ratio(summary: pd.DataFrame, statistic: str = "max_abs_deviation") -> plt.Figure:
    """Bar chart of the malicious/benign ratio per layer, from :func:`flsim.analysis.layer_summary`."""
    fig, ax = plt.subplots(figsize=(WIDTH, 3.2))
    sns.barplot(data=summary, x="layer", y="ratio", color=ROLE_COLORS["malicious"], ax=ax)
    ax.axhline(1.0, color="black", lw=1, ls="--")
    ax.set(xlabel="parameter tensor", ylabel=f"malicious / benign\nmean {statistic} (ratio)")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    return fig


def output_bias_by_class(output_bias: pd.DataFrame, class_names) -> plt.Figure:
    """Per-class output-bias deviation b_k - mean b, malicious vs benign clients (chapter 3)."""
    frame = output_bias.assign(role=_role(output_bias), label=output_bias["class"].map(lambda c: class_names[c]))
    fig, ax = plt.subplots(figsize=(WIDTH, 3.6))
    sns.stripplot(data=frame, x="label", y="deviation", hue="role", palette=ROLE_COLORS, dodge=True,
                  size=3, alpha=0.6, ax=ax, order=list(class_names))
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set(xlabel="class", ylabel="output-bias deviation\nb_k - mean b (logit units)")
    ax.tick_params(axis="x", rotation=30)
    ax.legend(title=None)
    fig.tight_layout()
    return fig


def sweep_lines(frame: pd.DataFrame, x: str, panels: dict[str, str], hue: str | None = None,
                xlabel: str | None = None) -> plt.Figure:
    """One panel per ``column -> y-axis label`` in ``panels`` against the swept ``x`` (chapters 4-6).

    Rows with the same x (e.g. several seeds) are averaged, with a 95% band.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(WIDTH, 3.3), squeeze=False)
    for ax, (column, ylabel) in zip(axes.flat, panels.items()):
        sns.lineplot(data=frame, x=x, y=column, hue=hue, marker="o", ax=ax,
                     palette=ROLE_COLORS if hue == "role" else None)
        ax.set(xlabel=xlabel or x, ylabel=ylabel)
        if ax.get_legend() is not None and ax is not axes.flat[0]:
            ax.get_legend().remove()
    fig.tight_layout()
    return fig


def output_layer_zscores(frame: pd.DataFrame) -> plt.Figure:
    """|z| of a malicious client's output-layer gradient entries by group, from
    :func:`flsim.analysis.output_layer_zscores` (chapter 1). Log scale: one point per entry."""
    frame = frame.assign(abs_z=frame.z.abs().clip(lower=1e-3))
    fig, ax = plt.subplots(figsize=(WIDTH, 3.4))
    sns.stripplot(data=frame, x="group", y="abs_z", color=ROLE_COLORS["malicious"], size=3, alpha=0.5,
                  jitter=0.3, ax=ax)
    ax.set_yscale("log")
    ax.set(xlabel="output-layer entries", ylabel="|z| of the malicious gradient\n(benign standard deviations)")
    fig.tight_layout()
    return fig


def waterfall(steps: dict[str, float], total: str, ylabel: str, lines: dict[str, float] | None = None) -> plt.Figure:
    """Signed contributions stacked one after the other, then their sum as the bar ``total`` (chapter 1).

    ``lines``: labelled horizontal reference lines (e.g. a prediction).
    """
    names, values = list(steps) + [total], list(steps.values())
    ends = np.cumsum(values)
    starts = np.concatenate([[0.0], ends[:-1]])
    bottoms, heights = list(np.minimum(starts, ends)) + [min(0.0, ends[-1])], list(np.abs(values)) + [abs(ends[-1])]
    colors = [ROLE_COLORS["malicious"] if v >= 0 else ROLE_COLORS["benign"] for v in values] + ["0.35"]
    fig, ax = plt.subplots(figsize=(WIDTH, 3.4))
    ax.bar(names, heights, bottom=bottoms, color=colors, width=0.6)
    for style, (label, y) in zip(("--", ":", "-."), (lines or {}).items()):
        ax.axhline(y, color="black", lw=1, ls=style, label=label)
    ax.axhline(0.0, color="black", lw=0.6)
    if lines:
        ax.legend(loc="upper right")
    ax.set(ylabel=ylabel)
    fig.tight_layout()
    return fig


def bias_shift_rounds(table: pd.DataFrame) -> plt.Figure:
    """The attackers' target-class output-bias deviation per round, the benign clients' mean +- sd,
    and the first-order prediction, from :func:`flsim.analysis.bias_shift` (chapter 1)."""
    fig, ax = plt.subplots(figsize=(WIDTH, 3.4))
    ax.fill_between(table["round"], table.benign_mean - table.benign_sd, table.benign_mean + table.benign_sd,
                    color=ROLE_COLORS["benign"], alpha=0.25, lw=0, label="benign clients, mean ± sd")
    ax.plot(table["round"], table.benign_mean, color=ROLE_COLORS["benign"], lw=1)
    ax.plot(table["round"], table.malicious, color=ROLE_COLORS["malicious"], marker="o", label="malicious client")
    ax.plot(table["round"], table.predicted, color="black", ls="--", lw=1, label="first-order prediction")
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set(xlabel="round", ylabel="target-class output-bias\ndeviation b_t - mean b (logit units)")
    ax.legend(loc="center right")
    fig.tight_layout()
    return fig


def bias_shift_ratio(frame: pd.DataFrame, label: str = "setting", hue: str = "varied") -> plt.Figure:
    """Measured / predicted bias shift against the predicted shift, one point per run, with the
    benign sd / predicted as error bar and each point labelled by ``frame[label]`` (chapter 1).

    ``frame`` has the columns of :func:`flsim.analysis.bias_shift` plus ``label`` and ``hue``.
    """
    fig, ax = plt.subplots(figsize=(WIDTH, 3.6))
    for (name, group), color in zip(frame.groupby(hue, sort=False), sns.color_palette()):
        ax.errorbar(group.predicted, group.ratio, yerr=group.benign_sd / group.predicted, fmt="o", color=color,
                    capsize=3, label=name)
        for _, row in group.iterrows():
            ax.annotate(str(row[label]), (row.predicted, row.ratio), textcoords="offset points", xytext=(6, 4),
                        fontsize=8, color=color)
    ax.axhline(1.0, color="black", lw=1, ls="--", label="first-order prediction")
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_xscale("log")
    ax.set(xlabel="predicted shift (logit units, log scale)", ylabel="measured / predicted shift")
    ax.legend(loc="best")
    fig.tight_layout()
    return fig
