"""Sphinx extension: what a reader sees on a chapter's page, checked when the build finishes.

A chapter's text and outputs (its code inputs aside) may not show a value that is not a number a
reader can use, nor a phrase generated without care:

- ``nan``, ``NaN``, ``<NA>``, ``inf``: a missing or infinite value printed where the text promises
  a blank cell or a number;
- a negative zero such as ``-0.0`` or ``(-0.0000)``: a rounding artefact that reads as a sign;
- ``(s)``: a plural left to the reader ("1 round(s)").

A chapter's answer and verdict read in short sentences: on its first screen (what the page shows
before its first code cell) and in its Summary section, no sentence of a paragraph or a list item is
longer than 40 words, glued text included (tables are not sentences).

A page that breaks one fails the build with :class:`UnreadableText`, naming the page and the
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


MAX_SENTENCE_WORDS = 40
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[(\"']*[A-Z])")  # "0.9", "fc2.bias", "e.g. the" end none


class UnreadableText(Exception):
    """A chapter's rendered page shows a missing value, a negative zero, a generated plural or an answer or
    verdict in sentences too long to read."""


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


def long_sentences(text: str, max_words: int = MAX_SENTENCE_WORDS) -> list[str]:
    """The sentences of ``text`` (one paragraph or list item) longer than ``max_words`` words."""
    found = []
    for sentence in SENTENCE_END.split(" ".join(text.split())):
        words = sum(1 for token in sentence.split() if re.search(r"\w", token))
        if words > max_words:
            found.append(f"a sentence of {words} words (at most {max_words}): {sentence[:90]}...")
    return found


def answer_and_verdict(html: str) -> list[str]:
    """The text blocks (paragraphs, list items) of a chapter page's first screen, up to its first code cell,
    and of its Summary section; tables left out."""
    article = BeautifulSoup(html, "html.parser").find("article")
    if article is None:
        return []
    blocks = []
    for element in article.find_all(["p", "li", "div"]):
        if element.name == "div" and "cell" in (element.get("class") or []):
            break
        if element.name != "div" and not element.find_parent("table") and not element.find_parent("li"):
            blocks.append(element.get_text(" "))
    summary = article.find("section", id="summary")
    if summary is not None:
        blocks += [element.get_text(" ") for element in summary.find_all(["p", "li"])
                   if not element.find_parent("table") and not element.find_parent("li")]
    return blocks


def _check_pages(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    report = []
    for docname in sorted(app.env.found_docs):
        source = Path(app.env.doc2path(docname, False))
        if source.suffix != ".ipynb" and source.stem != "intro":
            continue
        page = Path(app.outdir) / f"{docname}.html"
        html = page.read_text(encoding="utf-8")
        found = problems(visible_text(html))
        if source.suffix == ".ipynb":
            found += [problem for block in answer_and_verdict(html) for problem in long_sentences(block)]
        report += [f"{page.relative_to(app.outdir)}: {problem}" for problem in found]
    if report:
        raise UnreadableText("pages that show what a reader cannot use:\n" + "\n".join(report))


def setup(app):
    app.connect("build-finished", _check_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
