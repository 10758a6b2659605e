"""flsim.plots.anomaly_law, the figure of chapter 4's law that the introduction shows: each backdoor where
its activation scale and fc2.bias's lead put it, coloured by whether fc2.bias has the largest ratio, the
map's named backdoors marked and labelled in words."""

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


def law_table():
    return pd.DataFrame({"activation_scale": [0.3, 0.5, 1.1, 1.2, 0.27, 1.05, np.nan],
                         "z lead": [3.0, 1.0, -2.0, -4.0, 4.0, -3.0, -1.5],
                         "ratio first": [True, True, False, False, True, False, False],
                         "rule": ["least_ink", "least_ink", "random", "stripes", None, None, None]},
                        index=["least_ink, Sandal", "least_ink, Bag", "random, Coat", "stripes, Shirt",
                               "flat_sandals", "striped_tshirts", "trigger"])


def test_every_backdoor_is_drawn_where_its_scale_and_lead_put_it():
    fig = plots.anomaly_law(law_table())
    ax = fig.axes[0]
    dots = [c for c in ax.collections if len(c.get_offsets())]
    points = np.concatenate([c.get_offsets() for c in dots])
    assert len(points) == 6  # four rule-built dots and two stars; the trigger has no scale
    assert {tuple(p) for p in points} >= {(0.27, 4.0), (1.05, -3.0), (0.3, 3.0)}
    red = matplotlib.colors.to_rgba(plots.ROLE_COLORS["malicious"])
    for collection in dots:  # red exactly where fc2.bias has the largest ratio
        for x, y in collection.get_offsets():
            first = y > 0  # in this table the leads and the ratios agree
            assert np.allclose(collection.get_facecolors()[0][:3], red[:3]) == first, (x, y)


def test_the_named_backdoors_are_labelled_in_words_and_the_axes_have_units():
    fig = plots.anomaly_law(law_table())
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert "flat sandals" in texts and "striped T-shirts" in texts
    assert any(t.startswith("trigger (no activation scale)") for t in texts)
    assert any(np.allclose(line.get_ydata(), -1.5) for line in ax.lines)  # the trigger's lead, dashed
    assert "activation scale" in ax.get_xlabel() and "median absolute deviations" in ax.get_ylabel()


def test_a_table_without_the_columns_is_refused_naming_them():
    with pytest.raises(ValueError, match="'ratio first'"):
        plots.anomaly_law(law_table().drop(columns="ratio first"))


def test_the_best_predictor_by_rule_marks_the_maps_sets_and_names_its_axis():
    fig, caption = plots.law.law_by_rule(law_table(), "activation_scale")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["least_ink", "random", "stripes"]
    assert {t.get_text() for t in ax.texts} == {"flat_sandals", "striped_tshirts"}  # the trigger has no scale
    assert ax.get_xlabel().startswith("activation scale") and "black stars" in caption
    assert "activation scale" in plots.law.LAW_CAPTION
