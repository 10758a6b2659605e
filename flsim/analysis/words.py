"""How a measured number becomes words: "value [lo, hi]" (of a table row's
column and its ``_lo``/``_hi``: :func:`~flsim.analysis.row_interval_text`), "k of n (rate [lo, hi])", rounds as a reader
writes them, the sweep chapters' verdict on the paper's claim, and columns of such text for a table
(chapters 3-10), a count with its noun (:func:`~flsim.analysis.plural`) and a dataset's name (:func:`~flsim.analysis.dataset_words`). A
chapter builds no sentence in code: it calls these."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .statistics import wilson_interval


def interval_text(value: float, lo: float, hi: float, spec: str = ".2f") -> str:
    """``value [lo, hi]``, each formatted with ``spec``, for a sentence or a verdict that cites a measured
    number (chapters 5-7). A number that rounds to zero is written without a sign ("-0.00" reads as one);
    without an interval (NaN bounds, e.g. from one seed) the value stands alone."""
    def shown(x):
        text = format(x, spec)
        return text.lstrip("-") if text.lstrip("-").strip("0.%") == "" else text
    if math.isnan(lo) or math.isnan(hi):
        return shown(value)
    return f"{shown(value)} [{shown(lo)}, {shown(hi)}]"


def row_interval_text(row, column: str, spec: str = ".2f") -> str:
    """:func:`interval_text` of ``column`` in a table row (a Series or a dict) that holds ``column``,
    ``column_lo`` and ``column_hi``, as the detection reports and the defence and location tables do
    (chapters 8-10): ``row_interval_text(report.loc["semantic"], "auc")`` -> "0.93 [0.85, 0.98]"."""
    return interval_text(row[column], row[f"{column}_lo"], row[f"{column}_hi"], spec)


def plural(count: int, noun: str) -> str:
    """``count`` and ``noun``, with an "s" unless the count is one: ``plural(5, "seed")`` -> "5 seeds",
    ``plural(1, "seed")`` -> "1 seed" (chapters 8-10)."""
    return f"{count} {noun}{'s' * (count != 1)}"


DATASET_WORDS = {"fashion_mnist": "Fashion-MNIST", "mnist": "MNIST", "cifar10": "CIFAR-10"}


def dataset_words(dataset: str) -> str:
    """A dataset as a sentence names it: "fashion_mnist" -> "Fashion-MNIST"; an unknown name stays as it
    is (chapters 8-10)."""
    return DATASET_WORDS.get(dataset, dataset)


def attackers_text(num_malicious: int) -> str:
    """The attackers of a config, which are clients 0 .. m-1, as a sentence names them (chapters 3, 6, 7):
    "no attacker", "one attacker (client 0)", "2 attackers (clients 0 and 1)", "4 attackers (clients 0
    to 3)"."""
    if num_malicious == 0:
        return "no attacker"
    if num_malicious == 1:
        return "one attacker (client 0)"
    clients = "0 and 1" if num_malicious == 2 else f"0 to {num_malicious - 1}"
    return f"{num_malicious} attackers (clients {clients})"


def count_text(successes: int, trials: int, spec: str = ".0%", level: float = 0.95) -> str:
    """"k of n (rate [lo, hi])" with :func:`wilson_interval`, the rate formatted with ``spec``, for a
    sentence that gives a count and its rate (chapters 8 and 9); "0 of 0" without trials."""
    if trials == 0:
        return "0 of 0"
    rate = successes / trials
    return f"{successes} of {trials} ({interval_text(rate, *wilson_interval(successes, trials, level), spec)})"


def per_value_text(table: pd.DataFrame, name: str, column: str = "mean", lo: str = "lo", hi: str = "hi",
                   spec: str = ".2f") -> str:
    """The words "``name`` = value: x [lo, hi]; ..." for each row of a table indexed by a swept value
    (chapters 5-7), for a glued sentence that compares the values."""
    return "; ".join(f"{name} = {value:g}: {interval_text(row[column], row[lo], row[hi], spec)}"
                     for value, row in table.iterrows())


