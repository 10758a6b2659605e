"""flsim.plots.stress.skew_panels, chapter 9's non-IID figure: one detector per panel (small multiples), so
that no detector's band hides another's, with the IID runs and chance as reference lines."""

import matplotlib
import numpy as np
import pandas as pd
import pytest

from flsim.plots import stress

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    matplotlib.pyplot.close("all")


DETECTORS = ["output_bias_max", "update_norm", "krum_score"]


def frame():
    """Two seeds per alpha and detector: the false-positive rate falls as alpha grows, the AUC rises."""
    rows = [dict(detector=d, dirichlet_alpha=a, seed=s, fpr=0.1 / a + 0.01 * s, auc=0.5 + 0.1 * np.log10(a) + 0.02 * s)
            for d in DETECTORS for a in (0.1, 1.0, 10.0) for s in (0, 1)]
    return pd.DataFrame(rows)


def test_one_panel_per_detector_and_measure_each_with_one_band():
    iid = pd.DataFrame({"fpr": [0.02, 0.03, 0.04], "auc": [0.9, 0.6, 0.7]}, index=DETECTORS)
    fig = stress.skew_panels(frame(), iid)
    axes = np.array(fig.axes).reshape(2, 3)
    assert [ax.get_title() for ax in axes[0]] == ["output\nbias_max", "update\nnorm", "krum\nscore"]
    for ax in axes.flat:
        bands = [c for c in ax.collections if isinstance(c, matplotlib.collections.PolyCollection)]
        assert len(bands) == 1  # one detector's band: none to overlap
        assert ax.get_xscale() == "log"
    # the line is the mean over seeds, the false-positive rate in percent
    x, y = axes[0, 0].lines[0].get_data()
    assert list(x) == [0.1, 1.0, 10.0] and list(y) == pytest.approx([100.5, 10.5, 1.5])
    # the IID runs dashed in every panel (in percent on the top row), chance dotted on the AUC's
    dashed = [[line.get_ydata()[0] for line in ax.lines if line.get_linestyle() == "--"] for ax in axes.flat]
    assert dashed == [[2.0], [3.0], [4.0], [0.9], [0.6], [0.7]]
    assert all(any(line.get_linestyle() == ":" for line in ax.lines) for ax in axes[1])
    assert axes[0, 0].get_ylabel().startswith("honest client-rounds") and axes[0, 1].get_ylabel() == ""
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["skewed runs: mean over seeds, 95% band", "IID runs", "chance (AUC 0.5)"]


def test_without_iid_runs_there_is_no_dashed_line():
    fig = stress.skew_panels(frame(), panels={"auc": "ROC-AUC"})
    assert len(fig.axes) == 3
    assert not any(line.get_linestyle() == "--" for ax in fig.axes for line in ax.lines)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["skewed runs: mean over seeds, 95% band",
                                                                  "chance (AUC 0.5)"]
