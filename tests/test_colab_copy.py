"""The chapters' reading copies (book/_ext/reading_copy.py, written by the colab_copies extension when the
book's build finishes): the notebook a Colab button opens shows the run's numbers in its text and no
markup meant for the book. Each check is shown failing on text made to fail it."""

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import reading_copy as rc  # noqa: E402

CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
BOOK = rc.Book(url="https://o.github.io/r/", titles={"book/01_theory": "1. Theory"},
               objects={"flsim.run": "book/appendix_api.html#flsim.run"})
PNG = "iVBORw0KGgo="  # any base64 text: nothing here decodes it

TEXT = """# 3. Where it sits

The attacker leads in {glue:text}`lead_count` of {glue:text}`runs` runs ({glue:text}`share:.0%`),
its ratio {glue:text}`ratio:.2f` [{glue:text}`low:.2f`, {glue:text}`high:.2f`]; the lead is
{glue:text}`lead_tensor`, as {doc}`chapter 1's
law <01_theory>` predicts ({doc}`01_theory`; {func}`~flsim.run`, {func}`flsim.sweep`). The law of
{glue:text}`04_regimes.ipynb::law_best_text:s` holds; `{glue:text}` stays in code, as $z_{i}$ in math:

$$
\\frac{a}{b}
$$

(the-target)=
% a comment the book does not show

```{note}
Runs come from the cache: {glue:text}`cached` of them.
```

:::{admonition} Why the median
The mean is pulled by the attacker.
:::

```{glue:figure} ratio_figure
The ratio of each tensor.
```

```python
{glue:text}`left_alone`
```
"""


def chapter_notebook() -> dict:
    glue = new_code_cell("glue_all(...)", outputs=[
        new_output("display_data", data={"application/papermill.record/text/plain": "7"},
                   metadata={"scrapbook": {"name": "lead_count", "mime_prefix": "application/papermill.record/"}}),
        new_output("display_data", data={"text/plain": "9"},
                   metadata={"scrapbook": {"name": "runs", "mime_prefix": ""}}),
    ])
    figure = new_code_cell('notebook.figure(fig, "The ratio.", name="ratio_figure")', outputs=[
        new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"}),
        new_output("display_data", data={"text/markdown": "*The ratio, as {doc}`chapter 1 <01_theory>` derives it.*",
                                         "text/plain": "<Markdown>"}),
    ])
    return json.loads(nbformat.writes(new_notebook(cells=[new_markdown_cell(TEXT), glue, figure])))


VALUES = {"book/03_localisation": {"share": {"text/plain": "0.7777"}, "ratio": {"text/plain": "8.9012"},
                                   "low": {"text/plain": "8.84"}, "high": {"text/plain": "8.96"},
                                   "lead_tensor": {"text/plain": "'fc2.bias'"}, "cached": {"text/plain": "12"},
                                   "ratio_figure": {"image/png": PNG, "text/plain": "<Figure>"}},
          "book/04_regimes": {"law_best_text": {"text/plain": "'n_pois / n'"}}}


@pytest.fixture
def copy():
    return rc.reading_copy(chapter_notebook(), "book/03_localisation", VALUES, BOOK, first_cell="*A reading copy.*")


def test_a_chapter_reads_with_its_values_in_place(copy):
    text = "".join(copy["cells"][1]["source"])
    assert "leads in 7 of 9 runs (78%)" in text  # glued in the notebook itself, hidden or shown
    assert "its ratio 8.90 [8.84, 8.96]" in text and "the lead is\nfc2.bias," in text
    assert "The law of\nn\\_pois / n holds" in text  # another chapter's value, escaped: text, not emphasis
    assert "[chapter 1's law](https://o.github.io/r/book/01_theory.html) predicts" in text
    assert "([1. Theory](https://o.github.io/r/book/01_theory.html);" in text
    assert "[`run()`](https://o.github.io/r/book/appendix_api.html#flsim.run), `flsim.sweep()`)" in text
    assert "`{glue:text}` stays in code, as $z_{i}$ in math" in text and "$$\n\\frac{a}{b}\n$$" in text
    assert "> **Note**\n>\n> Runs come from the cache: 12 of them." in text
    assert "> **Why the median**\n>\n> The mean is pulled by the attacker." in text
    assert "**Figure** (the output of the code cell below): The ratio of each tensor." in text
    assert "```python\n{glue:text}`left_alone`\n```" in text  # a code block shows code as it is
    assert "(the-target)=" not in text and "a comment" not in text


