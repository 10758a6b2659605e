"""The book's online address and each chapter's launch and repository links, derived from
_config.yml's repository (book/_ext/book_site.py, which checks the built pages with them)."""

import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import book_site  # noqa: E402

REPOSITORY = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]


def test_pages_url_of_a_project_and_of_a_user_site():
    assert book_site.pages_url("https://github.com/Some-Org/flsim") == "https://some-org.github.io/flsim/"
    assert book_site.pages_url("https://github.com/someone/someone.github.io.git") == "https://someone.github.io/"
    with pytest.raises(ValueError, match="repository url"):
        book_site.pages_url("https://gitlab.com/someone/flsim")


def test_a_chapters_links_point_at_its_reading_copy_and_the_repository():
    links = book_site.expected_links("https://github.com/o/r", "colab", "book/04_regimes.ipynb")
    assert links == ["https://colab.research.google.com/github/o/r/blob/colab/book/04_regimes.ipynb",
                     "https://github.com/o/r"]
    page = ('<a href="https://github.com/o/r" class="btn">'
            '<a href="https://colab.research.google.com/github/o/r/blob/colab/book/04_regimes.ipynb">')
    assert book_site.missing_links(page, links) == []
    # the theme's own button opens the source on main, which shows the book's markup raw
    assert book_site.missing_links(page.replace("/colab/", "/main/"), links) == [links[0]]
    assert book_site.source_link("https://github.com/o/r", "main", "book/04_regimes.ipynb") == \
        "https://github.com/o/r/blob/main/book/04_regimes.ipynb"


def test_the_colab_button_is_pointed_at_the_reading_copy():
    """sphinx-book-theme's template context: a group of launch buttons among the header's buttons."""
    theme = "https://colab.research.google.com/github/o/r/blob/main/book/04_regimes.ipynb"
    colab = {"type": "link", "text": "Colab", "url": theme}
    buttons = [{"type": "group", "label": "launch-buttons", "buttons": [colab]},
               {"type": "link", "url": "https://github.com/o/r"}]
    copy = book_site.colab_link("https://github.com/o/r", "colab", "book/04_regimes.ipynb")
    assert book_site.point_colab_buttons(buttons, copy) == 1
    assert buttons[0]["buttons"][0]["url"] == copy and buttons[1]["url"] == "https://github.com/o/r"
    assert book_site.point_colab_buttons([{"type": "link", "url": "https://github.com/o/r"}], copy) == 0
    assert yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]["colab_branch"] == "colab"


def test_readme_and_intro_give_the_address_from_config():
    url = book_site.pages_url(REPOSITORY["url"])
    assert url in (ROOT / "README.md").read_text()
    assert "{{ book_url }}" in (ROOT / "book" / "intro.md").read_text()  # filled in by the extension
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert "substitution" in config["parse"]["myst_enable_extensions"]
    assert "book_site" in config["sphinx"]["local_extensions"]


def test_every_flsim_module_has_its_page_in_the_api_appendix():
    """A chapter that cites a function of a module the appendix leaves out fails the strict build
    (a nitpick warning); the unit test says so in seconds, naming the module."""
    package = ROOT / "flsim"
    modules = {f"flsim.{path.stem}" for path in package.glob("*.py") if not path.stem.startswith("_")}
    modules |= {f"flsim.{path.name}" for path in package.iterdir() if (path / "__init__.py").exists()}
    documented = set(re.findall(r"automodule:: (flsim[\w.]*)", (ROOT / "book" / "appendix_api.md").read_text()))
    assert sorted(modules - documented) == []
