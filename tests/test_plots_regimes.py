"""The chapter-4 maps of flsim.plots: a colour scale on which the threshold they cite shows, values below
chance that read as below it, and no cell that reads "-0.0"."""

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


def cell_colours(fig, table):
    """The RGB of each cell of a heatmap of ``table``, as a rows x columns x 3 array."""
    mesh = fig.axes[0].collections[0]
    return np.asarray(mesh.get_facecolors())[:, :3].reshape(*table.shape, 3)


def test_plain_number_drops_the_sign_of_a_zero_only():
    assert plots.plain_number(-0.04, ".1f") == "0.0" and plots.plain_number(-0.0, ".2f") == "0.00"
    assert plots.plain_number(-0.001, ".0%") == "0%"
    assert plots.plain_number(-0.06, ".1f") == "-0.1" and plots.plain_number(-10.0, ".0f") == "-10"
    assert plots.plain_number(float("nan"), ".1f") == ""


def test_threshold_norm_puts_the_threshold_in_the_middle():
    norm = plots.threshold_norm(3.0, -1.0, 46.0, log_above=True)
    assert float(norm(3.0)) == pytest.approx(0.5)
    assert (float(norm(-1.0)), float(norm(46.0))) == pytest.approx((0.0, 1.0))
    # logarithmic above the threshold: z = 6, twice it, is log 2 / log(46 / 3) of the upper half up
    assert float(norm(6.0)) - 0.5 == pytest.approx(0.5 * np.log(2) / np.log(46 / 3))
    values = np.array([-1.0, 0.0, 2.9, 3.1, 10.0, 46.0])
    assert np.all(np.diff(np.asarray(norm(values))) > 0)
    assert np.asarray(norm.inverse(norm(values))) == pytest.approx(values)
    linear = plots.threshold_norm(0.5, 0.0, 1.0)
    assert [float(linear(v)) for v in (0.0, 0.41, 0.5, 1.0)] == pytest.approx([0.0, 0.41, 0.5, 1.0])
    with pytest.raises(ValueError):
        plots.threshold_norm(3.0, 0.0, 2.5)


def test_z_map_shows_the_threshold_and_no_negative_zero():
    table = pd.DataFrame([[-0.04, 3.0, 4.5], [46.0, 1.0, np.nan]], index=["a", "b"], columns=["x", "y", "z"])
    fig = plots.metric_heatmap(table, "z-score", fmt=".1f", vmin=-0.04, vmax=46.0, center=3.0, log_above=True)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["0.0", "3.0", "4.5", "46.0", "1.0"]  # the missing cell blank, no "-0.0"
    colours = cell_colours(fig, table)
    assert colours[0, 1] == pytest.approx([0.97, 0.97, 0.97], abs=0.03)  # the threshold is white
    assert colours[1, 1, 2] > colours[1, 1, 0]  # below it blue
    assert colours[0, 2, 0] > colours[0, 2, 2] + 0.05  # 4.5, 1.5 above it: visibly red
    colour_bar = fig.axes[1]
    assert 3.0 in colour_bar.get_yticks() and any(
        np.allclose(line.get_ydata(), 3.0) for line in colour_bar.lines)


def test_auc_map_shows_values_below_chance_as_such():
    table = pd.DataFrame([[0.41, 0.44, 0.5, 1.0]], columns=list("abcd"))
    fig = plots.metric_heatmap(table, "ROC-AUC", vmin=0.0, vmax=1.0, center=0.5)
    colours = cell_colours(fig, table)
    assert colours[0, 0, 2] > colours[0, 0, 0] and colours[0, 1, 2] > colours[0, 1, 0]  # blue: below chance
    assert not np.allclose(colours[0, 0], colours[0, 2], atol=0.02)  # not clipped to chance's colour
    assert colours[0, 3, 0] > colours[0, 3, 2]  # red: above chance
    assert list(fig.axes[1].get_yticks()) == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_without_a_center_the_scale_is_the_plain_one():
    table = pd.DataFrame([[0.2, 0.9]])
    fig = plots.metric_heatmap(table, "peak backdoor accuracy (%)", vmin=0.0, vmax=1.0)
    mesh = fig.axes[0].collections[0]
    assert mesh.get_cmap().name == "viridis" and (mesh.norm.vmin, mesh.norm.vmax) == (0.0, 1.0)


def test_a_log_scale_names_its_top_the_ratios_ceiling():
    table = pd.DataFrame([[0.8, 1.0, 8.9]], columns=["conv1.weight", "fc1.weight", "fc2.bias"])
    fig = plots.metric_heatmap(table, "ratio", fmt=".1f", vmin=0.0, vmax=9.0, center=1.0, log_above=True)
    colour_bar = fig.axes[1]
    fig.canvas.draw()
    labels = [t.get_text() for t in colour_bar.get_yticklabels()]
    assert 9.0 in colour_bar.get_yticks() and "9" in labels  # the ceiling no ratio can pass
    assert "1" in labels and all(label and label != "0.0" for label in labels[1:])


def test_chapter_4s_maps_come_with_captions_and_their_glue_names():
    z = pd.DataFrame([[1.0, 40.0], [4.0, -0.5]], index=["fc1.weight", "fc2.bias"], columns=["a", "b"])
    auc = pd.DataFrame([[0.6, 1.0], [0.9, 0.4]], index=z.index, columns=z.columns)
    (z_fig, z_caption, z_name), (auc_fig, auc_caption, auc_name) = plots.maps.regime_maps(z, auc)
    assert (z_name, auc_name) == ("fig-regime-map", None)
    assert "robust z-score" in z_caption and "ROC-AUC" in auc_caption
    ax = z_fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]  # settings as rows, tensors as columns
    assert [t.get_text() for t in ax.get_xticklabels()] == ["fc1.weight", "fc2.bias"]
    norm = ax.collections[0].norm
    assert (norm.vmin, norm.vmax) == (-0.5, 40.0)  # the map's extremes, around the threshold of 3
    ratio = pd.DataFrame([[9.0, 1.0], [2.0, 8.9]], index=z.index, columns=z.columns)
    (ratio_fig, caption, name), (median_fig, _, median_name) = plots.maps.ratio_maps(ratio, ratio * 3, ceiling=9)
    assert name == "fig-ratio-map" and median_name is None and "num_clients - 1 = 9" in caption
    assert ratio_fig.axes[0].collections[0].norm.vmax == 9.0 and median_fig.axes[0].collections[0].norm.vmax == 27.0


def test_a_short_maps_colour_bar_label_is_wrapped_to_the_bar():
    table = pd.DataFrame([[10.0, 90.0], [50.0, 20.0]], index=["a", "b"], columns=["x", "y"])
    label = "share alone (% of the attacker's backdoor accuracy)"
    fig = plots.metric_heatmap(table, label, fmt=".0f", vmax=100.0)
    fig.canvas.draw()
    bar, text = fig.axes[1], fig.axes[1].yaxis.label
    assert text.get_text().replace("\n", " ") == label and "\n" in text.get_text()
    assert text.get_window_extent().height <= bar.get_window_extent().height * 1.05
    tall = plots.metric_heatmap(pd.concat([table] * 6, ignore_index=True), "ROC-AUC", vmax=1.0)
    assert tall.axes[1].yaxis.label.get_text() == "ROC-AUC"  # a short label stays on one line
