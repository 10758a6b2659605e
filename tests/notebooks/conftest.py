"""Notebook smoke runs: papermill executes a chapter with tiny parameters, the test
asserts the numbers the chapter glued, and nbval (lax mode) re-executes the
executed notebook with an empty result cache, comparing the cells marked
``# NBVAL_CHECK_OUTPUT`` (the deterministic ones)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest

BOOK = Path(__file__).resolve().parents[2] / "book"
GLUE_PREFIX = "application/papermill.record/"


def glued(notebook: nbformat.NotebookNode) -> dict:
    """The values a notebook glued with myst_nb.glue, parsed back from their text."""
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


@pytest.fixture
def run_chapter(tmp_path):
    """Execute ``book/<name>.ipynb`` with ``parameters``; return its glued values.

    Then re-execute the output with nbval in lax mode and a fresh result cache.
    """

    def run(name: str, **parameters) -> dict:
        output = tmp_path / f"{name}.ipynb"
        papermill.execute_notebook(BOOK / f"{name}.ipynb", output, parameters=parameters,
                                   kernel_name="python3", cwd=str(BOOK), progress_bar=False)
        values = glued(nbformat.read(output, as_version=4))
        env = {**os.environ, "FLSIM_CACHE": str(tmp_path / "nbval-cache")}
        check = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider",
                                str(output)], cwd=BOOK, env=env, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout[-3000:]
        return values

    return run
