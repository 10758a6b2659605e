"""A chapter's reading copy: its executed notebook with the book's markup turned into plain Markdown.

A chapter's text is MyST: ``{glue:text}`` roles take their numbers from the run, ``{doc}`` and
``{func}`` roles link to other pages, directives make admonitions. Colab, JupyterLab and GitHub show
all of that raw. The reading copy is the notebook as the book's build executed it (its outputs kept:
figures and tables show before anything runs), with every glue role replaced by its value as the page
shows it (format specs such as ``:.2f`` respected), references made links to the published book,
admonitions made block quotes, and a first cell saying so. Math stays.

Pure functions on notebook JSON (dicts as :mod:`json` reads them); the Sphinx extension
``colab_copies`` (beside this module) calls them when the book's build finishes, and
tests/test_colab_copy.py tests them. :func:`raw_markup` finds what a copy would still show raw.
"""

from __future__ import annotations

import ast
import copy
import posixpath
import re
from dataclasses import dataclass, field
from typing import Mapping

Bundle = Mapping[str, object]  # a glued value's display data: mime type -> text (or list of lines)


class GlueError(ValueError):
    """A glue role the book's build could not fill either: its value missing, its format wrong."""


class MissingGlue(GlueError):
    """The text cites a glued value the run did not record."""


@dataclass(frozen=True)
class Book:
    """Where the text's references point: the published book and what the build knows of its pages."""

    url: str  # the published book, ending in "/": https://OWNER.github.io/REPO/
    titles: Mapping[str, str] = field(default_factory=dict)  # docname -> page title
    objects: Mapping[str, str] = field(default_factory=dict)  # Python name -> "docname.html#anchor"
    labels: Mapping[str, tuple[str, str, str]] = field(default_factory=dict)  # label -> (docname, anchor, title)
    substitutions: Mapping[str, str] = field(default_factory=dict)  # {{ name }} -> Markdown

    def page(self, docname: str, anchor: str = "") -> str:
        return f"{self.url}{docname}.html" + (f"#{anchor}" if anchor else "")


# ---------------------------------------------------------------------------------------- glue values

def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def glue_data(notebook: Mapping) -> dict[str, dict[str, str]]:
    """name -> display data of each value a notebook's outputs glued (myst-nb's ``scrapbook`` metadata,
    its mime prefix taken off)."""
    found = {}
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            scrapbook = output.get("metadata", {}).get("scrapbook")
            if scrapbook:
                prefix = len(scrapbook.get("mime_prefix", ""))
                found[scrapbook["name"]] = {mime[prefix:]: _text(v) for mime, v in output.get("data", {}).items()}
    return found


def glue_file_data(glue_json: Mapping) -> dict[str, dict[str, str]]:
    """name -> display data from myst-nb's ``NN.glue.json`` (name -> output) of a chapter."""
    return {name: {mime: _text(v) for mime, v in output.get("data", {}).items()} for name, output in glue_json.items()}


def format_text(plain: str, spec: str) -> str:
    """A glued value's ``text/plain`` as ``{glue:text}`name:spec``` shows it (myst-nb's rule: the text
    read as a Python literal where it is one, then formatted by ``spec``; "" or "s" shows it as text)."""
    try:
        value = ast.literal_eval(plain)
    except (SyntaxError, ValueError):
        value = plain
    if spec == "":
        return str(value)
    kind = spec[-1]
    if kind == "s":
        value = str(value)
    elif kind in "bcdoxX":
        value = int(value)
    elif kind in "eEfFgGn%":
        value = float(value)
    return format(value, spec)


# Brackets stay: an interval "[0.61, 0.83]" is no link, and "\[" would read as display math to some renderers.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_<|$])")


