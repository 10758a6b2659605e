"""The chapter-3 figures of flsim.plots: they draw what they are given, with labelled axes."""

import matplotlib
import pandas as pd
import pytest

from flsim import plots

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    matplotlib.pyplot.close("all")


def test_layer_auc_draws_one_bar_per_run_and_layer():
    summary = pd.DataFrame({"layer": ["conv1.weight", "fc2.bias"], "auc": [0.5, 0.9]})
    fig = plots.layer_auc({"seed 0": summary, "seed 1": summary.assign(auc=[0.6, 0.7])})
    ax = fig.axes[0]
    heights = sorted(round(p.get_height(), 3) for p in ax.patches if p.get_height() > 0)
    assert heights == [0.5, 0.6, 0.7, 0.9]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["conv1.weight", "fc2.bias"]
    assert "ROC-AUC" in ax.get_ylabel() and ax.get_xlabel() == "parameter tensor"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["seed 0", "seed 1"]
    fig.canvas.draw()  # the legend sits beside the bars, covering none of them
    renderer = fig.canvas.get_renderer()
    assert ax.get_legend().get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1


def test_deviation_heatmap_has_a_panel_and_colour_bar_per_layer_and_stars_the_attacker():
    rows = [dict(round=r, client=c, malicious=c == 0, layer=layer, max_abs_deviation=1e-3 * (1 + c + r))
            for r in (1, 2) for c in range(3) for layer in ("conv1.weight", "fc2.bias")]
    fig = plots.deviation_heatmap(pd.DataFrame(rows))
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title().split(" (")[0] for ax in panels] == ["conv1.weight", "fc2.bias"]
    assert len(fig.axes) == 4  # two panels, two colour bars
    assert [t.get_text() for t in panels[0].get_yticklabels()] == ["0*", "1", "2"]
    assert panels[0].get_xlabel() == "round" and "malicious" in panels[0].get_ylabel()


def test_deviation_heatmap_names_a_panels_power_of_ten_in_its_title_not_on_its_colour_bar():
    rows = [dict(round=r, client=c, malicious=c == 0, layer=layer, max_abs_deviation=scale * (1 + c + r))
            for r in (1, 2) for c in range(3) for layer, scale in (("conv1.weight", 1e-3), ("fc2.bias", 0.1))]
    fig = plots.deviation_heatmap(pd.DataFrame(rows))
    fig.canvas.draw()
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["conv1.weight ($\\times 10^{-3}$)", "fc2.bias"]
    for bar in (ax for ax in fig.axes if not ax.get_title()):  # readable ticks, no offset text over a title
        assert bar.yaxis.get_offset_text().get_text() == ""
        labels = [t for t in bar.get_yticklabels() if t.get_text()]
        assert labels and all(t.get_fontsize() >= 8 for t in labels)
    assert float(fig.axes[1].get_yticklabels()[-1].get_text()) > 1  # 1e-3-sized values shown as units of 1e-3
