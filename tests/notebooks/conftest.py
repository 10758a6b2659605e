"""Notebook smoke runs: papermill executes a chapter with tiny parameters and the test
asserts the numbers the chapter glued. For the cheapest chapters nbval (lax
mode) then re-executes the executed notebook with an empty result cache,
comparing the cells marked ``# NBVAL_CHECK_OUTPUT`` (the deterministic ones):
the chapters all run one engine, so two suffice to catch a result that changes
from run to run. A mistyped parameter is checked in this process, on papermill's
own injected cell (:func:`parameter_check`); one chapter's test runs papermill's
command line for it (:func:`papermill_cli`)."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest
from IPython.core.interactiveshell import InteractiveShell
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook

from tests.test_reader_first import long_sentences

BOOK = Path(__file__).resolve().parents[2] / "book"
GLUE_PREFIX = "application/papermill.record/"


def glued(notebook: nbformat.NotebookNode) -> dict:
    """The values a notebook glued (flsim.notebook.glue, with myst-nb), parsed back from their text."""
    values = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name is None:
                continue
            text = output["data"].get("text/plain") or output["data"].get(GLUE_PREFIX + "text/plain")
            try:
                values[name] = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                values[name] = text
    return values


def shown(notebook: nbformat.NotebookNode, mime: str) -> list:
    """Every ``mime`` output of the executed notebook's code cells, in order."""
    return [o["data"][mime] for c in notebook.cells if c.cell_type == "code" for o in c.outputs
            if mime in o.get("data", {})]


def assert_reads_well(path) -> None:
    """An executed chapter reads well wherever it is opened, not only in the rendered book: every
    figure is shown once, with its caption under it; tables are DataFrames (HTML); and one cell
    shows the findings table, with the verdict."""
    executed = nbformat.read(path, as_version=4)
    findings = []
    for cell in (c for c in executed.cells if c.cell_type == "code"):
        outputs = cell.get("outputs", [])
        data = [o.get("data", {}) for o in outputs]
        shown = [i for i, d in enumerate(data) if "image/png" in d]  # glued copies are hidden
        if re.search(r"notebook\.figure\(|(?<![\w.])figure\(", cell.source):  # flsim.notebook.figure
            assert shown, f"no figure shown:\n{cell.source}"
        for i in shown:  # a figure shown again at the end of its cell would have no caption under it
            caption = data[i + 1].get("text/markdown", "") if i + 1 < len(data) else ""
            assert caption.startswith("*") and len(caption) > 20, f"a figure without caption:\n{cell.source}"
        if "notebook.table(" in cell.source:
            assert any("<table" in d.get("text/html", "") for d in data), cell.source
        findings += [d["text/html"] for d in data if "<th>finding</th>" in d.get("text/html", "")]
    assert len(findings) == 1 and "<th>verdict</th>" in findings[0]


@pytest.fixture
def run_chapter(tmp_path):
    """Execute ``book/<name>.ipynb`` with ``parameters`` into ``tmp_path / "<name>.ipynb"``; return
    its glued values.

    With ``nbval=True``, then re-execute the output with nbval in lax mode and a fresh result cache.
    """

    def run(name: str, nbval: bool = False, **parameters) -> dict:
        output = tmp_path / f"{name}.ipynb"
        papermill.execute_notebook(BOOK / f"{name}.ipynb", output, parameters=parameters,
                                   kernel_name="python3", cwd=str(BOOK), progress_bar=False)
        values = glued(nbformat.read(output, as_version=4))
        if not nbval:
            return values
        env = {**os.environ, "FLSIM_CACHE": str(tmp_path / "nbval-cache")}
        check = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider",
                                str(output)], cwd=BOOK, env=env, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout[-3000:]
        return values

    return run


def papermill_cli(name: str, tmp_path, *arguments: str) -> subprocess.CompletedProcess:
    """papermill's own command line on ``book/<name>.ipynb`` with ``arguments``, the executed notebook
    written to ``tmp_path / "<name>.ipynb"`` (the typo tests: a run that must stop at the parameter check)."""
    return subprocess.run([sys.executable, "-m", "papermill", str(BOOK / f"{name}.ipynb"),
                           str(tmp_path / f"{name}.ipynb"), *arguments, "--cwd", str(BOOK)],
                          capture_output=True, text=True, timeout=300)


