"""The book's one style: its width, its colours for honest and malicious clients, seaborn's theme."""

from __future__ import annotations

import matplotlib
import pandas as pd
import seaborn as sns

WIDTH = 9.0  # inches: the book's text width
ROLE_COLORS = {"benign": "#4C72B0", "malicious": "#C44E52"}


def use_style() -> None:
    """The book's one style (seaborn's own theme names, stable across matplotlib releases)."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    matplotlib.rcParams.update({"figure.dpi": 110, "savefig.bbox": "tight", "axes.titleweight": "bold"})


def role_names(frame: pd.DataFrame) -> pd.Series:
    """"malicious" or "benign" per row of ``frame`` (its boolean column ``malicious``)."""
    return frame.malicious.map({True: "malicious", False: "benign"})
