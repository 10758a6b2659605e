"""On Colab, and only there, each chapter's first code cell installs flsim from the book's repository.

The cell runs in an IPython shell whose ``%pip`` records its line instead of installing; Colab is
faked by a ``google.colab`` module in ``sys.modules``, which is what the cell looks for. The URL
must be the one ``_config.yml`` gives the book's repository (its launch and repository buttons).
"""

import shlex
import sys
import types
from pathlib import Path

import nbformat
import pytest
import yaml
from IPython.core.interactiveshell import InteractiveShell

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = sorted((ROOT / "book").glob("0*.ipynb"))
URL = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]


def first_code_cell(path: Path) -> str:
    return next(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")


@pytest.fixture
def pip_lines():
    """Run a cell in a fresh IPython shell whose %pip records its line; return the lines."""
    shell = InteractiveShell.instance()
    lines = []
    shell.register_magic_function(lines.append, "line", "pip")

    def run(source: str) -> list[str]:
        shell.run_cell(source, store_history=False).raise_error()
        return lines

    yield run
    InteractiveShell.clear_instance()


def test_there_are_chapters():
    assert len(CHAPTERS) >= 8 and URL.startswith("https://github.com/")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_installs_flsim_from_the_repository_on_colab(path, pip_lines, monkeypatch):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    lines = pip_lines(first_code_cell(path))
    assert len(lines) == 1, lines
    arguments = shlex.split(lines[0])
    assert arguments[0] == "install" and f"flsim @ git+{URL}" in arguments, lines[0]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_installs_nothing_elsewhere(path, pip_lines, monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert pip_lines(first_code_cell(path)) == []
