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


def test_deviation_heatmap_has_a_panel_and_colour_bar_per_layer_and_stars_the_attacker():
    rows = [dict(round=r, client=c, malicious=c == 0, layer=layer, max_abs_deviation=1e-3 * (1 + c + r))
            for r in (1, 2) for c in range(3) for layer in ("conv1.weight", "fc2.bias")]
    fig = plots.deviation_heatmap(pd.DataFrame(rows))
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["conv1.weight", "fc2.bias"]
    assert len(fig.axes) == 4  # two panels, two colour bars
    assert [t.get_text() for t in panels[0].get_yticklabels()] == ["0*", "1", "2"]
    assert panels[0].get_xlabel() == "round" and "malicious" in panels[0].get_ylabel()
