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