def exponent_text(row: pd.Series) -> str:
    """A row of :func:`shift_exponents` for the text (chapters 6 and 7): "k [lo, hi]", or why it is not
    there, since a shift that is not positive has no exponent."""
    if row.k != row.k:
        return "undefined (a mean shift is not positive)"
    if row.lo != row.lo or row.hi != row.hi:
        return f"{row.k:.2f}, its interval undefined (resampled shifts are not positive)"
    return interval_text(row.k, row.lo, row.hi)


def localisation_claim(evidence: pd.DataFrame, tensor: str, setting: str, name: str) -> str:
    """The verdict's words on the paper's claim over a sweep (chapters 5-7), from :func:`sweep_evidence`:
    it holds across ``setting`` (e.g. "the numbers of attackers") when ``tensor`` is the best tensor by
    AUC and clear of chance at every swept value, only in part at some, and does not at none. A value at
    which it is the best but its interval reaches chance supports nothing, and is named as such, with
    its interval (and, where ``evidence`` counts them, the seeds in which it is the top tensor), and a
    win shared with other tensors names them; ``name`` labels a value ("m" gives "m = 4")."""
    def at(rows):
        return ", ".join(f"{name} = {value:g} (AUC {interval_text(row.auc, row.lo, row.hi)}"
                         + (f", the top tensor in {row.auc_seeds:.0f} of {row.seeds:.0f} seeds"
                            if "seeds" in row.index else "") + ")"
                         for value, row in rows.iterrows())

    wins = evidence[evidence.auc_rank == 1]
    clear, chance = wins[wins.clear], wins[~wins.clear]
    status = ("holds" if len(clear) == len(evidence) else "does not hold" if clear.empty
              else "holds only in part")
    text = f"the claim that the anomaly concentrates in the output-layer bias {status} across {setting} of this run"
    if 0 < len(clear) < len(evidence):
        text += f"; {tensor} is the best tensor by AUC, clear of chance, only at {at(clear)}"
    if len(chance):
        text += (f"; {'it is also' if len(clear) else f'{tensor} is'} the best tensor at {at(chance)}, "
                 "but with an interval that reaches chance (0.5), which supports nothing")
    for value, row in clear.iterrows():
        others = [layer for layer in row.best.split(" and ") if layer != tensor]
        if others:
            text += f"; at {name} = {value:g} it shares the top AUC with {' and '.join(others)}"
    return text


def round_ranges(rounds) -> str:
    """Rounds as a reader writes them (chapter 3): [1, 2, 3, 4, 5, 16, 20] -> "1-5, 16 and 20"; "none" if empty."""
    spans: list[list[int]] = []
    for r in sorted(int(r) for r in rounds):
        if spans and r == spans[-1][1] + 1:
            spans[-1][1] = r
        else:
            spans.append([r, r])
    parts = [f"{first}-{last}" if last > first else str(first) for first, last in spans]
    return " and ".join([", ".join(parts[:-1]), parts[-1]] if len(parts) > 1 else parts) or "none"


def interval_columns(frame: pd.DataFrame, columns: dict[str, tuple[str, str]]) -> pd.DataFrame:
    """Columns of ``value [lo, hi]`` text for a table (chapters 8 and 9): ``columns`` maps a header to
    (a column of ``frame`` with its ``_lo`` and ``_hi`` beside it, a format); the format "%" shows a rate
    in percent without the sign (put it in the header). A missing value is an empty cell, a missing
    interval leaves the value alone."""
    def text(value, lo, hi, spec):
        scale, spec = (100, ".0f") if spec == "%" else (1, spec)
        if np.isnan(value):
            return ""
        if np.isnan(lo) or np.isnan(hi):
            return interval_text(scale * value, 0, 0, spec).split(" [")[0]
        return interval_text(scale * value, scale * lo, scale * hi, spec)
    return pd.DataFrame({header: [text(v, lo, hi, spec) for v, lo, hi in
                                  zip(frame[c], frame[f"{c}_lo"], frame[f"{c}_hi"])]
                         for header, (c, spec) in columns.items()}, index=frame.index)
