"""Every figure of the book: one seaborn style, fixed sizes, labelled axes with units.

Each function takes Results tables (or plain tensors) and returns a matplotlib
Figure; the chapters show it with its caption under it (:func:`flsim.notebook.figure`).
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
    """One panel per ``column -> y-axis label`` in ``panels`` against the swept ``x`` (chapters 5-7).

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


def _swept_x(ax, values, log: bool) -> None:
    """x ticks at the swept values themselves, labelled plainly; a log scale if ``log``."""
    values = sorted(set(values))
    ax.set_xscale("log" if log else "linear")
    ax.set_xticks(values, labels=[f"{v:g}" for v in values])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())


def _log_ticks(ax, values) -> None:
    """Ticks at 1, 2 and 5 times powers of ten, on limits wide enough (a factor 2.6) to hold one."""
    ax.set_ylim(values.min() / 1.6, values.max() * 1.6)
    ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def sweep_roles(summary: pd.DataFrame, x: str, layers=None, statistic: str = "max_abs_deviation",
                xlabel: str | None = None, logx: bool = False) -> plt.Figure:
    """Malicious and benign clients' mean ``statistic`` against the swept ``x``, one panel per tensor,
    from :func:`flsim.analysis.sweep_summary` (chapters 5-7).

    Lines are means over seeds, bands their 95% interval; each panel has its own
    log-scaled y axis, since tensors differ by orders of magnitude.
    """
    layers = layers or list(dict.fromkeys(summary.layer))
    frame = summary[summary.layer.isin(layers)].melt(
        id_vars=[x, "seed", "layer"], value_vars=["malicious_mean", "benign_mean"], var_name="role").dropna()
    frame["role"] = frame.role.str.removesuffix("_mean")
    ncols = min(4, len(layers))
    nrows = int(np.ceil(len(layers) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(WIDTH, 2.5 * nrows + 0.4), sharex=True, squeeze=False)
    for ax in axes.flat[len(layers):]:
        ax.axis("off")
    for ax, layer in zip(axes.flat, layers):
        sns.lineplot(data=frame[frame.layer == layer], x=x, y="value", hue="role", palette=ROLE_COLORS,
                     hue_order=list(ROLE_COLORS), marker="o", ax=ax, legend=ax is axes.flat[0])
        ax.set(title=layer, xlabel=xlabel or x, ylabel="", yscale="log")
        _swept_x(ax, summary[x], logx)
        _log_ticks(ax, frame[frame.layer == layer].value)
        ax.tick_params(labelsize=7)
    for ax in axes[:, 0]:
        ax.set_ylabel(f"mean {statistic}\n(parameter units)")
    axes.flat[0].legend(title=None, fontsize=7)
    fig.tight_layout()
    return fig


def sweep_layers(summary: pd.DataFrame, x: str, panels: dict[str, str], xlabel: str | None = None,
                 logx: bool = False, highlight: str | None = None, references: dict[str, float] | None = None,
                 ) -> plt.Figure:
    """Per-tensor columns of :func:`flsim.analysis.sweep_summary` (e.g. ratio, auc) against the
    swept ``x``: one panel per ``column -> y-axis label``, one line per tensor, the tensor named
    ``highlight`` in bold black (chapters 5-7 pass ``Results.output_bias_tensor``).

    Lines are means over seeds (no bands: eight of them would hide the lines);
    ``references`` draws a dashed line per column, e.g. {"ratio": 1, "auc": 0.5}.
    """
    layers = list(dict.fromkeys(summary.layer))
    palette = dict(zip(layers, sns.color_palette("colorblind", len(layers))))
    if highlight is not None:
        palette[highlight] = "black"
    fig, axes = plt.subplots(1, len(panels), figsize=(WIDTH, 3.4), squeeze=False)
    for ax, (column, ylabel) in zip(axes.flat, panels.items()):
        sns.lineplot(data=summary.dropna(subset=[column]), x=x, y=column, hue="layer", hue_order=layers,
                     palette=palette, size="layer", sizes={l: 3.0 if l == highlight else 1.2 for l in layers},
                     errorbar=None, marker="o", ax=ax, legend=ax is axes.flat[-1])
        if column in (references or {}):
            ax.axhline(references[column], color="black", lw=1, ls="--")
        ax.set(xlabel=xlabel or x, ylabel=ylabel)
        _swept_x(ax, summary[x], logx)
    axes.flat[-1].legend(title="tensor", loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.tight_layout()
    return fig


def sweep_accuracy(runs: pd.DataFrame, x: str, xlabel: str | None = None, logx: bool = False) -> plt.Figure:
    """Backdoor accuracy (mean of the last rounds) and main-task accuracy (final round) against the
    swept ``x``, from :func:`flsim.analysis.sweep_runs` (chapters 5-7). Means over seeds, 95% bands."""
    frame = runs.assign(backdoor=100 * runs.backdoor_accuracy_last, main=100 * runs.main_accuracy)
    fig = sweep_lines(frame, x, {"backdoor": "backdoor accuracy (%),\nmean of the last rounds",
                                 "main": "main-task accuracy (%),\nfinal round"}, xlabel=xlabel)
    for ax in fig.axes:
        _swept_x(ax, runs[x], logx)
    fig.axes[0].set_ylim(-2, 102)
    return fig


SHIFT_NAMES = {"target_shift": "attackers, measured", "predicted_shift": "first-order prediction",
               "benign_sd": "honest clients, sd"}


def sweep_bias_shift(runs: pd.DataFrame, x: str, xlabel: str | None = None, logx: bool = False) -> plt.Figure:
    """The attackers' target-class output-bias deviation against the swept ``x``, with the first-order
    prediction and the honest clients' spread, from :func:`flsim.analysis.sweep_runs` (chapters 5-7).

    Means over seeds, 95% bands. The y axis is logarithmic when every value is
    positive; a seed's measured shift can be negative, and then it is symmetric-logarithmic,
    linear below the decade of the smallest mean drawn (not of the smallest seed's value,
    which can sit decades below and squeeze the lines into empty decades), so the small
    measured shift and the honest spread are not flattened to zero beside a large
    prediction. The legend sits beside the axes, clear of lines and bands.
    """
    frame = runs.melt(id_vars=[x, "seed"], value_vars=list(SHIFT_NAMES), var_name="quantity").dropna()
    frame["quantity"] = frame.quantity.map(SHIFT_NAMES)
    colors = dict(zip(SHIFT_NAMES.values(), (ROLE_COLORS["malicious"], "black", ROLE_COLORS["benign"])))
    fig, ax = plt.subplots(figsize=(WIDTH, 3.4))
    sns.lineplot(data=frame, x=x, y="value", hue="quantity", style="quantity", palette=colors,
                 hue_order=list(colors), style_order=list(colors), marker="o", ax=ax)
    positive = (frame.value > 0).all()
    if not positive:
        ax.axhline(0.0, color="black", lw=0.6)
    ax.set(xlabel=xlabel or x, ylabel="target-class output-bias\ndeviation b_t - mean b (logit units)")
    if positive:
        ax.set_yscale("log")
    else:
        means = frame.groupby(["quantity", x]).value.mean().abs()
        smallest = means[means > 0].min() if (means > 0).any() else 1e-6
        linthresh = 10 ** np.floor(np.log10(smallest))
        ax.set_yscale("symlog", linthresh=linthresh)
        # no empty negative decades: down to the lowest seed's value, at least the linear part
        ax.set_ylim(bottom=min(-linthresh, 1.5 * frame.value.min()), top=2 * frame.value.max())
    _swept_x(ax, frame[x], logx)  # the values with a shift: no tick for the clean runs
    ax.legend(title=None, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


# Chapters 8-9: detection, defences and stress tests.

def plain_number(value: float, fmt: str) -> str:
    """``value`` formatted with ``fmt`` for a heatmap's cell, "" when missing; a number that rounds to
    zero loses its sign ("-0.0" would read as a negative number)."""
    if np.isnan(value):
        return ""
    text = format(value, fmt)
    return text[1:] if text.startswith("-") and not any(digit in text for digit in "123456789") else text


def threshold_norm(threshold: float, vmin: float, vmax: float, log_above: bool = False) -> matplotlib.colors.Normalize:
    """A colour norm that puts ``threshold`` (chance, an outlier cut-off) in the middle of a diverging colour
    map, so a colour says on which side of it a value lies (chapter 4's maps): linear from ``vmin`` up to
    it, and above it linear or, with ``log_above``, logarithmic up to ``vmax`` (so that z-scores of 4 and
    40 both show)."""
    if not vmin < threshold < vmax:
        raise ValueError(f"the threshold {threshold} must lie between vmin {vmin} and vmax {vmax}")
    if not log_above:
        return matplotlib.colors.TwoSlopeNorm(threshold, vmin, vmax)
    if threshold <= 0:
        raise ValueError("a logarithmic scale above the threshold needs a positive threshold")
    span = np.log(vmax / threshold)

    def forward(x):
        x = np.ma.asarray(x, dtype=float)
        above = 0.5 + 0.5 * np.ma.log(np.ma.maximum(x, threshold) / threshold) / span
        return np.ma.where(x <= threshold, 0.5 * (x - vmin) / (threshold - vmin), above)

    def inverse(y):
        y = np.ma.asarray(y, dtype=float)
        above = threshold * np.ma.exp((2 * np.ma.maximum(y, 0.5) - 1) * span)
        return np.ma.where(y <= 0.5, vmin + 2 * y * (threshold - vmin), above)

    return matplotlib.colors.FuncNorm((forward, inverse), vmin, vmax)


def _threshold_ticks(norm: matplotlib.colors.Normalize, threshold: float, log_above: bool) -> list[float]:
    """Colour-bar ticks for :func:`threshold_norm`: the threshold, round values below it and (1, 2, 5 x
    powers of ten when logarithmic) above it, none closer than 6% of the bar to the one before."""
    locator = matplotlib.ticker.MaxNLocator(2, steps=[1, 2, 2.5, 5, 10])
    below = locator.tick_values(norm.vmin, threshold)
    if log_above:
        above = [m * 10.0**k for k in range(-3, 6) for m in (1, 2, 5)]
    else:
        above = locator.tick_values(threshold, norm.vmax)
    candidates = sorted({*(t for t in below if norm.vmin <= t < threshold),
                         *(t for t in above if threshold < t <= norm.vmax)})
    ticks = [threshold]  # always shown; the others only where they leave it room
    for tick in candidates:
        if all(abs(float(norm(tick)) - float(norm(kept))) >= 0.06 for kept in ticks):
            ticks.append(tick)
    return sorted(ticks)


def metric_heatmap(table: pd.DataFrame, label: str, fmt: str = ".2f", vmin: float = 0.0, vmax: float = 1.0,
                   xlabel: str | None = None, ylabel: str | None = None, center: float | None = None,
                   log_above: bool = False) -> plt.Figure:
    """An annotated heatmap of a rows x columns table of one metric, e.g. ROC-AUC per detector
    and attack (chapters 4, 8 and 9); ``label`` names the metric and its unit on the colour bar.
    Missing values stay blank, and no cell reads "-0.0" (:func:`plain_number`).

    With ``center`` (chance for an AUC, the outlier threshold for a z-score; chapter 4) the colours
    diverge there (:func:`threshold_norm`, with ``log_above``): blue below it, white at it, red above
    it, and the colour bar marks it with a black line; a value below chance reads as below chance."""
    fig, ax = plt.subplots(figsize=(WIDTH, 0.42 * len(table) + 1.4))
    values = table.astype(float)
    colours = dict(cmap="viridis", vmin=vmin, vmax=vmax)
    if center is not None:
        colours = dict(cmap="RdBu_r", norm=threshold_norm(center, vmin, vmax, log_above))
    cells = np.array([[plain_number(v, fmt) for v in row] for row in values.to_numpy()], dtype=object)
    sns.heatmap(values, annot=cells, fmt="", ax=ax, cbar_kws={"label": label}, annot_kws={"fontsize": 8},
                **colours)
    if center is not None:
        colour_bar = ax.collections[0].colorbar
        colour_bar.set_ticks(_threshold_ticks(colours["norm"], center, log_above))
        colour_bar.ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        colour_bar.ax.axhline(center, color="black", lw=1.5)
    ax.set(xlabel=xlabel or table.columns.name or "", ylabel=ylabel or table.index.name or "")
    ax.tick_params(axis="x", rotation=0)
    ax.tick_params(axis="y", rotation=0)
    fig.tight_layout()
    return fig


def detector_sweep(frame: pd.DataFrame, x: str, panels: dict[str, str], xlabel: str | None = None,
                   logx: bool = False) -> plt.Figure:
    """:func:`sweep_lines` with one line per detector (column ``detector``) and the legend outside
    the panels (chapter 9)."""
    fig = sweep_lines(frame, x, panels, hue="detector", xlabel=xlabel)
    first, last = fig.axes[0], fig.axes[-1]
    handles, labels = first.get_legend_handles_labels()
    first.get_legend().remove()
    last.legend(handles, labels, title=None, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    for ax in fig.axes:
        ax.set_xscale("log" if logx else "linear")
    fig.tight_layout()
    return fig


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


# Chapter 4's law, the book's answer in one figure (the intro shows it).

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
    from .semantic import set_words  # the backdoors' names in words; semantic loads torch, plots need not

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
