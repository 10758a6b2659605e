"""The figures of chapters 5-7: a quantity against a swept setting, per role or per tensor."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .style import ROLE_COLORS, WIDTH

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


STATISTIC_NAMES = {"max_abs_deviation": "max |w_k - mean w|", "max_abs_from_median": "max |w_k - median w|"}


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
        ax.set(title=layer, xlabel="", ylabel="", yscale="log")
        _swept_x(ax, summary[x], logx)
        _log_ticks(ax, frame[frame.layer == layer].value)
        ax.tick_params(labelsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel(f"mean {STATISTIC_NAMES.get(statistic, statistic)}\n(parameter units)")
    axes.flat[0].legend(title=None, fontsize=7)
    fig.supxlabel(xlabel or x)  # once for every panel: repeated, the long labels ran into each other
    fig.tight_layout()
    return fig


# Distinct hues of seaborn's colorblind palette first (blue, green, purple, grey, light blue), its
# oranges and reds last: beside the black highlight, neighbouring tensors must not look alike.
DISTINCT = (0, 2, 4, 7, 9, 1, 8, 3, 5, 6)


def tensor_styles(layers, highlight: str | None = None) -> tuple[dict, dict]:
    """A colour and a dash per tensor for a figure with one line per tensor (chapters 5-7): one hue per
    module (the name before its last dot, e.g. "fc1" of "fc1.weight"), solid for its weight and dashed
    for its other tensors, ``highlight`` in black; past ten modules, evenly spaced hues."""
    modules = list(dict.fromkeys(layer.rsplit(".", 1)[0] for layer in layers))
    base = sns.color_palette("colorblind", 10)
    hues = ([base[i] for i in DISTINCT[:len(modules)]] if len(modules) <= len(DISTINCT)
            else sns.color_palette("husl", len(modules)))
    colors = {layer: hues[modules.index(layer.rsplit(".", 1)[0])] for layer in layers}
    dashes = {layer: "" if layer.endswith("weight") else (4, 2) for layer in layers}
    if highlight is not None:
        colors[highlight], dashes[highlight] = "black", ""
    return colors, dashes


def sweep_layers(summary: pd.DataFrame, x: str, panels: dict[str, str], xlabel: str | None = None,
                 logx: bool = False, highlight: str | None = None, references: dict[str, float] | None = None,
                 ) -> plt.Figure:
    """Per-tensor columns of :func:`flsim.analysis.sweep_summary` (e.g. ratio, auc) against the
    swept ``x``: one panel per ``column -> y-axis label``, one line per tensor (:func:`tensor_styles`:
    a hue per module, weights solid, biases dashed), the tensor named ``highlight`` in bold black
    (chapters 5-7 pass ``Results.output_bias_tensor``).

    Lines are means over seeds (no bands: eight of them would hide the lines); the x axis ticks the
    values that have a line (not a clean run's, which has no ratio or AUC); ``references`` draws a
    dashed line per column, e.g. {"ratio": 1, "auc": 0.5}.
    """
    layers = list(dict.fromkeys(summary.layer))
    palette, dashes = tensor_styles(layers, highlight)
    fig, axes = plt.subplots(1, len(panels), figsize=(WIDTH, 3.4), squeeze=False)
    for ax, (column, ylabel) in zip(axes.flat, panels.items()):
        drawn = summary.dropna(subset=[column])
        sns.lineplot(data=drawn, x=x, y=column, hue="layer", hue_order=layers, palette=palette,
                     style="layer", style_order=layers, dashes=dashes, markers=["o"] * len(layers),
                     size="layer", sizes={l: 3.0 if l == highlight else 1.4 for l in layers},
                     errorbar=None, ax=ax, legend=ax is axes.flat[-1])
        if column in (references or {}):
            ax.axhline(references[column], color="black", lw=1, ls=":")
        ax.set(xlabel=xlabel or x, ylabel=ylabel)
        _swept_x(ax, drawn[x], logx)
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
