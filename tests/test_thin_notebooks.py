"""A chapter is prose, parameters and short calls into flsim, never a program.

What is counted, in the chapters' sources (book/NN_*.ipynb):

- a code line is a line of a code cell that is neither blank nor a comment;
- a chapter defines no function or class (computation and sentence-building live in flsim, tested);
- no code cell has more than 30 code lines, and no chapter more than 150.
"""

import json
import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
CHAPTERS = sorted(path for path in BOOK.glob("*.ipynb") if path.name[:2].isdigit())
CELL_LINES, CHAPTER_LINES = 30, 150

DEFINITION = re.compile(r"^\s*(?:async\s+)?(?:def|class)\s+(\w+)")


def code_cells(notebook: dict) -> list[list[str]]:
    """Each code cell's code lines (neither blank nor a comment)."""
    return [[line for line in "".join(cell["source"]).splitlines()
             if line.strip() and not line.strip().startswith("#")]
            for cell in notebook["cells"] if cell["cell_type"] == "code"]


def program_like(notebook: dict) -> list[str]:
    """What makes ``notebook`` a program rather than a chapter (empty: within the limits)."""
    cells = code_cells(notebook)
    found = [f"defines {match.group(1)}" for cell in cells for line in cell if (match := DEFINITION.match(line))]
    found += [f"code cell {i} has {len(cell)} code lines (at most {CELL_LINES})"
              for i, cell in enumerate(cells) if len(cell) > CELL_LINES]
    total = sum(map(len, cells))
    return found + [f"{total} code lines (at most {CHAPTER_LINES})"] * (total > CHAPTER_LINES)


def notebook_of(*sources: str) -> dict:
    return {"cells": [{"cell_type": "code", "source": source} for source in sources]}


def test_the_rule_counts_code_lines_and_names_definitions():
    assert program_like(notebook_of("x = 1\n\n# a comment\n  # indented comment\ny = 2\n")) == []
    assert code_cells(notebook_of("x = 1\n\n# why\ny = 2\n")) == [["x = 1", "y = 2"]]
    assert program_like(notebook_of("def ci(x):\n    return x\n", "class Table:\n    pass\n")) == [
        "defines ci", "defines Table"]
    long_cell = "\n".join(f"x{i} = {i}" for i in range(31))
    assert program_like(notebook_of(long_cell)) == ["code cell 0 has 31 code lines (at most 30)"]
    many_cells = [long_cell[: long_cell.index("x30")]] * 6  # 6 cells of 30 lines: 180 in all
    assert program_like(notebook_of(*many_cells)) == ["180 code lines (at most 150)"]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_each_chapter_is_a_short_notebook_over_flsim(path):
    problems = program_like(json.loads(path.read_text()))
    assert not problems, problems