def parameter_check(name: str, **parameters) -> BaseException | None:
    """What a papermill run of ``book/<name>.ipynb`` with ``parameters`` raises at the chapter's parameter
    check (None: it passes), found without a kernel: papermill's own injection
    (``parameterize_notebook``), then the chapter's cells up to ``notebook.check_parameters()`` run in a
    fresh IPython shell of this process, with their input history as in a kernel."""
    notebook = parameterize_notebook(load_notebook_node(str(BOOK / f"{name}.ipynb")), parameters,
                                     kernel_name="python3")
    shell = InteractiveShell.instance()
    try:
        for cell in (c for c in notebook.cells if c.cell_type == "code"):
            result = shell.run_cell(cell.source, store_history=True, silent=False)
            if "notebook.check_parameters()" in cell.source:
                return result.error_in_exec
            result.raise_error()
        raise AssertionError(f"{name} has no cell calling notebook.check_parameters()")
    finally:
        InteractiveShell.clear_instance()


def html_tables(path) -> list[list[list[str]]]:
    """Every table an executed chapter shows (its code cells' HTML outputs), in order, each as its rows of
    cell texts: the header rows first (index names included), then one row per index entry."""
    from bs4 import BeautifulSoup

    executed = nbformat.read(path, as_version=4)
    pages = [o["data"]["text/html"] for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
             if "<table" in o.get("data", {}).get("text/html", "")]
    return [[[cell.get_text(strip=True) for cell in row.find_all(["th", "td"])] for row in table.find_all("tr")]
            for page in pages for table in BeautifulSoup(page, "html.parser").find_all("table")]


def unreadable_outputs(path) -> list[str]:
    """What the build's page check (book/_ext/rendered_text.py) finds in an executed chapter's outputs and
    glued values: nan, inf, a negative zero, a generated plural."""
    sys.path.insert(0, str(BOOK / "_ext"))
    import rendered_text

    executed = nbformat.read(path, as_version=4)
    text = [str(value) for value in glued(executed).values()]
    for cell in (c for c in executed.cells if c.cell_type == "code"):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            html = data.get("text/html")
            text.append(rendered_text.visible_text(html) if html else data.get("text/markdown", ""))
    return rendered_text.problems("\n".join(text))


def assert_the_other_side(values: dict, point: str, table: list[list[str]]) -> None:
    """Chapters 5-7 (flsim.sides): the flat sandals beside the default striped T-shirts at one
    point of the sweep (``point``, e.g. "m = 2"), on one seed, as glued and as ``table`` shows them."""
    interval = r"-?\d+\.\d+ \[-?\d+\.\d+, -?\d+\.\d+\]"
    assert values["num_other_runs"] == 1  # only the sandals are new: the T-shirts' run is the sweep's
    assert values["other_pool_note"] == "the default backdoor's runs there are the sweep's own"
    assert 0 < values["scale_other"] < values["scale_default"]  # the sandals drive the output layer less
    assert values["scales_text"] == (f"{values['scale_default']:.2f} for the striped T-shirts and "
                                     f"{values['scale_other']:.2f} for the flat sandals")
    assert values["law_prediction"].startswith("the law predicts that fc2.bias leads more for the flat sandals")
    for side in ("default", "other"):
        assert re.fullmatch(interval, values[f"bias_auc_{side}"]) and 1 <= values[f"bias_rank_{side}"] <= 8
        assert 0 <= values[f"auc_seeds_{side}"] <= 1
    # the other side's verdict (flsim.sides.side_verdict): the paper's claim for each backdoor by both
    # measures, then chapter 4's law by ROC-AUC rank; the chapter's verdict ends with it, in sentences
    # a reader can take in
    side = values["side_verdict"]
    assert side.startswith(f"At {point} the paper's claim (by ROC-AUC and by ratio) ")
    assert " for the striped T-shirts" in side and " for the flat sandals" in side and "By ROC-AUC rank, " in side
    assert values["verdict"].startswith("For the striped T-shirts (the default backdoor) the paper's claim ")
    assert values["verdict"].endswith(side) and values["other_note"].startswith(side)
    assert not long_sentences(values["verdict"]), long_sentences(values["verdict"])
    rows = {row[0]: row[1:] for row in table[2:]}  # one column per backdoor, the rows the text names
    assert table[0] == ["", "striped T-shirts", "flat sandals"] and table[1][0] == point
    assert rows["fc2.bias AUC [2 SE]"] == [values["bias_auc_default"], values["bias_auc_other"]]
    assert rows["activation scale"] == [f"{values['scale_default']:.2f}", f"{values['scale_other']:.2f}"]
    assert rows["AUC rank (of 8)"] == [str(values["bias_rank_default"]), str(values["bias_rank_other"])]
    assert rows["seeds with the largest AUC"] == [f"{values['auc_seeds_default']} of 1",
                                                  f"{values['auc_seeds_other']} of 1"]
