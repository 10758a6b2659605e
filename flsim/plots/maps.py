"""Heat maps with a threshold on their colour scale (chapter 4's map, chapters 8-9's detection tables)."""

from __future__ import annotations

import textwrap

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .style import WIDTH

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
    powers of ten when logarithmic) above it, none closer than 6% of the bar to the one before. A logarithmic
    scale also shows its top, where it is a ceiling (the paper's ratio cannot pass num_clients - 1) or the
    largest value the map holds."""
    locator = matplotlib.ticker.MaxNLocator(2, steps=[1, 2, 2.5, 5, 10])
    below = locator.tick_values(norm.vmin, threshold)
    if log_above:
        above = [m * 10.0**k for k in range(-3, 6) for m in (1, 2, 5)]
    else:
        above = locator.tick_values(threshold, norm.vmax)
    candidates = sorted({*(t for t in below if norm.vmin <= t < threshold),
                         *(t for t in above if threshold < t <= norm.vmax)})
    ticks = [threshold] + [norm.vmax] * log_above  # always shown; the others only where they leave room
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
    height = 0.42 * len(table) + 1.4
    fig, ax = plt.subplots(figsize=(WIDTH, height))
    # the colour bar's label in lines no longer than the bar: a longer one stretched a short map's figure
    label = "\n".join(textwrap.wrap(label, width=max(16, int(9 * (height - 0.9)))))
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
        colour_bar.ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:.3g}"))
        colour_bar.ax.axhline(center, color="black", lw=1.5)
    ax.set(xlabel=xlabel or table.columns.name or "", ylabel=ylabel or table.index.name or "")
    ax.tick_params(axis="x", rotation=0)
    ax.tick_params(axis="y", rotation=0)
    fig.tight_layout()
    return fig


_MAP_AXES = dict(ylabel="regime: local steps per round, backdoor, r", xlabel="tensor")


def _map(table: pd.DataFrame, label: str, **scale) -> plt.Figure:
    """One of chapter 4's maps: settings as rows, tensors as columns (``table`` is tensors x settings)."""
    fig = metric_heatmap(table.T, label, **_MAP_AXES, **scale)
    fig.axes[0].tick_params(axis="x", rotation=30)
    return fig


def regime_maps(z_map: pd.DataFrame, auc_map: pd.DataFrame) -> list[tuple[plt.Figure, str, str | None]]:
    """Chapter 4's map by the attacker's robust z-score and by ROC-AUC (tensors x settings, round 1, mean
    over seeds), each as (figure, caption, glue name or None) for :func:`flsim.notebook.figure`."""
    values = z_map.to_numpy(dtype=float)
    # the scale's ends: the map's extremes, with room on both sides of the threshold of 3
    low, top = min(0.0, float(np.nanmin(values))), max(6.0, float(np.nanmax(values)))
    z = _map(z_map, "attacker's robust z-score (median absolute deviations)", fmt=".1f", vmin=low, vmax=top,
             center=3.0, log_above=True)
    auc = _map(auc_map, "ROC-AUC (0.5: chance)", vmin=0.0, vmax=1.0, center=0.5)
    return [(z, "The map. Per regime (rows: local SGD steps per client and round, backdoor, poison rate r) and "
                "parameter tensor (columns): the attacker's robust z-score within its round, z = (statistic - "
                "round median) / (1.4826 x round MAD), for the paper's statistic max |w_k - mean w|, in round 1, "
                "averaged over the seeds. The colours diverge at 3, the usual outlier threshold (white, the black "
                "line on the colour bar): blue below it on a linear scale, red above it on a logarithmic one.",
             "fig-regime-map"),
            (auc, "The same regimes by ROC-AUC of the paper's statistic for telling the attacker from the honest "
                  "clients (round 1, mean over seeds), on a scale that diverges at chance (0.5, white): red above "
                  "it, blue below it, where the attacker scores lower than the honest clients. Where every tensor "
                  "reaches 1 the AUC cannot say which one carries the anomaly; the z-score above can.", None)]


def ratio_maps(ratio_map: pd.DataFrame, median_map: pd.DataFrame,
               ceiling: int) -> list[tuple[plt.Figure, str, str | None]]:
    """Chapter 4's paper's question on the same runs: the malicious/benign ratio from the mean (up to its
    ``ceiling``, num_clients - 1) and from the coordinate-wise median, as (figure, caption, glue name)."""
    top = max(2.0, float(np.nanmax(median_map.to_numpy(dtype=float))))
    ratio = _map(ratio_map, "attacker / honest mean of max |w_k - mean w|", fmt=".1f", vmin=0.0,
                 vmax=max(float(ceiling), 1.5), center=1.0, log_above=True)
    median = _map(median_map, "attacker / honest mean of max |w_k - median w|", fmt=".1f", vmin=0.0, vmax=top,
                  center=1.0, log_above=True)
    return [(ratio, "The paper's question: where is the anomaly largest? Per regime (rows) and tensor (columns), "
                    "the attacker's statistic max |w_k - mean w| over the honest clients' mean (the paper's "
                    "malicious/benign ratio), round 1, mean over the seeds; white at 1, red above it on a "
                    "logarithmic scale up to the ratio's ceiling, "
                    f"num_clients - 1 = {ceiling}, which no single-attacker ratio can pass.", "fig-ratio-map"),
            (median, "The same question without the ceiling: the ratio of each client's max |w_k - median w|, "
                     "measured from the coordinate-wise median of its round's clients, which one attacker cannot "
                     "drag (round 1, mean over the seeds; white at 1, red above it on a logarithmic scale).", None)]
