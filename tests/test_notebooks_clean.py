"""Notebooks are committed without outputs and with a papermill parameters cell."""

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "book").glob("*.ipynb"))


def test_there_are_chapters():
    assert len(NOTEBOOKS) >= 6


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    cells = json.loads(path.read_text())["cells"]
    dirty = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_has_a_parameters_cell(path):
    cells = json.loads(path.read_text())["cells"]
    assert sum("parameters" in c.get("metadata", {}).get("tags", []) for c in cells) == 1


CHAPTERS = [path for path in NOTEBOOKS if path.name[:2].isdigit()]


def code_cells(path):
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_checks_its_parameters_first(path):
    """papermill injects its cell right after the parameters cell; the next cell checks what it set."""
    cells = code_cells(path)
    position = next(i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", []))
    assert "check_parameters()" in "".join(cells[position + 1]["source"])


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_reads_well_without_the_book(path):
    """myst-nb is optional (flsim.notebook.glue), and captions are shown under the figures
    (flsim.notebook.figure), not kept in cell metadata that only the rendered book shows."""
    for cell in code_cells(path):
        source = "".join(cell["source"])
        assert "myst_nb" not in source, source
        assert "figure" not in cell.get("metadata", {}).get("mystnb", {}), source
        assert all(len(line) <= 100 for line in source.splitlines()), source


# A time or a machine figure written as prose: "83 s", "47 seconds", "about 20 minutes", "110 GFLOP/s".
HAND_WRITTEN_TIME = re.compile(r"\b\d[\d,.]*\s*(?:s|sec|seconds?|min|minutes?|hours?|GFLOP/s)(?![\w-])")


def prose(path) -> str:
    """A chapter's Markdown, without its glued values ({glue:text}`...`) and code (`...`, fenced blocks)."""
    text = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown")
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return re.sub(r"(\{glue:\w+\})?`[^`]*`", "", text)


@pytest.mark.parametrize("path", CHAPTERS + [CHAPTERS[0].parent / "intro.md"], ids=lambda p: p.name)
def test_no_run_time_is_written_by_hand(path):
    """Run times and machine figures in the text are glued from the build (notebook.glue_run_time)."""
    text = prose(path) if path.suffix == ".ipynb" else re.sub(r"`[^`]*`", "", path.read_text())
    assert not HAND_WRITTEN_TIME.findall(text), [m.group(0) for m in HAND_WRITTEN_TIME.finditer(text)]


def test_the_check_finds_a_hand_written_time():
    assert HAND_WRITTEN_TIME.findall("took 83 s on a CPU measuring 110 GFLOP/s; about 20 minutes")
    assert not HAND_WRITTEN_TIME.findall("4 x 4 checkerboard, 300 samples, 10 rounds, r = 10, 0.5 s-curve")


# A count of what a run does, written in digits: "10 clients", "31,091 sample-passes", "12 runs".
HAND_WRITTEN_COUNT = re.compile(r"(?<![\w.$=-])\d+(?:,\d{3})*(?:\.\d+)?\s+(?:runs?|rounds?|clients?|seeds?|samples?|"
                                r"sample-passes|steps?|epochs?|images?|attackers?)\b")
QUOTED_SOURCE = re.compile(r"paper|reference|Bilgin|et al\.", re.I)  # a fact quoted from elsewhere says so


def counts_written_by_hand(text: str) -> list[str]:
    """The counts in ``text`` (a chapter's prose) outside its Exercises section, its math and the
    sentences that name where they quote from."""
    text = re.split(r"^#+\s*Exercises", text, flags=re.M)[0]
    text = re.sub(r"\$\$.*?\$\$|\$[^$\n]*\$", "math", text, flags=re.S)
    return [match.group(0) for sentence in re.split(r"(?<=[.!?:])\s+|\n\s*[-*\d]+[.)]?\s", text)
            if not QUOTED_SOURCE.search(sentence) for match in HAND_WRITTEN_COUNT.finditer(sentence)]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_no_count_is_written_by_hand(path):
    """A chapter's counts (clients, rounds, runs, sample-passes) are glued from its plan, so a papermill
    rerun with other parameters says what it ran; the Exercises propose values, and a fact quoted
    from the paper or the reference notebook says where it comes from."""
    assert not counts_written_by_hand(prose(path)), counts_written_by_hand(prose(path))


def test_the_check_finds_a_hand_written_count():
    assert counts_written_by_hand("Fashion-MNIST, 10 clients with 300 samples each. The 12 runs take long.") == [
        "10 clients", "300 samples", "12 runs"]
    assert not counts_written_by_hand("The paper's run took 142 steps per round. Round 1, $m = 4$ attackers, "
                                      "r = 10, top-3 tensors.\n## Exercises\nRerun with 20 rounds.")


def test_every_chapter_has_a_gpu_exercise():
    for path in CHAPTERS:
        text = json.loads(path.read_text())["cells"]
        exercises = next("".join(c["source"]) for c in text if "## Exercises" in "".join(c["source"]))
        assert f"papermill book/{path.name} out.ipynb -p device cuda" in exercises, path.name


CROSS_PAGE_GLUE = re.compile(r"\{glue:text\}`([^`]*::[^`]*)`")


def glues_without_a_format(text: str) -> list[str]:
    """Glues from another page (``{glue:text}`page.ipynb::key```) without a format: myst-nb splits at the
    last colon, so ``page.ipynb::key`` reads as the key ``page.ipynb:`` and the build fails."""
    return [ref for ref in CROSS_PAGE_GLUE.findall(text) if ":" not in ref.split("::", 1)[1]]


def test_glues_from_other_pages_name_their_format():
    pages = [*(NOTEBOOKS[0].parent.glob("*.md")), *NOTEBOOKS]
    assert {page.name: glues_without_a_format(page.read_text()) for page in pages
            if glues_without_a_format(page.read_text())} == {}
    assert glues_without_a_format("{glue:text}`04_regimes.ipynb::num_clients` and "
                                  "{glue:text}`04_regimes.ipynb::num_runs:d`") == ["04_regimes.ipynb::num_clients"]
