"""Sphinx extension for the API appendix: flsim's docstrings write |x| for absolute values and norms.

In reStructuredText |x| is a substitution reference, so autodoc would fail on
"max |w_k - mean w|". This escapes every "|" outside inline literals and
roles before the docstring is parsed, so docstrings stay plain to read in code.
"""

import re

# ``literal`` and :role:`target` (or `interpreted`) spans, where a "|" must stay as written.
_VERBATIM = re.compile(r"(``.+?``|(?::[\w:.-]+:)?`[^`]+`)")


def escape_bars(line: str) -> str:
    parts = _VERBATIM.split(line)
    return "".join(part if i % 2 else part.replace("|", r"\|") for i, part in enumerate(parts))


def _process(app, what, name, obj, options, lines):
    lines[:] = [escape_bars(line) for line in lines]


def setup(app):
    app.connect("autodoc-process-docstring", _process, priority=400)  # before napoleon (500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