def escape(text: str) -> str:
    """``text`` as literal Markdown: a glued value is text on the page, never emphasis, a tag, a table
    column or math."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


# ------------------------------------------------------------------------------------------- roles

_ROLE = re.compile(r"\{(?P<name>[A-Za-z][\w+:.-]*)\}(?P<ticks>`+)(?P<content>[\s\S]*?[^`])(?P=ticks)(?!`)")
# Scanned left to right: a role, or a code span or math kept as it is (a role's content is not a code span).
_INLINE = re.compile(r"(?P<role>\{[A-Za-z][\w+:.-]*\}(?P<rticks>`+)[\s\S]*?[^`](?P=rticks)(?!`))"
                     r"|(?P<code>(?P<cticks>`+)[\s\S]*?[^`](?P=cticks)(?!`))"
                     r"|(?P<math>\$\$[\s\S]+?\$\$|\$(?![\s$])[^$\n]*?(?<![\s\\])\$)")
_SUBSTITUTION = re.compile(r"\{\{\s*(?P<name>[\w.-]+)\s*\}\}")
_TITLED = re.compile(r"(?P<title>[\s\S]*?)\s*<(?P<target>[^<>]+)>\s*$")
_PYTHON_ROLES = {"func", "meth", "class", "mod", "attr", "data", "exc", "obj", "const", "function", "method"}
_GLUE_ROLES = {"glue", "glue:", "glue:any", "glue:text", "glue:md"}


def _titled(content: str) -> tuple[str | None, str]:
    match = _TITLED.fullmatch(content)
    if match and match["title"]:
        return " ".join(match["title"].split()), match["target"].strip()
    return None, content.strip()


def _docname(target: str, docname: str) -> str:
    target = re.sub(r"\.(ipynb|md|rst)$", "", target)
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(docname), target))


def glue_key(content: str, docname: str) -> tuple[str, str, str]:
    """(docname, name, spec) a ``{glue:text}`` role's content cites: ``name``, ``name:.2f`` or
    ``other.ipynb::name:s`` (read as myst-nb reads it: the spec after the last colon)."""
    key, spec = content.rsplit(":", 1) if ":" in content else (content, "s")
    if key.endswith(":"):
        raise GlueError(f"{{glue:text}}`{content}`: myst-nb reads the text after the last colon as the format; "
                        f"write {{glue:text}}`{content}:s`")
    if "::" in key:
        path, key = key.split("::", 1)
        return _docname(path, docname), key, spec
    return docname, key, spec


def glue_references(text: str, docname: str) -> set[tuple[str, str]]:
    """(docname, name) of each glued value the MyST ``text`` of page ``docname`` cites (roles and directives)."""
    cited = set()
    for match in _INLINE.finditer(text):
        role = match["role"] and _ROLE.fullmatch(match[0])
        if role and role["name"] in _GLUE_ROLES:
            content = role["content"] if role["name"] == "glue:text" else role["content"] + ":s"
            cited.add(glue_key(re.sub(r":(commonmark|myst|gfm):s$", ":s", content), docname)[:2])
    for match in re.finditer(r"^ *(?:`{3,}|~{3,}|:{3,})\s*\{glue(?::\w*)?\}\s*(\S+)", text, re.M):
        cited.add(glue_key(match[1] + ":s", docname)[:2])
    return cited


def _glued(values: Mapping[str, Mapping[str, Bundle]], doc: str, name: str) -> Bundle:
    try:
        return values[doc][name]
    except KeyError:
        raise MissingGlue(f"{doc}: no glued value {name!r}") from None


def _glue_role(role: str, content: str, docname: str, values) -> str:
    if role == "glue:text":
        doc, name, spec = glue_key(content, docname)
        try:
            return escape(format_text(_text(_glued(values, doc, name).get("text/plain", "")), spec))
        except (TypeError, ValueError) as error:
            if isinstance(error, GlueError):
                raise
            raise GlueError(f"{{glue:text}}`{content}`: {error}") from None
    if role == "glue:md":
        doc, name, _ = glue_key(re.sub(r":(commonmark|myst|gfm)$", "", content) + ":s", docname)
        return _text(_glued(values, doc, name).get("text/markdown", ""))
    doc, name, _ = glue_key(content + ":s", docname)  # {glue}: the page shows its richest text
    data = _glued(values, doc, name)
    if "text/markdown" in data:
        return _text(data["text/markdown"])
    return f"`{format_text(_text(data.get('text/plain', '')), '')}`"


def _python_role(role: str, content: str, book: Book) -> str:
    title, target = _titled(content)
    target = target.lstrip(".")
    if title is None:  # as Sphinx shows it: "~" keeps the last name, a function gets "()"
        title = target.lstrip("~").rsplit(".", 1)[-1] if target.startswith("~") else target
        title += "()" if role in {"func", "meth", "function", "method"} else ""
    target = target.lstrip("~")
    where = book.objects.get(target)
    return f"[`{title}`]({book.url}{where})" if where else f"`{title}`"


def _reference(role: str, content: str, docname: str, book: Book) -> str:
    title, target = _titled(content)
    if role == "doc":
        doc = _docname(target, docname)
        return f"[{title or book.titles.get(doc, doc)}]({book.page(doc)})"
    label = target.lower()
    if label in book.labels:
        doc, anchor, label_title = book.labels[label]
        text = (title or label_title or target).replace("%s", "").replace("{number}", "").strip()
        return f"[{text}]({book.page(doc, anchor)})"
    return (title or target).replace("%s", "").replace("{number}", "").strip()


def _role(match: re.Match, docname: str, values, book: Book) -> str:
    role, content = match["name"], match["content"]
    role = role.removeprefix("py:").removeprefix("std:")
    if role in _GLUE_ROLES:
        return _glue_role(role, content, docname, values)
    if role in _PYTHON_ROLES:
        return _python_role(role, content, book)
    if role in {"doc", "ref", "numref"}:
        return _reference(role, content, docname, book)
    if role == "math":
        return f"${content}$"
    if role in {"sub", "sup", "kbd"}:
        return f"<{role}>{content}</{role}>"
    if role in {"term", "abbr", "download"}:
        return _titled(content)[0] or re.sub(r"\s*\(.*\)$", "", content)
    return match[0]  # unknown: left as it is, for raw_markup to name


def _inline(text: str, docname: str, values, book: Book) -> str:
    """Roles and substitutions of ``text`` replaced; code spans and math kept as they are."""
    def replace(match: re.Match) -> str:
        if match["role"] is None:
            return match[0]
        return _role(_ROLE.fullmatch(match[0]), docname, values, book)

    text = _INLINE.sub(replace, text)
    return _SUBSTITUTION.sub(lambda m: book.substitutions.get(m["name"], m[0]), text)


# -------------------------------------------------------------------------------------- directives

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,}|:{3,})\s*(?P<info>.*?)\s*$")
_DIRECTIVE = re.compile(r"\{(?P<name>[\w:.-]+)\}\s*(?P<argument>.*)")
_OPTION = re.compile(r"^\s*:[\w-]+:")
_ADMONITIONS = {"note", "tip", "hint", "important", "warning", "caution", "attention", "danger", "error",
                "seealso", "admonition", "dropdown", "margin", "sidebar", "topic", "epigraph"}
_TITLES = {"seealso": "See also"}


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return len(stripped) >= len(fence) and set(stripped) == {fence[0]}


def _quote(title: str, body: str) -> str:
    lines = [f"**{title}**"] + ([""] + body.splitlines() if body.strip() else [])
    return "\n".join(f"> {line}".rstrip() for line in lines)


def _directive(name: str, argument: str, body: str, docname: str, values, book: Book,
               figures: Mapping[str, str]) -> str | None:
    """The Markdown for a directive, or None where none is known (it is then left raw)."""
    if name in _ADMONITIONS:
        if name in {"admonition", "dropdown", "sidebar", "topic"} and argument:
            title = argument
        else:
            title = _TITLES.get(name, name.capitalize())
            body = f"{argument}\n{body}" if argument else body
        return _quote(_inline(title, docname, values, book), markdown(body, docname, values, book, figures))
    if name == "math":
        return f"$$\n{body.strip()}\n$$"
    if name in {"code", "code-block", "sourcecode"}:
        return f"```{argument}\n{body}\n```"
    if name in {"glue:figure", "glue", "glue:", "glue:any"}:
        doc, key, _ = glue_key(argument + ":s", docname)
        data = _glued(values, doc, key)
        caption = markdown(body, docname, values, book, figures).strip()
        if any(mime.startswith("image/") for mime in data):
            where = figures.get(key, "drawn by a code cell of this chapter")
            return f"**Figure** ({where}){': ' + caption if caption else '.'}"
        plain = _text(data.get("text/plain", ""))
        shown = _text(data["text/markdown"]) if "text/markdown" in data else f"```\n{plain}\n```"
        return shown + (f"\n\n{caption}" if caption else "")
    if name in {"glue:md", "glue:math"}:
        data = _glued(values, *glue_key(argument + ":s", docname)[:2])
        if name == "glue:md":
            return _text(data.get("text/markdown", ""))
        return f"$$\n{_text(data.get('text/latex', '')).strip().strip('$')}\n$$"
    return None


def _split_options(lines: list[str]) -> tuple[dict[str, str], list[str]]:
    options = {}
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), 0)
        for line in lines[1:end]:
            key, _, value = line.partition(":")
            options[key.strip()] = value.strip()
        return options, lines[end + 1:]
    while lines and _OPTION.match(lines[0]):
        key, _, value = lines.pop(0).strip()[1:].partition(":")
        options[key] = value.strip()
    return options, lines


def markdown(text: str, docname: str, values: Mapping[str, Mapping[str, Bundle]], book: Book,
             figures: Mapping[str, str] | None = None) -> str:
    """MyST Markdown ``text`` of page ``docname`` as plain Markdown.

    ``values``: docname -> glue name -> display data (this page's and those its text cites);
    ``figures``: glued figure name -> where the notebook shows it ("the output of the code cell above").
    Glue roles become their values (:class:`MissingGlue` where one is not there), references links to
    ``book``'s pages, admonitions block quotes; target lines ``(label)=``, ``%`` comments and ``+++``
    go. Code blocks and math are kept. What it does not know is left as it is: :func:`raw_markup`.
    """
    figures = figures or {}
    lines = text.split("\n")
    out, prose, i, in_math = [], [], 0, False

    def flush():
        if prose:
            out.append(_inline("\n".join(prose), docname, values, book))
            prose.clear()

    while i < len(lines):
        line = lines[i]
        fence = None if in_math else _FENCE.match(line)
        if fence:
            end = next((j for j in range(i + 1, len(lines)) if _closes(lines[j], fence["fence"])), len(lines))
            directive = _DIRECTIVE.fullmatch(fence["info"])
            converted = None
            if directive:
                _, body = _split_options(lines[i + 1:end])  # a directive's options have no Markdown
                converted = _directive(directive["name"], directive["argument"], "\n".join(body),
                                       docname, values, book, figures)
            flush()
            out.append(converted if converted is not None else "\n".join(lines[i:end + 1]))
            i = end + 1
            continue
        if line.count("$$") % 2:
            in_math = not in_math
        if not in_math and (re.fullmatch(r"\s*\([\w:.-]+\)=\s*", line) or re.match(r"%|\+\+\+\s*$", line)):
            i += 1
            continue
        prose.append(line)
        i += 1
    flush()
    return "\n".join(out)


# ------------------------------------------------------------------------------------- what is left

_RAW = {
    "a role": re.compile(r"\{[A-Za-z][\w+:.-]*\}`"),
    "a directive": re.compile(r"^\s*(?:`{3,}|~{3,}|:{3,})\s*\{", re.M),
    "a colon fence": re.compile(r"^\s*:{3,}", re.M),
    "a substitution": re.compile(r"\{\{[^{}]*\}\}"),
    "a target": re.compile(r"^\s*\([\w:.-]+\)=\s*$", re.M),
    "a comment": re.compile(r"^%", re.M),
    "a block break": re.compile(r"^\+\+\+", re.M),
}


def _prose(text: str) -> str:
    """``text`` without its code blocks and code spans, which show what they hold as it is."""
    lines, kept, fence = text.split("\n"), [], None
    for line in lines:
        opening = _FENCE.match(line)
        if fence is None and opening and opening["fence"][0] != ":" and not opening["info"].startswith("{"):
            fence = opening["fence"]
        elif fence is not None and _closes(line, fence):
            fence = None
        else:
            kept.append("" if fence else line)
    return _INLINE.sub(lambda m: "" if m["code"] is not None else m[0], "\n".join(kept))


def raw_markup(text: str) -> list[str]:
    """Each piece of book markup ``text`` would show raw in Jupyter, Colab or GitHub: 'a role: {doc}`x`'
    (code blocks and code spans aside)."""
    text, found = _prose(text), []
    for what, pattern in _RAW.items():
        for match in pattern.finditer(text):
            end = text.find("\n", match.end())
            found.append(f"{what}: {text[match.start():end if end != -1 else None][:80].strip()}")
    return found


def notebook_text(notebook: Mapping) -> list[str]:
    """The Markdown a notebook shows: its markdown cells and its outputs' ``text/markdown``."""
    texts = []
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "markdown":
            texts.append(_text(cell.get("source", "")))
        for output in cell.get("outputs", []):
            if "text/markdown" in output.get("data", {}):
                texts.append(_text(output["data"]["text/markdown"]))
    return texts


# --------------------------------------------------------------------------------- the reading copy

def figure_places(notebook: Mapping) -> dict[str, int]:
    """Glued figure name -> index of the code cell that names it (``figure(..., name="x")``, ``glue("x", fig)``)."""
    places = {}
    for index, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") == "code":
            for name in re.findall(r"""(?:name\s*=\s*|glue\(\s*)["']([\w.-]+)["']""", _text(cell.get("source", ""))):
                places.setdefault(name, index)
    return places


def _source_lines(text: str) -> list[str]:
    lines = text.split("\n")
    return [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])


