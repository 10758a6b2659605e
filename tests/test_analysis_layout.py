"""flsim.analysis is a package by concern: each module small, every public name re-exported so that the
chapters' ``analysis.<name>`` and ``from flsim.analysis import <name>`` keep working, and every module on
the API appendix's page."""

import ast
import importlib
import json
import pkgutil
import re
from pathlib import Path

import pytest

import flsim.analysis as analysis

ROOT = Path(__file__).resolve().parents[1]
MODULES = [info.name for info in pkgutil.iter_modules(analysis.__path__)]
SUMMARIES = ["bias", "detection", "regimes", "statistics", "sweeps", "tensors", "words"]  # re-exported by name
REPORTS = ["defences", "detector_tables", "evasion", "federated_setup", "first_order", "hiding", "law",  # a
           "localisation_report", "localisation_verdict", "location", "paper", "stress", "strong"]  # chapter's


def test_the_package_has_its_modules_each_under_500_lines():
    assert sorted(MODULES) == sorted(SUMMARIES + REPORTS), "a new module: a summary (re-exported) or a report?"
    for path in Path(analysis.__file__).parent.glob("*.py"):
        assert len(path.read_text().splitlines()) < 500, path.name


def test_every_report_is_named_in_the_package_docstring():
    for name in REPORTS:
        assert f"flsim.analysis.{name}`" in analysis.__doc__, name


@pytest.mark.parametrize("name", SUMMARIES)
def test_every_public_name_of_a_module_is_flsim_analysis_own(name):
    module = importlib.import_module(f"flsim.analysis.{name}")
    tree = ast.parse(Path(module.__file__).read_text())
    defined = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    defined |= {target.id for node in tree.body if isinstance(node, ast.Assign) for target in node.targets
                if isinstance(target, ast.Name)}
    public = {n for n in defined if not n.startswith("_")}
    assert public <= set(analysis.__all__), sorted(public - set(analysis.__all__))
    for n in public:
        assert getattr(analysis, n) is getattr(module, n)


def test_all_names_resolve_once():
    assert len(analysis.__all__) == len(set(analysis.__all__))
    for name in analysis.__all__:
        assert hasattr(analysis, name), name


def _chapter_code():
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        yield path.name, "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def test_every_name_the_chapters_take_from_flsim_analysis_resolves():
    used = set()
    for chapter, code in _chapter_code():
        used |= {(chapter, n) for n in re.findall(r"\banalysis\.(\w+)", code)}
        for names in re.findall(r"from flsim\.analysis import (\([^)]*\)|[^\n#]*)", code):
            used |= {(chapter, n.strip()) for n in names.strip("()").split(",") if n.strip()}
    assert used, "no chapter calls flsim.analysis: the pattern above is stale"
    missing = sorted((chapter, n) for chapter, n in used if not hasattr(analysis, n) and n not in REPORTS)
    assert missing == []


def test_the_api_appendix_documents_every_module_of_the_package():
    documented = set(re.findall(r"automodule:: (flsim[\w.]*)", (ROOT / "book" / "appendix_api.md").read_text()))
    assert {f"flsim.analysis.{name}" for name in MODULES} | {"flsim.analysis"} <= documented
