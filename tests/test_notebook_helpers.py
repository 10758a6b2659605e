"""flsim.notebook's display helpers where myst-nb is not installed (a plain ``pip install flsim``, as
on Colab): a chapter runs all the same and shows its figures with their captions and its findings
table; it only glues nothing for the book (the chapters glue through these helpers alone:
tests/test_notebooks_clean.py)."""

import sys

import matplotlib
import pandas as pd
import pytest
import torch
from IPython import display as ipython_display

from flsim import notebook

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture
def shown(monkeypatch):
    """What the helpers display, in order; myst-nb made absent as an uninstalled package is."""
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # import fails, find_spec gives None
    monkeypatch.setattr(notebook, "found", {})
    outputs = []
    monkeypatch.setattr(ipython_display, "display", lambda *objects, **_: outputs.extend(objects))
    return outputs


def test_without_myst_nb_glue_records_and_shows_nothing(shown):
    notebook.glue("accuracy", 0.75)
    notebook.glue_all(rounds=3, verdict="holds")
    assert notebook.found == {"accuracy": 0.75, "rounds": 3, "verdict": "holds"} and shown == []


def test_without_myst_nb_a_figure_is_shown_once_with_its_caption_and_named_figures_too(shown):
    fig = plt.figure()
    notebook.figure(fig, "The caption.", name="fig-named")
    assert shown[0] is fig and isinstance(shown[1], ipython_display.Markdown)
    assert shown[1].data == "*The caption.*" and len(shown) == 2
    assert not plt.fignum_exists(fig.number)  # closed: not shown again at the end of the cell
    table = notebook.summary({"runs": 4, "share": 0.123456}, "holds")
    assert table.loc["share", "value"] == "0.1235" and table.loc["verdict", "value"] == "holds"


def test_the_run_time_is_glued_from_the_chapters_start(shown, monkeypatch):
    monkeypatch.setattr(notebook, "_started", None)
    with pytest.raises(RuntimeError, match="check_parameters"):
        notebook.glue_run_time()
    notebook.check_parameters()  # outside papermill it checks nothing, but starts the clock
    notebook.glue_run_time()
    assert 0 <= notebook.found["run_seconds"] < 60 and notebook.found["run_gflops"] > 0


def test_a_table_is_rounded_and_shows_missing_values_as_blank_cells():
    frame = pd.DataFrame({"auc": [0.123456, float("nan")], "flagged": pd.array([True, pd.NA], dtype="boolean")},
                         index=["fedavg", "median"])
    shown = notebook.table(frame)
    assert shown.loc["fedavg", "auc"] == 0.123 and shown.loc["fedavg", "flagged"]
    assert shown.loc["median"].tolist() == ["", ""] and "NaN" not in shown.to_html() and "&lt;NA" not in shown.to_html()
    whole = pd.DataFrame({"x": [1.23456]})
    assert notebook.table(whole).x.dtype == float  # nothing missing: the numbers as they are


def test_a_table_wider_than_the_page_is_refused_naming_its_columns():
    names = [f"layer{i}.weight_deviation" for i in range(8)]
    wide = pd.DataFrame([[0.123456] * 8] * 3, columns=names)
    assert notebook.table_width_px(wide) > notebook.PAGE_WIDTH_PX
    with pytest.raises(notebook.TableTooWide, match="layer0.weight_deviation.*770 px"):
        notebook.table(wide)
    narrow = wide.iloc[:, :3].T  # the columns the text is about, transposed
    assert notebook.table_width_px(notebook.table(narrow)) <= notebook.PAGE_WIDTH_PX


def test_the_width_counts_the_index_and_the_widest_cell():
    short = pd.DataFrame({"x": [1.0]}, index=["a"])
    long_cell = pd.DataFrame({"x": ["a long cell " * 4]}, index=["a"])
    long_index = pd.DataFrame({"x": [1.0]}, index=["a long index label " * 4])
    assert notebook.table_width_px(long_cell) > notebook.table_width_px(short) + 40 * notebook.CHARACTER_PX
    assert notebook.table_width_px(long_index) > notebook.table_width_px(short) + 40 * notebook.CHARACTER_PX


@pytest.mark.parametrize("verdict", [
    "fc2.bias separates best (AUC 0.56).",
    "Holds in 4 of 12 settings. The false-positive rate is 11.1% of honest client-rounds.",
    "The ratio is 3.3 [2.1, 4.0] at m = 1; at m = 4 it is 1.2.",
])
def test_a_verdict_citing_a_measured_number_without_its_interval_is_refused(verdict):
    with pytest.raises(notebook.VerdictWithoutInterval):
        notebook.summary({"runs": 3}, verdict)


@pytest.mark.parametrize("verdict", [
    "fc2.bias separates best (AUC 0.93 [0.85, 0.99]).",
    "Holds in 4 of 12 settings; the z-score is 3.2 ± 0.4 at lr = 0.01.",
    "The false-positive rate is 11.1% [5.0%, 20.1%] of honest client-rounds, e.g. in round 1.",
    "No tensor stands out.",
])
def test_a_verdict_with_its_intervals_or_without_measured_decimals_is_shown(verdict):
    assert notebook.summary({"runs": 3}, verdict).loc["verdict", "value"] == verdict


def test_a_table_shows_no_negative_zero_and_keeps_its_integers():
    frame = pd.DataFrame({"shift": [-0.0001, 1.23456], "clients": [1, 2], "name": ["a", "b"]})
    shown = notebook.table(frame)
    assert "-0.0" not in shown.to_html() and shown.clients.dtype == frame.clients.dtype
    assert shown["shift"].tolist() == [0.0, 1.235]


def test_a_gpu_chapter_stops_before_loading_anything_where_there_is_no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(notebook.ParameterError, match=r"device='cuda' but no CUDA device .* Change runtime type"):
        notebook.check_device("cuda")
    notebook.check_device("auto")  # a GPU where there is one, else the CPU
    notebook.check_device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    notebook.check_device("cuda")
