"""What the book's chapters need besides flsim itself, so that an executed chapter reads
well anywhere (rendered book, papermill output, Jupyter, Colab, GitHub):

- :func:`check_parameters` fails a papermill run that passes a parameter the
  chapter does not have, or a value of the wrong kind, naming it;
- :func:`glue` records a number for the text: glued with myst-nb where it is
  installed (the rendered book), kept here for :func:`summary` everywhere;
- :func:`figure` shows a figure with a visible caption;
- :func:`summary` shows the numbers a run found and its verdict as a table;
- :func:`parameters_of` reads a chapter's parameters, for the tests of the documented commands.

flsim runs without this module; the chapters import it.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import json
import os
import re
import time

import pandas as pd

INJECTED_HEADER = "# Parameters"  # the first line of the cell papermill injects after the parameters cell
found: dict[str, object] = {}  # every value glued so far in this kernel, by name
_started: float | None = None  # when check_parameters ran: the chapter's start


class ParameterError(ValueError):
    """A chapter was run with a parameter it does not have, or with a value of the wrong kind."""


def _assignments(source: str) -> dict[str, object]:
    """name -> literal value for each top-level ``name = literal`` of a cell."""
    values = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                values[node.targets[0].id] = None  # not a literal: any value goes
    return values


def _kind(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, (list, tuple)):
        return "list"
    return type(value).__name__


def _config_field(name: str) -> str | None:
    """The Config field a chapter's parameter is named after: its own name, or the field its name ends
    with (``paper_samples_per_client`` is a ``samples_per_client``); None if none."""
    import dataclasses

    from .config import Config

    fields = sorted((f.name for f in dataclasses.fields(Config)), key=len, reverse=True)
    return next((f for f in fields if name == f or name.endswith(f"_{f}")), None)


def _field_types(field: str) -> tuple[type, ...]:
    import typing

    from .config import Config, _allowed_types

    return _allowed_types(typing.get_type_hints(Config)[field])


def _fits_field(field: str, value) -> bool:
    """Whether ``value`` is of a type Config's ``field`` takes (a list for a tuple of indices)."""
    allowed = _field_types(field)
    if isinstance(value, bool):
        return False
    if isinstance(value, int) and (int in allowed or float in allowed):
        return True
    if isinstance(value, float):
        return float in allowed or (int in allowed and value.is_integer())
    if isinstance(value, (list, tuple)):
        return tuple in allowed and all(isinstance(i, int) and not isinstance(i, bool) for i in value)
    return isinstance(value, str) and str in allowed


def _whole(default, name: str, value) -> bool:
    """Whether ``value`` is a whole float for an integer parameter (``-p num_rounds 2.0``), made an int."""
    if not isinstance(value, float) or not value.is_integer():
        return False
    if default is None:
        field = _config_field(name)
        return field is not None and int in _field_types(field) and float not in _field_types(field)
    return isinstance(default, int) and not isinstance(default, bool)


def _compatible(default, value, name: str = "") -> bool:
    if value is None:
        return True  # a None value means "off" or "all"; Config names a field that takes no None
    if default is None:  # a None default says nothing of its kind: the Config field it is named after does
        field = _config_field(name)
        return field is None or _fits_field(field, value)
    if isinstance(default, int) and not isinstance(default, bool) and isinstance(value, float):
        return value.is_integer()
    return _kind(default) == _kind(value)


