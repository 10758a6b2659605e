"""Which parameter tensor sets the attackers apart, in one run or pooled runs: per-tensor summaries (the
malicious/benign ratio, ROC-AUC, the attackers' robust z-score), where the attacker ranks among a round's
clients, and where one tensor stands among the others (chapter 3, and the chapters after it)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..robust import robust_z
from .statistics import auc_interval, roc_auc

# For these statistics a low value is the anomaly; scores are negated before ranking.
LOW_IS_ANOMALOUS = {"cosine_to_mean"}


def anomaly_score(updates: pd.DataFrame, statistic: str) -> pd.Series:
    """The statistic, oriented so that larger means more anomalous."""
    return -updates[statistic] if statistic in LOW_IS_ANOMALOUS else updates[statistic]


def _robust_z_of(scores: pd.Series) -> pd.Series:
    """:func:`flsim.robust.robust_z` of a column (in float64), for groupby's transform."""
    values = torch.from_numpy(scores.to_numpy(dtype=np.float64, copy=True))
    return pd.Series(robust_z(values).numpy(), index=scores.index)


def layer_summary(updates: pd.DataFrame, statistic: str = "max_abs_deviation") -> pd.DataFrame:
    """Per layer: malicious/benign ratio of the mean statistic, ROC-AUC, how often an attacker scores
    highest, and by how far (chapter 3; the per-tensor summary the later chapters build on).

    ``top_rate`` is the share of rounds (with an attacker chosen) in which the
    highest score of the layer belongs to a malicious client. ``attacker_z`` is
    the attackers' robust z-score within their round (median and scaled MAD of
    the round's clients), averaged over their client-rounds: unlike the AUC, it
    keeps growing once every tensor separates the attacker perfectly.
    """
    scored = updates.assign(score=anomaly_score(updates, statistic))
    scored["z"] = scored.groupby(["round", "layer"], sort=False).score.transform(_robust_z_of)
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
            attacker_z=mal.z.mean(),
        ))
    return pd.DataFrame(rows)


def auc_table(updates: pd.DataFrame,
              statistics=("max_abs_deviation", "l2_deviation", "cosine_to_mean")) -> pd.DataFrame:
    """ROC-AUC per layer (rows) and statistic (columns)."""
    return pd.DataFrame({s: layer_summary(updates, s).set_index("layer").auc for s in statistics})


def attacker_ranks(updates: pd.DataFrame, statistic: str = "max_abs_deviation") -> pd.DataFrame:
    """Per round (rows) and layer (columns): the rank of the attacker among the round's clients (chapter 3).

    Rank 1 is the most anomalous score (see :func:`anomaly_score`); ties share
    the best rank. With several attackers, the best-ranked one counts. Rounds
    without an attacker are left out.
    """
    scored = updates.assign(score=anomaly_score(updates, statistic))
    scored["rank"] = scored.groupby(["round", "layer"], sort=False).score.rank(ascending=False, method="min")
    attacked = scored[scored.malicious]
    table = attacked.pivot_table(index="round", columns="layer", values="rank", aggfunc="min", sort=False)
    return table[list(dict.fromkeys(updates.layer))].astype(int)


def _client_rounds(results) -> tuple[int, int]:
    """A run's attacker and honest client-rounds: the rows behind one tensor's AUC."""
    first = results.updates[results.updates.layer == results.updates.layer.iloc[0]]
    return int(first.malicious.sum()), int((~first.malicious).sum())


def round_ratio_draws(updates: pd.DataFrame, statistic: str, rng: np.random.Generator,
                      draws: int) -> dict[str, tuple[float, np.ndarray]]:
    """Per tensor of one run (in the table's order): :func:`layer_summary`'s malicious/benign ratio of the
    mean ``statistic``, and its value in each of ``draws`` resamplings of the run's rounds with
    replacement, a round's client-rounds together, one resampling for every tensor, drawn from ``rng``
    (NaN for a draw without attackers). The draws of :func:`tensor_standing` and
    :func:`flsim.analysis.sweep_ratio`."""
    columns = pd.MultiIndex.from_product([["sum", "count"], [True, False]])
    per_round = (updates.groupby(["layer", "round", "malicious"], sort=False)[statistic]
                 .agg(["sum", "count"]).unstack("malicious").reindex(columns=columns, fill_value=0)
                 .fillna(0))
    rounds = per_round.loc[per_round.index.get_level_values("layer")[0]].index
    picks = rng.integers(0, len(rounds), (draws, len(rounds)))  # one resampling for every tensor
    ratios = {}
    for layer, table in per_round.groupby(level="layer", sort=False):
        sums = table.droplevel("layer").reindex(rounds, fill_value=0).to_numpy(dtype=float)
        drawn, total = sums[picks].sum(axis=1), sums.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):  # a draw without attackers: NaN
            ratios[layer] = (total[0] / total[2] / (total[1] / total[3]),
                             drawn[:, 0] / drawn[:, 2] / (drawn[:, 1] / drawn[:, 3]))
    return ratios


def tensor_standing(runs: dict, tensor: str, statistic: str = "max_abs_deviation") -> pd.DataFrame:
    """Per run (rows: the labels of ``runs``, label -> Results), where ``tensor`` stands among the run's
    parameter tensors by :func:`layer_summary`'s ROC-AUC and ratio (chapter 3).

    Columns: auc with its 95% interval auc_lo, auc_hi (:func:`auc_interval`); auc_rank (1: the largest,
    ties sharing it) and best_auc, the tensor with the largest AUC, with best_auc_value, best_auc_lo,
    best_auc_hi; ratio with its 95% bootstrap interval ratio_lo, ratio_hi over the run's rounds
    (:func:`round_ratio_draws`, 1000 draws seeded 0: the interval :func:`flsim.analysis.sweep_ratio`
    gives a sweep of this one run); ratio_rank and best_ratio, the tensor with the largest ratio.
    """
    rows = {}
    for label, r in runs.items():
        table = layer_summary(r.updates, statistic).set_index("layer")
        positives, negatives = _client_rounds(r)
        _, drawn = round_ratio_draws(r.updates, statistic, np.random.default_rng(0), 1000)[tensor]
        auc, ratio = table.auc, table.ratio
        best = auc.idxmax()
        auc_lo, auc_hi = auc_interval(auc[tensor], positives, negatives)
        best_lo, best_hi = auc_interval(auc[best], positives, negatives)
        rows[label] = dict(auc=auc[tensor], auc_lo=auc_lo, auc_hi=auc_hi,
                           auc_rank=int(auc.rank(ascending=False, method="min")[tensor]), best_auc=best,
                           best_auc_value=auc[best], best_auc_lo=best_lo, best_auc_hi=best_hi,
                           ratio=ratio[tensor], ratio_lo=float(np.nanpercentile(drawn, 2.5)),
                           ratio_hi=float(np.nanpercentile(drawn, 97.5)),
                           ratio_rank=int(ratio.rank(ascending=False, method="min")[tensor]),
                           best_ratio=ratio.idxmax())
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("run")