def test_the_copy_keeps_what_a_reader_sees_and_says_what_it_is(copy):
    nbformat.validate(nbformat.from_dict(copy))
    assert copy["cells"][0]["source"] == ["*A reading copy.*"] and copy["cells"][0]["cell_type"] == "markdown"
    glue, figure = copy["cells"][2:]
    assert [o["metadata"]["scrapbook"]["name"] for o in glue["outputs"]] == ["runs"]  # the hidden record is gone
    assert "".join(figure["outputs"][0]["data"]["image/png"]) == PNG
    caption = "".join(figure["outputs"][1]["data"]["text/markdown"])
    assert caption == "*The ratio, as [chapter 1](https://o.github.io/r/book/01_theory.html) derives it.*"
    assert [found for text in rc.notebook_text(copy) for found in rc.raw_markup(text)] == []
    assert len(rc.raw_markup(TEXT)) >= 10  # and the same checks find the markup in the source


def test_a_value_is_shown_as_the_page_shows_it():
    from myst_nb.core.variables import format_plain_text

    for plain, spec in [("0.7777", ".0%"), ("8.9012", ".2f"), ("12345", ","), ("3", "d"), ("2.5", "d"),
                        ("'fc2.bias'", "s"), ("fc2.bias", "s"), ("1e-05", ".1e"), ("[1, 2]", "s"), ("7", "")]:
        assert rc.format_text(plain, spec) == format_plain_text(plain, spec), (plain, spec)
    assert rc.glue_key("04_regimes.ipynb::law_best_text:s", "book/06_lr") == ("book/04_regimes", "law_best_text", "s")
    assert rc.glue_key("ratio", "book/06_lr") == ("book/06_lr", "ratio", "s")
    assert rc.escape("a*b_c [d] <e> |f| $g") == "a\\*b\\_c [d] \\<e> \\|f\\| \\$g"


def test_directives_become_quotes_code_and_math():
    text = ("````{warning}\nOuter {glue:text}`n`.\n\n```{tip}\nInner.\n```\n````\n\n"
            "```{code-block} python\n:linenos:\nflsim.run()\n```\n\n```{math}\n:label: law\nk = 1\n```\n\n"
            ":::{dropdown} More\nHidden in the book.\n:::")
    assert rc.markdown(text, "book/03", {"book/03": {"n": {"text/plain": "3"}}}, BOOK) == (
        "> **Warning**\n>\n> Outer 3.\n>\n> > **Tip**\n> >\n> > Inner.\n\n"
        "```python\nflsim.run()\n```\n\n$$\nk = 1\n$$\n\n> **More**\n>\n> Hidden in the book.")


def test_raw_markup_names_what_would_show_raw():
    for text, what in [("{glue:text}`x`", "a role"), ("see {eq}`law`", "a role"),
                       ("```{list-table}\n```", "a directive"),
                       (":::{note}\n:::", "a directive"), ("{{ book_url }}", "a substitution"),
                       ("(label)=\n# T", "a target"), ("% hidden", "a comment"), ("+++", "a block break")]:
        assert rc.raw_markup(text) and rc.raw_markup(text)[0].startswith(what), text
    assert rc.raw_markup("$x_{i}$, a {set} of 10% and `code`\n\n```python\nx = {1: 2}\n```") == []


def test_what_the_converter_does_not_know_is_left_for_raw_markup_to_name():
    """A construct new to the chapters fails the chapters' test below (and the build) instead of showing raw."""
    text = "See {eq}`the-law`.\n\n```{list-table}\n* - a\n```\n"
    assert rc.markdown(text, "book/03", {}, BOOK) == text
    assert len(rc.raw_markup(rc.markdown(text, "book/03", {}, BOOK))) == 2


def test_a_value_the_run_did_not_glue_or_cannot_format_is_named():
    with pytest.raises(rc.MissingGlue, match="book/03: no glued value 'absent'"):
        rc.markdown("{glue:text}`absent:.2f`", "book/03", {"book/03": {}}, BOOK)
    with pytest.raises(rc.GlueError, match="could not convert string to float"):
        rc.markdown("{glue:text}`name:.2f`", "book/03", {"book/03": {"name": {"text/plain": "'fc2.bias'"}}}, BOOK)
    # myst-nb reads this as the key "06_lr.ipynb:" formatted by "x", and fails the build: so does the copy
    with pytest.raises(rc.GlueError, match="write .*06_lr.ipynb::x:s"):
        rc.markdown("{glue:text}`06_lr.ipynb::x`", "book/03", {"book/06_lr": {"x": {"text/plain": "1"}}}, BOOK)


