"""The GitHub workflows (.github/workflows): valid against GitHub's workflow schema and free of
zizmor's findings at medium severity or above, checked here so a broken or unsafe workflow fails
before it reaches GitHub. Each check is also shown failing on a workflow made to fail it."""

import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
SCRIPTS = Path(sysconfig.get_path("scripts"))


def check_schema(*paths: Path) -> subprocess.CompletedProcess:
    # check-jsonschema's copy of the schema ships with it: no network
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.github-workflows", *map(str, paths)], capture_output=True, text=True)


def zizmor(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPTS / "zizmor"), "--offline", "--no-progress", "--min-severity", "medium",
                           *map(str, paths)], capture_output=True, text=True)


def test_the_book_is_published_and_the_tests_run_on_pull_requests():
    book = yaml.safe_load((ROOT / ".github/workflows/book.yml").read_text())
    tests = yaml.safe_load((ROOT / ".github/workflows/tests.yml").read_text())
    # PyYAML reads the key `on` as True
    assert book[True]["push"]["branches"] == ["main"] and "pull_request" in tests[True]
    steps = [step.get("run", step.get("uses", "")) for step in book["jobs"]["build"]["steps"]]
    assert "make book" in steps and "make test" in [s.get("run") for s in tests["jobs"]["test"]["steps"]]
    assert book["jobs"]["deploy"]["steps"][0]["uses"].startswith("actions/deploy-pages@")
    # the result cache is keyed by the simulation code's hash
    restore = next(s for s in book["jobs"]["build"]["steps"] if s.get("uses", "").startswith("actions/cache/restore@"))
    assert "steps.engine.outputs.hash" in restore["with"]["key"]
    assert any("source_hash()" in s for s in steps)


def test_the_reading_copies_go_to_the_branch_the_colab_buttons_open():
    """The colab job alone may write to the repository; it pushes the built copies (_build/html/_colab,
    book/_ext/colab_copies.py) to the branch _config.yml gives the chapters' Colab buttons."""
    book = yaml.safe_load((ROOT / ".github/workflows/book.yml").read_text())
    branch = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]["colab_branch"]
    jobs = book["jobs"]
    assert jobs["build"]["permissions"] == {"contents": "read"}
    assert jobs["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    colab = jobs["colab"]
    assert colab["permissions"] == {"actions": "read", "contents": "write"} and colab["needs"] == "deploy"
    script = "\n".join(step["run"] for step in colab["steps"])
    assert "--name github-pages" in script and "_colab" in script
    assert re.search(rf"git push --force \S+ {branch}$", script.strip()), script


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_is_valid_against_githubs_schema(path):
    result = check_schema(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_have_no_findings_at_medium_severity_or_above():
    assert len(WORKFLOWS) >= 2
    result = zizmor(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


BAD_STEP = """
name: bad
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.head_commit.message }}"
"""


def test_the_checks_fail_on_a_broken_or_unsafe_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("name: broken\non: push\njobs:\n  build:\n    steps: []\n")  # no runs-on
    assert check_schema(broken).returncode != 0
    unsafe = tmp_path / "unsafe.yml"
    unsafe.write_text(BAD_STEP)  # an unpinned action, kept credentials, a commit message spliced into a shell
    result = zizmor(unsafe)
    assert result.returncode != 0
    for finding in ("unpinned-uses", "artipacked", "template-injection"):
        assert finding in result.stdout, result.stdout
