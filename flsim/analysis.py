"""Summaries of Results tables: how well each layer tells malicious from benign (chapters 3-6)."""

from __future__ import annotations

import numpy as np
import pandas as pd

# For these statistics a low value is the anomaly; scores are negated before ranking.
LOW_IS_ANOMALOUS = {"cosine_to_mean"}


def roc_auc(scores, malicious) -> float:
    """ROC-AUC of ``scores`` for telling malicious (True) from benign rows.

    The Mann-Whitney form with average ranks for ties: 1.0 is perfect, 0.5 is chance.
    NaN when either group is empty.
    """
    scores = np.asarray(scores, dtype=float)
    malicious = np.asarray(malicious, dtype=bool)
    positives, negatives = malicious.sum(), (~malicious).sum()
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    return float((ranks[malicious].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def anomaly_score(updates: pd.DataFrame, statistic: str) -> pd.Series:
    """The statistic, oriented so that larger means more anomalous."""
    return -updates[statistic] if statistic in LOW_IS_ANOMALOUS else updates[statistic]


def layer_summary(updates: pd.DataFrame, statistic: str = "max_abs_deviation") -> pd.DataFrame:
    """Per layer: malicious/benign ratio of the mean statistic, ROC-AUC, and how often an attacker scores highest.

    ``top_rate`` is the share of rounds (with an attacker chosen) in which the
    highest score of the layer belongs to a malicious client.
    """
    scored = updates.assign(score=anomaly_score(updates, statistic))
    rows = []
    for layer, group in scored.groupby("layer", sort=False):
        mal, ben = group[group.malicious], group[~group.malicious]
        with_attacker = group.groupby("round").filter(lambda r: r.malicious.any())
        top = with_attacker.loc[with_attacker.groupby("round").score.idxmax()]
        rows.append(dict(
            layer=layer,
            malicious_mean=mal[statistic].mean(),
            benign_mean=ben[statistic].mean(),
            ratio=mal[statistic].mean() / ben[statistic].mean(),
            auc=roc_auc(group.score, group.malicious),
            top_rate=top.malicious.mean() if len(top) else np.nan,
        ))
    return pd.DataFrame(rows)


def auc_table(updates: pd.DataFrame, statistics=("max_abs_deviation", "l2_deviation", "cosine_to_mean")) -> pd.DataFrame:
    """ROC-AUC per layer (rows) and statistic (columns)."""
    return pd.DataFrame({s: layer_summary(updates, s).set_index("layer").auc for s in statistics})