def _title(path: Path) -> str:
    cells = nbformat.read(path, as_version=4).cells
    return next(re.sub(r"^#\s*", "", c.source.strip().splitlines()[0]) for c in cells if c.cell_type == "markdown")


def test_there_are_chapters():
    assert len(CHAPTERS) >= 8


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_chapter_reads_without_book_markup(path):
    """The chapter as it is in book/, every glued value it cites given a placeholder: its copy shows no raw markup."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    docname = f"book/{path.stem}"
    values = {}
    for text in rc.notebook_text(notebook):
        for doc, name in rc.glue_references(text, docname):
            values.setdefault(doc, {})[name] = {"text/plain": "12", "text/markdown": "12", "image/png": PNG}
    book = rc.Book(url="https://o.github.io/r/", titles={f"book/{p.stem}": _title(p) for p in CHAPTERS})
    copy = rc.reading_copy(notebook, docname, values, book, first_cell="*A reading copy.*")
    raw = [f"{found}" for text in rc.notebook_text(copy) for found in rc.raw_markup(text)]
    assert raw == [], f"{path.name} would show book markup raw in its reading copy: {raw[:5]}"
    assert len(copy["cells"]) == len(notebook["cells"]) + 1


def test_the_chapters_use_book_markup_the_copies_take_out():
    """Without this, the test above could pass on chapters that the check cannot see into."""
    sources = [text for path in CHAPTERS for text in rc.notebook_text(json.loads(path.read_text(encoding="utf-8")))]
    assert sum(len(rc.raw_markup(text)) for text in sources) > 100


def test_the_books_config_writes_the_copies_for_the_colab_branch():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert "colab_copies" in config["sphinx"]["local_extensions"]
    assert config["sphinx"]["config"]["colab_branch"] == "colab"


CONF = """
import sys
sys.path.insert(0, {ext!r})
extensions = ["myst_nb", "book_site", "colab_copies"]
html_theme = "sphinx_book_theme"
html_theme_options = {{"repository_url": "https://github.com/o/r", "repository_branch": "main",
                      "launch_buttons": {{"colab_url": "https://colab.research.google.com"}},
                      "use_repository_button": True}}
myst_enable_extensions = ["dollarmath", "colon_fence", "substitution"]
nb_execution_mode = "force"
colab_branch = "colab"
"""

CHAPTER_TEXT = """# 1. A chapter

The attacker leads in {glue:text}`share:.0%` of runs, by {glue:text}`tensor` (see {doc}`the intro <../index>`).

```{note}
The numbers come from the run above.
```
"""


def test_a_build_writes_each_chapters_reading_copy_and_its_colab_button_opens_it(tmp_path):
    """A two-page book built by Sphinx with the book's theme, myst-nb and the two extensions."""
    import subprocess

    (tmp_path / "conf.py").write_text(CONF.format(ext=str(ROOT / "book" / "_ext")))
    (tmp_path / "index.md").write_text("# The book\n\n```{toctree}\nbook/01_chapter\n```\n")
    (tmp_path / "book").mkdir()
    glue = new_code_cell('from myst_nb import glue\nglue("share", 0.7777, display=False)\n'
                         'glue("tensor", "fc2.bias")')
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    chapter = new_notebook(cells=[glue, new_markdown_cell(CHAPTER_TEXT)], metadata={"kernelspec": kernel})
    nbformat.write(chapter, tmp_path / "book" / "01_chapter.ipynb")
    html = tmp_path / "_build" / "html"
    built = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", str(tmp_path), str(html)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    copy = json.loads((html / "_colab" / "book" / "01_chapter.ipynb").read_text())
    text = "".join(copy["cells"][2]["source"])
    assert text.startswith("# 1. A chapter\n\nThe attacker leads in 78% of runs, by fc2.bias (see [the intro]"
                           "(https://o.github.io/r/index.html)).\n\n> **Note**"), text
    assert "https://o.github.io/r/book/01_chapter.html" in "".join(copy["cells"][0]["source"])
    assert ["".join(o["data"]["text/plain"]) for o in copy["cells"][1]["outputs"]] == ["'fc2.bias'"]  # shown glue only
    assert "github.com/o/r" in (html / "_colab" / "README.md").read_text()
    page = (html / "book" / "01_chapter.html").read_text()
    assert "https://colab.research.google.com/github/o/r/blob/colab/book/01_chapter.ipynb" in page
    assert "blob/main/book/01_chapter.ipynb" not in page