def validate(defaults: dict[str, object], passed: dict[str, object]) -> dict[str, object]:
    """Raise :class:`ParameterError` for a passed name the defaults lack, or a value of another kind.

    A parameter whose default is None takes what the Config field it is named after takes (its name, or
    the field its name ends with: ``paper_samples_per_client``); one named after no field takes any value.
    Returns the passed values, a whole float for an integer default made an int (``-p num_rounds 2.0``).
    """
    checked = {}
    for name, value in passed.items():
        if name not in defaults:
            close = difflib.get_close_matches(name, defaults, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ParameterError(f"this chapter has no parameter {name!r}{hint}; "
                                 f"its parameters: {', '.join(defaults)}")
        if not _compatible(defaults[name], value, name):
            if defaults[name] is None:
                field = _config_field(name)
                words = {"tuple": "a list of integers", "int": "an integer", "float": "a number", "str": "text"}
                kinds = " or ".join("None" if t is type(None) else words[t.__name__] for t in _field_types(field))
                raise ParameterError(f"parameter {name}={value!r} should be like Config's {field}: {kinds} "
                                     f"(its default is {name}=None)")
            raise ParameterError(f"parameter {name}={value!r} should be like its default "
                                 f"{name}={defaults[name]!r} ({_kind(defaults[name])})")
        whole = _whole(defaults[name], name, value)
        checked[name] = int(value) if whole else value
    return checked


def check_parameters() -> None:
    """Check the parameters papermill passed against the chapter's ``parameters`` cell.

    Call it in the cell after the parameters cell. It reads the kernel's input
    history: papermill runs its injected cell right after the parameters cell.
    Outside papermill (no injected cell) it checks only ``device`` (:func:`check_device`), which
    it checks in either case.
    """
    from IPython import get_ipython

    global _started
    _started = time.perf_counter()
    shell = get_ipython()
    history = list(shell.user_ns.get("In", [])) if shell is not None else []
    for position in range(len(history) - 1, 0, -1):
        if history[position].lstrip().startswith(INJECTED_HEADER):
            passed = validate(_assignments(history[position - 1]), _assignments(history[position]))
            shell.user_ns.update(passed)
            break
    if shell is not None:
        check_device(shell.user_ns.get("device"))


def check_device(device) -> None:
    """A chapter's ``device`` parameter that names a GPU stops the chapter before any data is loaded
    where there is none (say, a Colab runtime without one), instead of after a dataset's download."""
    if device == "cuda":
        import torch  # late import: the other checks need no torch

        if not torch.cuda.is_available():
            raise ParameterError("device='cuda' but no CUDA device is available here: in Colab choose Runtime > "
                                 "Change runtime type > GPU, or use device='auto' (a GPU where there is one) "
                                 "or 'cpu'")


def parameters_of(path: str | os.PathLike) -> dict[str, object]:
    """The defaults of the notebook's ``parameters`` cell (name -> literal value): the names and
    kinds :func:`check_parameters` accepts. tests/test_doc_examples.py checks the book's papermill
    commands against them."""
    with open(path, encoding="utf-8") as file:
        cells = json.load(file)["cells"]
    for cell in cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            source = cell["source"]
            return _assignments(source if isinstance(source, str) else "".join(source))
    raise ParameterError(f"{path} has no cell tagged 'parameters'")


def glue_run_time() -> None:
    """Glue what the chapter has cost so far: ``run_seconds`` since :func:`check_parameters` (its runs
    computed, or read from the result cache) and ``run_gflops``, the machine's fp32 matmul figure now
    (``flsim.hardware.matmul_flops``), for the overview's sentence on it."""
    from .hardware import matmul_flops

    if _started is None:
        raise RuntimeError("notebook.glue_run_time() needs notebook.check_parameters() to have run first")
    glue_all(run_seconds=time.perf_counter() - _started, run_gflops=matmul_flops() / 1e9)


def glue(name: str, value, display: bool = False) -> None:
    """Record ``value`` under ``name`` for the text and :func:`summary` (read it back from ``notebook.found``).

    With myst-nb installed it is also glued for the rendered book's
    ``{glue:text}`` roles; without it (a plain ``pip install flsim``) only recorded.
    Returns nothing, so a cell that ends with a glue shows no stray value.
    """
    found[name] = value
    if importlib.util.find_spec("myst_nb") is not None:
        from myst_nb import glue as myst_glue

        myst_glue(name, value, display=display)


def glue_all(**values) -> None:
    """:func:`glue` each keyword argument, without displaying it."""
    for name, value in values.items():
        glue(name, value)


def figure(fig, caption: str, name: str | None = None):
    """Show ``fig`` and its caption below it (visible wherever the notebook is opened);
    glue it as ``name`` if given, so other pages can show it."""
    from IPython.display import Markdown, display

    display(fig)
    display(Markdown(f"*{caption}*"))
    if name is not None:
        glue(name, fig)
    import matplotlib.pyplot as plt

    plt.close(fig)  # shown once, above: not again at the end of the cell
    return None


# The book's content column at a 1400 px window, and what a rendered table costs in it: measured on
# the built pages (headless Chromium), about 8 px a character of a column's widest cell or header
# (bold) and 16 px of padding a column.
PAGE_WIDTH_PX = 770
CHARACTER_PX = 8
CELL_PADDING_PX = 16


class TableTooWide(ValueError):
    """A table would not fit the book's content column: the columns the text is about would be cut off."""


class VerdictWithoutInterval(ValueError):
    """A verdict cites a measured number without the interval that says how sure it is."""


def table_width_px(frame: pd.DataFrame) -> int:
    """The rendered width of ``frame`` as the book shows it, estimated from its text: pandas lays out
    the same cells for HTML as for ``to_string`` (two spaces between columns there, padding here)."""
    lines = frame.to_string().splitlines()
    columns = frame.shape[1] + frame.index.nlevels
    return max(map(len, lines)) * CHARACTER_PX + columns * CELL_PADDING_PX


def table(frame: pd.DataFrame, digits: int = 3):
    """A DataFrame rounded for reading, rendered as HTML by Jupyter and the book; a missing value (NaN,
    NA) is a blank cell, which the text around the table explains (a rule without a decision, say).

    Raises :class:`TableTooWide` when the table would not fit the book's content column
    (``PAGE_WIDTH_PX``): show the columns the text is about, shorter names, or the table transposed.
    """
    rounded = frame.round(digits)
    floats = rounded.select_dtypes("float").columns
    rounded[floats] = rounded[floats] + 0.0  # -0.0 + 0.0 is 0.0: a rounded tiny negative shows no sign
    missing = rounded.isna()
    if missing.to_numpy().any():
        rounded = rounded.astype(object).mask(missing, "")
    width = table_width_px(rounded)
    if width > PAGE_WIDTH_PX:
        raise TableTooWide(f"a table of {rounded.shape[1]} columns ({', '.join(map(str, rounded.columns[:6]))}"
                           f"{', ...' if rounded.shape[1] > 6 else ''}) is about {width} px wide, more than the "
                           f"book's {PAGE_WIDTH_PX} px column: show the columns the text is about, shorter "
                           f"names, or the table transposed")
    return rounded


# A measured decimal (0.56, 11.1%, 3.2) that is not a setting (lr = 0.01), and the interval beside it.
_DECIMAL = re.compile(r"(?<![=\w.\d])(?<!= )-?\d+\.\d+")
_INTERVAL = re.compile(r"\[\s*-?\d[\d.]*%?\s*,\s*-?\d[\d.]*%?\s*\]|±")
_SENTENCE_END = re.compile(r"(?<=[.;!?])\s+")


def uncertain_claims(verdict: str) -> list[str]:
    """The sentences of ``verdict`` that cite a measured decimal without an interval (``[lo, hi]`` or ``±``)."""
    return [sentence for sentence in _SENTENCE_END.split(verdict)
            if _DECIMAL.search(sentence) and not _INTERVAL.search(sentence)]


def summary(numbers: dict[str, object], verdict: str | None = None) -> pd.DataFrame:
    """The numbers this run found (label -> value) and its verdict, as a two-column table."""
    rows = [(label, _show(value)) for label, value in numbers.items()]
    bare = uncertain_claims(verdict or "")
    if bare:
        raise VerdictWithoutInterval(f"the verdict cites a measured number without its interval ([lo, hi] or "
                                     f"±) in: {bare[0]!r}")
    if verdict is not None:
        rows.append(("verdict", verdict))
    return pd.DataFrame(rows, columns=["finding", "value"]).set_index("finding")


def _show(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
