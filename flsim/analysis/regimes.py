"""Chapter 4's map: where a config sits on it (:func:`~flsim.analysis.regime`, which every chapter
states), and the map's two questions, where the anomaly is largest (the paper's ratio, and its ceiling)
and where it is most detectable (the robust z-score), with the reading between them: is it there at all?"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from ..attacks import semantic_set_name
from ..config import DATASET_SIZES
from ..robust import MAD_TO_STD
from .statistics import mean_interval
from .tensors import layer_summary


def regime(config) -> str:
    """Where ``config`` sits on the map of chapter 4: local SGD steps per client and round, the share
    of each attacker's samples that is poisoned, and the backdoor. Every chapter states it."""
    # a client's whole deal from the dataset's size, without loading the data
    samples = config.samples_per_client or DATASET_SIZES[config.dataset][0] // (config.num_clients + 1)
    steps = config.local_epochs * -(-samples // config.batch_size)
    steps = f"{steps} local SGD step{'s' if steps != 1 else ''} per client and round"
    if config.attack == "none":
        return f"{steps}, no attack"
    images = (f"{len(config.semantic_indices)} images of your own" if config.semantic_indices is not None
              else semantic_set_name(config.dataset, config.semantic_set))
    backdoor = "trigger backdoor" if config.attack == "trigger" else f"semantic backdoor ({images})"
    return (f"{steps}, 1 in {config.num_malicious * config.malicious_data_rate} "
            f"of each attacker's samples poisoned, {backdoor}")


def first_rounds(results, rounds: int):
    """``results`` with every table cut to rounds 0 to ``rounds`` (chapter 4 reads the paper's run in round 1,
    as its map's other points; a run's first rounds do not depend on how many follow)."""
    return dataclasses.replace(results, tables={
        name: table[table["round"] <= rounds] if "round" in table else table
        for name, table in results.tables.items()})


def ratio_at_ceiling(ratios, num_clients: int, tolerance: float = 0.01) -> np.ndarray:
    """Which malicious/benign ratios of max |w_k - mean w| with one attacker lie within ``tolerance`` (a
    share) of their ceiling, num_clients - 1 (chapter 4).

    The mean includes the attacker, so its deviation is minus the sum of the honest clients':
    max |d_a| <= sum_h max |d_h|, hence max |d_a| / mean_h max |d_h| <= num_clients - 1, reached when the
    attacker dominates the tensor. A leave-one-out deviation (from the mean of the other clients) is
    num_clients / (num_clients - 1) times this one for every client: the same ratio, the same ceiling.
    """
    return np.asarray(ratios, dtype=float) >= (1 - tolerance) * (num_clients - 1)


def tensor_presence(summary: pd.DataFrame, by, tensor: str = "fc2.bias", measure: str = "attacker_z",
                    threshold: float = 3.0) -> pd.DataFrame:
    """Per setting (the columns ``by``) of a table with one row per run and tensor (:func:`sweep_summary`):
    is the anomaly present in ``tensor`` at all, the attacker beyond an outlier ``threshold`` of ``measure``
    (chapter 4)? A question apart from whether ``tensor`` is where it is largest (:func:`tensor_lead`).

    Columns: the ``by`` columns; value, the mean of ``measure`` over the setting's runs; present, that
    mean above ``threshold``; runs_above, the runs whose own value lies above it; runs.
    """
    rows = summary[summary.layer == tensor]
    grouped = rows.groupby(list(by), sort=False)[measure]
    table = pd.DataFrame({"value": grouped.mean(), "runs_above": grouped.agg(lambda v: int((v > threshold).sum())),
                          "runs": grouped.size()})
    table.insert(1, "present", table.value > threshold)
    return table.reset_index()


def tensor_lead(summary: pd.DataFrame, by, tensor: str = "fc2.bias", measure: str = "attacker_z",
                level: float = 0.95) -> pd.DataFrame:
    """Per setting (the columns ``by``) of a table with one row per run and tensor (:func:`sweep_summary`):
    does ``tensor`` set the attacker apart most, and how sure is that (chapter 4)?

    Columns: the ``by`` columns; leader, the tensor with the largest ``measure`` on the mean over the
    setting's runs; rival, the largest other than ``tensor``; lead, ``tensor``'s measure minus the
    rival's, mean over the runs (positive: ``tensor`` leads), with lead_low and lead_high, its
    Student-t interval over the runs (:func:`mean_interval`; NaN with one run); runs; and runs_led,
    the runs in which ``tensor`` alone is the largest. A lead whose interval excludes 0 is one the
    seeds settle.
    """
    indexed = summary.set_index(list(by) + ["run", "layer"])[measure]
    # the settings in their order in ``summary`` and the model's order of tensors, not sorted
    wide = indexed.unstack("layer").reindex(indexed.index.droplevel("layer").unique())
    wide = wide[list(dict.fromkeys(summary.layer))]
    rows = []
    for key, runs in wide.groupby(level=list(by), sort=False):
        means = runs.mean()
        rival = means.drop(tensor).idxmax()
        lead, low, high = mean_interval(runs[tensor] - runs[rival], level)
        best_other = runs.drop(columns=tensor).max(axis=1)
        rows.append({**dict(zip(by, key)), "leader": means.idxmax(), "rival": rival, "lead": lead,
                     "lead_low": low, "lead_high": high, "runs": len(runs),
                     "runs_led": int((runs[tensor] > best_other).sum())})
    return pd.DataFrame(rows)


def honest_spread(updates: pd.DataFrame, statistic: str = "max_abs_deviation") -> pd.Series:
    """Per tensor (in the table's order): how much the honest clients' ``statistic`` varies between them,
    1.4826 x MAD / median within each round, the mean over the rounds (chapter 4).

    The attacker's robust z-score is about (its statistic / the round's median - 1) / this spread: of two
    tensors in which the attacker stands equally far above the honest median, the one whose honest
    values vary more (a maximum over 10 entries rather than over 800,000) has the smaller z.
    """
    honest = updates[~updates.malicious]
    per_round = honest.groupby(["layer", "round"], sort=False)[statistic].agg(
        lambda v: MAD_TO_STD * (v - v.median()).abs().median() / v.median())
    return per_round.groupby(level="layer", sort=False).mean().rename("spread")


def round_intervals(updates: pd.DataFrame, statistic: str = "max_abs_deviation", level: float = 0.95) -> pd.DataFrame:
    """Per layer of one run: :func:`layer_summary`'s attacker_z, the mean over the rounds of each
    round's value, with a Student-t interval over the rounds (chapter 4's run of the paper's procedure).
    The rounds of one run are not independent draws (one attacker, one trajectory): the interval says
    how much the rounds vary, not what another seed would give."""
    per_round = pd.concat([layer_summary(group, statistic) for _, group in updates.groupby("round")])
    rows = [dict(zip(("layer", "attacker_z", "low", "high"), (layer, *mean_interval(group.attacker_z, level))))
            for layer, group in per_round.groupby("layer", sort=False)]
    return pd.DataFrame(rows).set_index("layer")
