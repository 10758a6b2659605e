"""Sphinx extension: the book's online address, and each chapter's buttons checked in the built pages.

``_config.yml``'s ``repository`` is the one place the repository is written down. From it:

- the address GitHub Pages serves the book at (``pages_url``), offered to the pages as the MyST
  substitution ``{{ book_url }}`` (the intro's "read it online");
- each chapter's launch (Colab) and repository links (``expected_links``), looked for in every
  chapter's built HTML when the build finishes: a page without them fails the build, naming the
  page and the missing link.

The Colab button opens the chapter's reading copy (``colab_copies.py``: its numbers in the text, its
outputs kept), which the book workflow pushes to the repository's ``colab_branch`` (``colab``) at the
path the chapter has on main; the theme's button, which would open the source on main, is pointed
there before the page is written.
"""

from __future__ import annotations

import re
from pathlib import Path

_GITHUB = re.compile(r"https://github\.com/(?P<owner>[\w.-]+)/(?P<repo>[\w.-]+?)(?:\.git)?/?")


class MissingLinks(Exception):
    """A chapter's built page lacks a launch or repository link derived from ``_config.yml``."""


def _parts(repository_url: str) -> tuple[str, str]:
    match = _GITHUB.fullmatch(repository_url)
    if not match:
        raise ValueError(f"_config.yml's repository url must be https://github.com/OWNER/REPO, "
                         f"not {repository_url!r}")
    return match["owner"], match["repo"]


def pages_url(repository_url: str) -> str:
    """Where GitHub Pages publishes a repository's site: https://OWNER.github.io/REPO/."""
    owner, repo = _parts(repository_url)
    if repo.lower() == f"{owner.lower()}.github.io":  # a user or organisation site
        return f"https://{owner.lower()}.github.io/"
    return f"https://{owner.lower()}.github.io/{repo}/"


COLAB = "https://colab.research.google.com"


def colab_link(repository_url: str, colab_branch: str, source: str) -> str:
    """The Colab address of a chapter's reading copy (``source``: book/04_regimes.ipynb) on ``colab_branch``."""
    owner, repo = _parts(repository_url)
    return f"{COLAB}/github/{owner}/{repo}/blob/{colab_branch}/{source}"


def source_link(repository_url: str, branch: str, source: str) -> str:
    """A chapter's source notebook on GitHub, on ``branch``."""
    owner, repo = _parts(repository_url)
    return f"https://github.com/{owner}/{repo}/blob/{branch}/{source}"


def expected_links(repository_url: str, colab_branch: str, source: str) -> list[str]:
    """The Colab launch link (the reading copy on ``colab_branch``) and the repository link a chapter's
    page (``source``: book/04_regimes.ipynb) carries."""
    owner, repo = _parts(repository_url)
    return [colab_link(repository_url, colab_branch, source), f"https://github.com/{owner}/{repo}"]


def point_colab_buttons(header_buttons: list, colab_url: str) -> int:
    """Set the url of each Colab launch button among a page's ``header_buttons`` (sphinx-book-theme's
    template context: groups of buttons with ``url``) to ``colab_url``; how many were set."""
    count = 0
    for button in header_buttons:
        count += point_colab_buttons(button.get("buttons", []), colab_url)
        if str(button.get("url", "")).startswith(f"{COLAB}/"):
            button["url"] = colab_url
            count += 1
    return count


def missing_links(html: str, links: list[str]) -> list[str]:
    """The links of ``links`` that no ``href`` of ``html`` points at."""
    targets = set(re.findall(r'href="([^"]*)"', html))
    return [link for link in links if link not in targets]


def _offer_book_url(app, config):
    url = pages_url(config.html_theme_options["repository_url"])
    config.myst_substitutions = {**config.myst_substitutions, "book_url": f"<{url}>"}


def _open_reading_copies(app, pagename, templatename, context, doctree):
    source = Path(app.env.doc2path(pagename, False)) if pagename in app.env.found_docs else None
    if source is None or source.suffix != ".ipynb" or "header_buttons" not in context:
        return
    point_colab_buttons(context["header_buttons"], colab_link(app.config.html_theme_options["repository_url"],
                                                              app.config.colab_branch, source.as_posix()))


def _check_chapter_pages(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    options = app.config.html_theme_options
    problems = []
    for docname in sorted(app.env.found_docs):
        source = Path(app.env.doc2path(docname, False))
        if source.suffix != ".ipynb":
            continue
        page = Path(app.outdir) / f"{docname}.html"
        links = expected_links(options["repository_url"], app.config.colab_branch, source.as_posix())
        problems += [f"{page.relative_to(app.outdir)}: no link to {link}"
                     for link in missing_links(page.read_text(encoding="utf-8"), links)]
    if problems:
        raise MissingLinks("chapter pages without the links _config.yml's repository gives them:\n"
                           + "\n".join(problems))


def setup(app):
    app.add_config_value("colab_branch", "colab", "html")  # where the workflow pushes the reading copies
    app.connect("config-inited", _offer_book_url)
    app.connect("html-page-context", _open_reading_copies, priority=900)  # after the theme's buttons (501)
    app.connect("build-finished", _check_chapter_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
