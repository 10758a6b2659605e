"""The commands the README and the book show are valid.

Every ``papermill book/<chapter>.ipynb ... -p name value -y "..."`` example (and, in a chapter, every
``-p`` / ``-y`` fragment, which reruns that chapter) is parsed by papermill's own command line and
checked against the chapter's parameters cell with :func:`flsim.notebook.validate`, the check the
chapter runs first; the values of Config fields (and of ``<field>_values`` sweeps) must also make a
valid :class:`flsim.Config`. Every ``python -m flsim run key=value ...`` example is parsed by
flsim's command line into a Config (``--paper`` too: its dataset is downloaded by a run, not here).
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from papermill.cli import _resolve_type
from papermill.cli import papermill as papermill_cli
from papermill.iorw import NoDatesSafeLoader

import flsim
from flsim import cli
from flsim.notebook import parameters_of, validate

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "book").glob("*.md")), *sorted((ROOT / "book").glob("0*.ipynb"))]
FIELDS = {f.name for f in dataclasses.fields(flsim.Config)}


def markdown(path: Path) -> str:
    if path.suffix != ".ipynb":
        return path.read_text()
    return "\n\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")


def commands(text: str) -> list[str]:
    """The commands in fenced code blocks (one per line, backslash-continued lines joined, shell
    variables set in the block expanded) and in inline code spans (which may wrap over lines)."""
    found = []

    def fence(match: re.Match) -> str:
        variables = {}
        for line in match.group(1).replace("\\\n", " ").splitlines():
            line = re.sub(r"\$(\w+)", lambda m: variables.get(m.group(1), m.group(0)), line.strip())
            if assignment := re.fullmatch(r"(\w+)=(.*)", line):
                variables[assignment.group(1)] = " ".join(shlex.split(assignment.group(2)))
            elif line:
                found.append(line)
        return ""

    rest = re.sub(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```", fence, text, flags=re.S | re.M)
    found += [" ".join(span.split()) for span in re.findall(r"(?<!`)`([^`]+)`(?!`)", rest)]
    return found


def examples() -> list[tuple[str, str, list[str]]]:
    """(where, kind, arguments) for every papermill and flsim command of the docs."""
    found = []
    for path in DOCS:
        where = str(path.relative_to(ROOT))
        for command in commands(markdown(path)):
            if not re.search(r"papermill|-m flsim run|^-[py] ", command):
                continue  # code, names and other commands
            words = shlex.split(command, comments=True)
            if not words:
                continue
            if Path(words[0]).name == "papermill":
                found.append((where, "papermill", words[1:]))
            elif words[:1] in (["-p"], ["-y"]) and path.suffix == ".ipynb":  # reruns this chapter
                found.append((where, "papermill", [where, "out.ipynb", *words]))
            elif "flsim" in words and words[words.index("flsim") + 1:][:1] == ["run"] and "-m" in words:
                found.append((where, "flsim", words[words.index("flsim") + 1:]))
    return found


EXAMPLES = examples()


def test_the_docs_have_examples():
    kinds = {(where, kind) for where, kind, _ in EXAMPLES}
    assert {("README.md", "papermill"), ("README.md", "flsim"), ("book/intro.md", "papermill")} <= kinds


def papermill_parameters(arguments: list[str]) -> tuple[str, dict]:
    """The notebook and the parameters papermill's command line makes of ``arguments`` (as it does)."""
    options = papermill_cli.make_context("papermill", list(arguments)).params
    parameters = {}
    for text in options["parameters_yaml"]:
        parameters.update(yaml.load(text, Loader=NoDatesSafeLoader) or {})
    for name, value in options["parameters"]:
        parameters[name] = _resolve_type(value)
    for name, value in options["parameters_raw"]:
        parameters[name] = value
    assert not options["parameters_file"] and not options["parameters_base64"], "not checked here"
    return options["notebook_path"], parameters


@pytest.mark.parametrize("where, arguments", [(w, a) for w, kind, a in EXAMPLES if kind == "papermill"],
                         ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_papermill_example(where, arguments):
    notebook, passed = papermill_parameters(arguments)
    checked = validate(parameters_of(ROOT / notebook), passed)  # names and kinds, as the chapter checks
    fields = {name: value for name, value in checked.items() if name in FIELDS}
    flsim.Config(**fields)
    for name, values in checked.items():
        if name.endswith("_values") and name[:-len("_values")] in FIELDS:
            for value in values:
                flsim.Config(**{**fields, name[:-len("_values")]: value})


@pytest.mark.parametrize("where, arguments", [(w, a) for w, kind, a in EXAMPLES if kind == "flsim"],
                         ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_flsim_run_example(where, arguments, tmp_path, monkeypatch):
    options = cli._parser().parse_args(arguments)
    registries = {kind: dict(registry) for kind, registry in flsim.registry.REGISTRIES.items()}
    for module in options.imports:  # the module the README means: its registration example
        (tmp_path / f"{module}.py").write_text(readme_registrations())
        monkeypatch.delitem(sys.modules, module, raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        cli._import_registrations(options.imports)
        flsim.Config.from_strings(cli._pairs(options.settings),
                                  base=flsim.Config.paper() if options.paper else flsim.Config())
    finally:
        for kind, registry in flsim.registry.REGISTRIES.items():
            registry.clear()
            registry.update(registries[kind])
        for module in options.imports:
            sys.modules.pop(module, None)


def readme_registrations() -> str:
    """The README's example of registering a model and a rule, up to its run."""
    readme = (ROOT / "README.md").read_text()
    example = next(b.split("```", 1)[0] for b in readme.split("```python\n")[1:] if "register_model(" in b)
    return example.split("\nresults = ")[0]
