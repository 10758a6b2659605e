"""Sphinx extension: what a reader sees on a chapter's page, checked when the build finishes.

A chapter's text and outputs (its code inputs aside) may not show a value that is not a number a
reader can use, nor a phrase generated without care:

- ``nan``, ``NaN``, ``<NA>``, ``inf``: a missing or infinite value printed where the text promises
  a blank cell or a number;
- a negative zero such as ``-0.0`` or ``(-0.0000)``: a rounding artefact that reads as a sign;
- ``(s)``: a plural left to the reader ("1 round(s)").

A page that shows one fails the build with :class:`UnreadableText`, naming the page and the
passage. The intro is checked like the chapters; the API appendix is not (docstrings may say "NaN").
"""

from __future__ import annotations

import re
from pathlib import Path

from bs4 import BeautifulSoup

# Each pattern with the reason a reader would stumble on it.
PATTERNS = {
    "a missing value": re.compile(r"(?<![\w.-])(?:nan|NaN|NAN|<NA>)(?![\w-])"),
    "an infinite value": re.compile(r"(?<![\w.\\-])-?inf(?![\w-])"),
    "a negative zero": re.compile(r"(?<![\w-])[-\u2212]0(?:\.0+)?(?![\d.]*[1-9])(?![\d])"),
    "a generated plural": re.compile(r"\w\(s\)"),
}


class UnreadableText(Exception):
    """A chapter's rendered page shows a missing value, a negative zero or a generated plural."""


def visible_text(html: str) -> str:
    """The text a reader sees on a built page: the article, without code inputs, scripts and styles."""
    soup = BeautifulSoup(html, "html.parser")
    article = soup.find("article") or soup
    for hidden in article.select("script, style, div.cell_input, .cell_input, div.highlight"):
        hidden.decompose()
    return article.get_text(" ")


def problems(text: str) -> list[str]:
    """Each passage of ``text`` a reader would stumble on, with why: 'a negative zero: ...(-0.0000)...'."""
    found = []
    for why, pattern in PATTERNS.items():
        for match in pattern.finditer(text):
            context = " ".join(text[max(0, match.start() - 40): match.end() + 40].split())
            found.append(f"{why}: ...{context}...")
    return found


def _check_pages(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    report = []
    for docname in sorted(app.env.found_docs):
        source = Path(app.env.doc2path(docname, False))
        if source.suffix != ".ipynb" and source.stem != "intro":
            continue
        page = Path(app.outdir) / f"{docname}.html"
        report += [f"{page.relative_to(app.outdir)}: {problem}"
                   for problem in problems(visible_text(page.read_text(encoding="utf-8")))]
    if report:
        raise UnreadableText("pages that show what a reader cannot use:\n" + "\n".join(report))


def setup(app):
    app.connect("build-finished", _check_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
