"""The chapter-1 figures of flsim.plots: they draw what they are given, with labelled axes."""

import matplotlib
import numpy as np
import pandas as pd
import pytest

from flsim import plots

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    matplotlib.pyplot.close("all")


def test_output_layer_zscores():
    frame = pd.DataFrame({"group": ["bias, target class"] + ["weights, target class"] * 3,
                          "unit": [-1, 0, 1, 2], "output_class": 2, "z": [-5.0, 0.0, 2.0, -40.0]})
    ax = plots.output_layer_zscores(frame).axes[0]
    assert ax.get_yscale() == "log" and "standard deviations" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["bias, target class", "weights, target class"]


def test_waterfall_ends_at_the_sum():
    fig = plots.waterfall({"up": 3.0, "down": -1.0, "down again": -0.5}, "sum", "shift", lines={"prediction": 2.5})
    ax = fig.axes[0]
    bars = ax.patches
    assert [t.get_text() for t in ax.get_xticklabels()] == ["up", "down", "down again", "sum"]
    assert (bars[1].get_y(), bars[1].get_height()) == pytest.approx((2.0, 1.0))
    assert (bars[3].get_y(), bars[3].get_height()) == pytest.approx((0.0, 1.5))
    assert ax.get_ylabel() == "shift" and ax.get_legend() is not None


def test_bias_shift_rounds_and_ratio():
    table = pd.DataFrame({"round": [1, 2], "predicted": 0.004, "malicious": [0.001, 0.002], "benign_mean": 0.0,
                          "benign_sd": 0.0005, "ratio": [0.25, 0.5]})
    ax = plots.bias_shift_rounds(table).axes[0]
    assert ax.get_xlabel() == "round" and "logit units" in ax.get_ylabel()
    runs = pd.DataFrame({"varied": "learning rate", "setting": ["lr 0.01"] * 2 + ["lr 0.1"] * 2,
                         "predicted": [0.004] * 2 + [0.04] * 2, "ratio": [0.2, 0.4, 0.1, 0.3]})
    settings = pd.DataFrame({"varied": "learning rate", "predicted": [0.004, 0.04], "ratio": [0.3, 0.2],
                             "lo": [0.1, 0.0], "hi": [0.5, 0.4]}, index=pd.Index(["lr 0.01", "lr 0.1"], name="setting"))
    ax = plots.bias_shift_ratio(settings, runs).axes[0]
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.texts] == ["lr 0.01", "lr 0.1"]
    assert np.allclose(ax.lines[-2].get_ydata(), 1.0)  # the prediction line
    points = ax.collections[0].get_offsets()  # one point per run, just left of its setting
    assert np.allclose(points[:, 1], runs.ratio) and np.allclose(points[:, 0], 0.9 * runs.predicted)
    caps = sorted(y for line in ax.lines if line.get_marker() == "_" for y in line.get_ydata())
    assert caps == pytest.approx([0.0, 0.1, 0.4, 0.5])  # the interval's ends, not a standard deviation


def test_label_counts_stacks_every_class():
    counts = pd.DataFrame([[3, 1], [0, 4]])
    fig = plots.label_counts({"iid": counts, "skewed": counts[::-1].reset_index(drop=True)}, ["a", "b"])
    left, right = fig.axes[:2]
    assert left.get_title() == "iid" and right.get_title() == "skewed"
    heights = [(p.get_y(), p.get_height()) for p in left.patches]
    assert heights == [(0, 3), (0, 0), (3, 1), (0, 4)]  # class a, then b on top of it
    assert left.get_ylabel() == "samples (count)"
