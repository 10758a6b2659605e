"""The figures of chapters 1-3: data, accuracy, where the anomaly sits in one run."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .style import ROLE_COLORS, WIDTH, role_names

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

    Each panel has its own colour scale (its colour bar, in the statistic's
    units), so the question it answers is "which client stands out in this
    layer", not "which layer is largest". A panel whose values are far from 1
    shows them in units of a power of ten that its title names ("x 10^-3"), so
    its colour bar carries short tick labels and no offset text to collide with
    the titles. Malicious clients' rows are labelled with a star.
    """
    layers = layers or list(dict.fromkeys(updates.layer))
    ncols = min(4, len(layers))
    nrows = int(np.ceil(len(layers) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(WIDTH, 2.9 * nrows), squeeze=False)
    for ax in axes.flat[len(layers):]:
        ax.axis("off")
    names = updates.groupby("client").malicious.any()  # starred if it attacks in any round
    for ax, layer in zip(axes.flat, layers):
        grid = updates[updates.layer == layer].pivot(index="client", columns="round", values=statistic)
        largest = np.nanmax(np.abs(grid.to_numpy()))
        exponent = int(np.floor(np.log10(largest))) if largest > 0 else 0
        exponent = exponent if not -2 <= exponent <= 2 else 0  # plain numbers from 0.01 to 999
        sns.heatmap(grid / 10.0**exponent, ax=ax, cmap="viridis", cbar_kws={"pad": 0.03},
                    yticklabels=[f"{c}*" if names[c] else str(c) for c in grid.index])
        colorbar = ax.collections[0].colorbar
        colorbar.locator = matplotlib.ticker.MaxNLocator(4)
        colorbar.formatter = matplotlib.ticker.FormatStrFormatter("%g")
        colorbar.update_ticks()
        colorbar.ax.tick_params(labelsize=8)
        ax.set_title(layer + (rf" ($\times 10^{{{exponent}}}$)" if exponent else ""), fontsize=9)
        ax.set(xlabel="round", ylabel="client (* malicious)" if ax in axes[:, 0] else "")
        ax.tick_params(labelsize=7)
        ax.tick_params(axis="y", rotation=0)
    fig.tight_layout(h_pad=1.2, w_pad=0.8)
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
    frame = output_bias.assign(role=role_names(output_bias), label=output_bias["class"].map(lambda c: class_names[c]))
    fig, ax = plt.subplots(figsize=(WIDTH, 3.6))
    sns.stripplot(data=frame, x="label", y="deviation", hue="role", palette=ROLE_COLORS, dodge=True,
                  size=3, alpha=0.6, ax=ax, order=list(class_names))
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set(xlabel="class", ylabel="output-bias deviation\nb_k - mean b (logit units)")
    ax.tick_params(axis="x", rotation=30)
    ax.legend(title=None)
    fig.tight_layout()
    return fig


def output_layer_zscores(frame: pd.DataFrame) -> plt.Figure:
    """|z| of a malicious client's output-layer gradient entries by group, from
    :func:`flsim.analysis.output_layer_zscores` (chapter 1). Log scale: one point per entry."""
    frame = frame.assign(abs_z=frame.z.abs().clip(lower=1e-3))
    fig, ax = plt.subplots(figsize=(WIDTH, 3.4))
    sns.stripplot(data=frame, x="group", y="abs_z", color=ROLE_COLORS["malicious"], size=4, alpha=0.5,
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
    ax.tick_params(axis="x", rotation=20)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
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


def bias_shift_ratio(settings: pd.DataFrame, runs: pd.DataFrame | None = None, hue: str = "varied") -> plt.Figure:
    """Measured / predicted bias shift against the predicted shift (chapter 1): per setting, the mean
    over the seeds with its interval as error bar, labelled by the setting; and one small point per run,
    drawn just left of its setting's bar so that the bar does not hide it.

    ``settings`` is :func:`flsim.analysis.bias_shift_settings` (index: setting; columns ``hue``,
    predicted, ratio, lo, hi); ``runs``, its runs (columns ``hue``, predicted, ratio).
    """
    fig, ax = plt.subplots(figsize=(WIDTH, 3.6))
    names = list(dict.fromkeys(settings[hue]))
    for name, color, offset in zip(names, sns.color_palette(), [(6, 4), (6, -11)] * len(names)):
        group = settings[settings[hue] == name]
        if runs is not None:
            seeds = runs[runs[hue] == name]
            ax.scatter(seeds.predicted * 0.9, seeds.ratio, s=16, color=color, alpha=0.6, lw=0)
        errors = np.nan_to_num([group.ratio - group.lo, group.hi - group.ratio])  # one seed: no interval
        ax.errorbar(group.predicted, group.ratio, yerr=errors, fmt="o", color=color, capsize=3, label=name)
        for setting, row in group.iterrows():  # a second group's labels go below: shared points stay legible
            ax.annotate(str(setting), (row.predicted, row.ratio), textcoords="offset points", xytext=offset,
                        fontsize=8, color=color)
    ax.axhline(1.0, color="black", lw=1, ls="--", label="first-order prediction")
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set(xlabel="predicted shift (logit units, log scale)", ylabel="measured / predicted shift")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def layer_auc(summaries: dict[str, pd.DataFrame]) -> plt.Figure:
    """ROC-AUC per layer for several runs, from :func:`flsim.analysis.layer_summary` tables (chapter 3).

    One bar per run and layer; the dashed line is chance (0.5); the legend sits outside the axes,
    so that it covers no bar.
    """
    frame = pd.concat([s.assign(run=label) for label, s in summaries.items()], ignore_index=True)
    fig, ax = plt.subplots(figsize=(WIDTH, 3.4))
    sns.barplot(data=frame, x="layer", y="auc", hue="run", ax=ax)
    ax.axhline(0.5, color="black", lw=1, ls="--")
    ax.set(xlabel="parameter tensor", ylabel="ROC-AUC, malicious vs\nbenign (1 = perfect)", ylim=(0, 1.05))
    ax.tick_params(axis="x", rotation=30)
    ax.legend(title=None, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)  # beside the bars, not on them
    fig.tight_layout()
    return fig


def tensor_panels(summary: pd.DataFrame, panels: dict[str, str], highlight: str | None = None,
                  references: dict[str, float] | None = None) -> plt.Figure:
    """Columns of :func:`flsim.analysis.layer_summary` for a model with many tensors (chapter 3's deeper
    model): one panel per ``column -> axis label``, one horizontal bar per tensor in the model's order,
    the tensor named ``highlight`` (e.g. ``Results.output_bias_tensor``) in black; ``references`` draws
    a dashed line per column, e.g. {"auc": 0.5}."""
    layers = list(summary.layer)
    colors = ["black" if layer == highlight else ROLE_COLORS["malicious"] for layer in layers]
    fig, axes = plt.subplots(1, len(panels), figsize=(WIDTH, 0.16 * len(layers) + 1.2), sharey=True,
                             squeeze=False)
    for ax, (column, label) in zip(axes.flat, panels.items()):
        ax.barh(range(len(layers)), summary[column], color=colors)
        if column in (references or {}):
            ax.axvline(references[column], color="black", lw=1, ls="--")
        ax.set(xlabel=label, yticks=range(len(layers)), yticklabels=layers, ylim=(len(layers) - 0.5, -0.5))
        ax.tick_params(axis="y", labelsize=7)
    axes.flat[0].set_ylabel("tensor (model order)")
    fig.tight_layout()
    return fig


def label_counts(splits: dict[str, pd.DataFrame], class_names) -> plt.Figure:
    """Each client's label counts as stacked bars, one panel per split (chapter 2).

    ``splits`` maps a panel title to a clients x classes table of counts.
    """
    fig, axes = plt.subplots(1, len(splits), figsize=(WIDTH, 3.6), sharey=True, squeeze=False)
    colors = sns.color_palette("tab10", len(class_names))
    for ax, (title, counts) in zip(axes.flat, splits.items()):
        bottom = np.zeros(len(counts))
        for k, name in enumerate(class_names):
            ax.bar(counts.index.astype(str), counts.iloc[:, k], bottom=bottom, color=colors[k], label=name, width=0.8)
            bottom += counts.iloc[:, k].to_numpy()
        ax.set(title=title, xlabel="client", ylabel="samples (count)")
    axes.flat[-1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, title="label")
    fig.tight_layout()
    return fig