def note(title: str, page_url: str, source_url: str, source: str) -> str:
    """The copy's first cell: what it is, and what running it does."""
    return (f"*This is the reading copy of [{title}]({page_url}) from the book's build: the numbers in the "
            f"text and the outputs below are that build's. Running a cell recomputes its output, but not the "
            f"numbers in the text. The chapter's source is [{source}]({source_url}).*")


def reading_copy(notebook: Mapping, docname: str, values: Mapping[str, Mapping[str, Bundle]], book: Book,
                 first_cell: str | None = None) -> dict:
    """The reading copy of an executed chapter (``notebook``, page ``docname``): every markdown cell and
    Markdown output through :func:`markdown`, outputs kept but those only glue records, ``first_cell``
    (Markdown) put first. ``values`` as :func:`markdown` takes them; the notebook's own glue outputs
    are added to its page's."""
    copy_ = copy.deepcopy(dict(notebook))
    values = {**values, docname: {**glue_data(notebook), **values.get(docname, {})}}
    places = figure_places(notebook)
    for index, cell in enumerate(copy_["cells"]):
        figures = {name: f"the output of the code cell {'above' if where < index else 'below'}"
                   for name, where in places.items()}
        if cell["cell_type"] == "markdown":
            cell["source"] = _source_lines(markdown(_text(cell["source"]), docname, values, book, figures))
        outputs = []
        for output in cell.get("outputs", []):
            scrapbook = output.get("metadata", {}).get("scrapbook")
            if scrapbook and scrapbook.get("mime_prefix"):
                continue  # a glue record: nothing a reader sees
            if "text/markdown" in output.get("data", {}):
                output["data"]["text/markdown"] = _source_lines(
                    markdown(_text(output["data"]["text/markdown"]), docname, values, book, figures))
            outputs.append(output)
        if "outputs" in cell:
            cell["outputs"] = outputs
    if first_cell is not None:
        cell = {"cell_type": "markdown", "metadata": {}, "source": _source_lines(first_cell)}
        if any("id" in c for c in copy_["cells"]):  # nbformat 4.5 and later: every cell has an id
            cell = {"id": "reading-copy", **cell}
        copy_["cells"].insert(0, cell)
    return copy_
