"""Sphinx extension: each chapter's reading copy, the notebook its Colab button opens, written by every build.

When the build finishes, each chapter's executed notebook (myst-nb's ``_build/jupyter_execute``) is
turned into its reading copy (``reading_copy.py``: glued values in place, the book's markup made
plain Markdown, outputs kept) at ``_build/html/_colab/<docname>.ipynb`` (``_colab/book/04_regimes.ipynb``),
beside a README saying what the folder is. The book workflow pushes the folder to the repository's
``colab`` branch (``colab_branch`` in the Sphinx config), where the files sit at the paths the chapters
have on main, and the chapters' Colab buttons open them there (``book_site.py``).

A copy that would still show book markup raw (a role or directive the converter does not know) fails
the build with :class:`UnreadableCopy`, naming the chapter and the markup.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import book_site
import reading_copy

FOLDER = "_colab"  # in the built HTML: published with the book, and pushed to the colab branch

README = """# Reading copies of the book's chapters

This branch is written by the book workflow (`.github/workflows/book.yml`) on every push to main;
do not edit it. Each `book/NN_*.ipynb` here is a chapter as the book's build executed it, its
numbers written into the text and its outputs kept, so that it reads well on Colab, in Jupyter and on
GitHub. The chapters' sources are on the main branch of {repository}; the book is at {book}.
"""


class UnreadableCopy(Exception):
    """A chapter's reading copy would show book markup raw, or cites a glued value the build lacks."""


def book_of(app) -> reading_copy.Book:
    """What the chapters' references point at, from the build's environment."""
    env = app.env
    url = book_site.pages_url(app.config.html_theme_options["repository_url"])
    objects = {name: f"{entry.docname}.html#{entry.node_id}" for name, entry in env.domaindata["py"]["objects"].items()}
    return reading_copy.Book(url=url, titles={doc: title.astext() for doc, title in env.titles.items()},
                             objects=objects, labels=dict(env.domaindata["std"]["labels"]),
                             substitutions=dict(getattr(app.config, "myst_substitutions", {})))


def _chapters(app) -> dict[str, str]:
    """docname -> source path (book/04_regimes.ipynb) of each notebook page."""
    sources = {doc: Path(app.env.doc2path(doc, False)).as_posix() for doc in sorted(app.env.found_docs)}
    return {doc: source for doc, source in sources.items() if source.endswith(".ipynb")}


def _write_copies(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    executed = Path(app.env.mystnb_config.output_folder)
    options = app.config.html_theme_options
    repository, branch = options["repository_url"], options.get("repository_branch", "main")
    book = book_of(app)
    chapters = _chapters(app)
    values = {}
    for doc in chapters:
        glue = executed / f"{doc}.glue.json"
        values[doc] = reading_copy.glue_file_data(json.loads(glue.read_text())) if glue.exists() else {}
    folder = Path(app.outdir) / FOLDER
    shutil.rmtree(folder, ignore_errors=True)  # no copy of a chapter that has gone
    problems = []
    for doc, source in chapters.items():
        notebook = json.loads((executed / f"{doc}.ipynb").read_text(encoding="utf-8"))
        first = reading_copy.note(book.titles.get(doc, doc), book.page(doc),
                                  book_site.source_link(repository, branch, source), source)
        try:
            copy = reading_copy.reading_copy(notebook, doc, values, book, first_cell=first)
        except reading_copy.GlueError as error:
            problems.append(f"{source}: {error}")
            continue
        problems += [f"{source}: {found}" for text in reading_copy.notebook_text(copy)
                     for found in reading_copy.raw_markup(text)]
        path = folder / source
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(copy, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (folder / "README.md").write_text(README.format(repository=repository, book=book.url), encoding="utf-8")
    if problems:
        raise UnreadableCopy("reading copies (_build/html/_colab) that would show book markup raw; teach "
                             "book/_ext/reading_copy.py the construct, or write it as plain Markdown:\n"
                             + "\n".join(problems))


def setup(app):
    app.setup_extension("book_site")
    app.connect("build-finished", _write_copies)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
