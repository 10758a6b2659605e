"""Detectors and defences (chapters 8-10): what a defence costs and whom it stops, how well each
detector's scores separate attackers from honest clients, as benchmarks report it (ROC-AUC with its
interval, TPR and FPR with Wilson intervals, thresholds fixed on runs without an attacker)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .statistics import (auc_bootstrap_interval, auc_score_interval, roc_auc, score_threshold, tpr_at_fpr,
                         wilson_interval)
from .tensors import _robust_z_of, anomaly_score


def defence_summary(results) -> dict:
    """One run's defence in numbers (chapters 8 and 9): the final round's main and backdoor
    accuracy, the backdoor's peak over the rounds, and the defence's flags as a detector.

    A defence flags a client-round when its aggregator does not accept the update
    (``Results.defence``): ``tpr`` is the share of attacking client-rounds flagged,
    ``fpr`` the share of honest ones. Both are NaN for rules that decide nothing
    per client, and ``tpr`` also when no client attacked.
    """
    last = results.rounds.iloc[-1]
    flagged, attackers = _defence_flags(results)
    return dict(main_accuracy=float(last.main_accuracy), backdoor_accuracy=float(last.backdoor_accuracy),
                backdoor_peak=float(results.rounds.backdoor_accuracy.iloc[1:].max()),
                tpr=float(flagged[attackers].mean()) if attackers.any() else float("nan"),
                fpr=float(flagged[~attackers].mean()) if (~attackers).any() else float("nan"))


def _defence_flags(results) -> tuple[pd.Series, pd.Series]:
    """Of the client-rounds on which ``results``' aggregator decided: which it flagged (did not accept),
    and which were the attackers'."""
    decided = results.defence.dropna(subset=["accepted"])
    return ~decided.accepted.astype(bool), decided.malicious.astype(bool)


def defence_counts(results) -> dict:
    """The counts behind :func:`defence_summary`'s ``tpr`` and ``fpr`` (chapter 8), pooled over one run or
    a list of runs: attackers_flagged of attacker_rounds, honest_flagged of honest_rounds (0 of 0 for
    rules that decide nothing per client), for a sentence that gives both, or a Wilson interval."""
    counts = dict(attackers_flagged=0, attacker_rounds=0, honest_flagged=0, honest_rounds=0)
    for run in [results] if hasattr(results, "config") else results:
        flagged, attackers = _defence_flags(run)
        counts["attackers_flagged"] += int(flagged[attackers].sum())
        counts["attacker_rounds"] += int(attackers.sum())
        counts["honest_flagged"] += int(flagged[~attackers].sum())
        counts["honest_rounds"] += int((~attackers).sum())
    return counts


def flag(detection: pd.DataFrame, z: float = 3.0) -> pd.Series:
    """Which rows a server would flag with the detector alone: the rule of
    :func:`flsim.robust.outliers`
    (robust z-score above ``z``), applied within each round and detector (and run, where a
    ``run`` column tells several runs apart)."""
    keys = ["run", "round", "detector"] if "run" in detection else ["round", "detector"]
    return detection.groupby(keys).score.transform(_robust_z_of) > z


def detection_summary(detection: pd.DataFrame, z: float = 3.0, fpr: float = 0.05) -> pd.DataFrame:
    """Per detector: how well its scores separate attackers from honest clients (chapter 8).

    - ``auc``: ROC-AUC over all client-rounds (pooled over rounds).
    - ``tpr_at_fpr``: TPR at the threshold that flags at most ``fpr`` of the benign
      client-rounds; the threshold is set on this run's own benign scores, the
      best case for the defender.
    - ``tpr``, ``fpr``: with the per-round robust z > ``z`` rule of
      :func:`flag` (no calibration needed), the share of attacker and of benign
      client-rounds flagged (as :func:`defence_summary`'s ``tpr`` and ``fpr`` count
      a defence's flags).
    - ``rounds_to_detection``: 1 + rounds from the first round with an attacker to
      the first round in which the rule flags one; NaN if it never does.
    - ``clean_round_fpr``: the share of clients flagged in rounds without any
      attacker; NaN if every round has one.
    """
    detection = detection.assign(flagged=flag(detection, z))
    rows = []
    for name, group in detection.groupby("detector", sort=False):
        attacked = group.groupby("round").malicious.transform("any")
        caught = group[group.malicious & group.flagged]["round"]
        first_attack = group[group.malicious]["round"].min()
        rows.append(dict(
            detector=name,
            auc=roc_auc(group.score, group.malicious),
            tpr_at_fpr=tpr_at_fpr(group.score, group.malicious, fpr),
            tpr=group[group.malicious].flagged.mean() if group.malicious.any() else np.nan,
            fpr=group[~group.malicious].flagged.mean(),
            rounds_to_detection=caught.min() - first_attack + 1 if len(caught) else np.nan,
            clean_round_fpr=group[~attacked].flagged.mean() if (~attacked).any() else np.nan,
        ))
    return pd.DataFrame(rows)


def _pooled(results, table: str) -> pd.DataFrame:
    """``table`` of one Results or of each of a list, stacked, with a ``run`` column (the position)."""
    runs = [results] if hasattr(results, "config") else list(results)
    return pd.concat([getattr(r, table).assign(run=i) for i, r in enumerate(runs)], ignore_index=True)


def clean_thresholds(clean, fpr: float = 0.05) -> pd.Series:
    """Per detector: :func:`score_threshold` of the honest client-rounds of ``clean`` (a Results or a
    list, runs without an attacker), the score above which at most ``fpr`` of them lie (chapters 8
    and 9). Fixed on runs without an attacker, it does not depend on the runs it is then judged on."""
    detection = _pooled(clean, "detection")
    honest = detection[~detection.malicious.astype(bool)]
    return honest.groupby("detector", sort=False).score.agg(lambda s: score_threshold(s, fpr))


def _auc_with_interval(rows: pd.DataFrame, level: float, resamples: int, seed: int) -> dict:
    """auc, auc_lo, auc_hi of the rows' score (columns run, round, score, malicious): the interval the
    wider bounds of :func:`auc_bootstrap_interval` over the runs' rounds and :func:`auc_score_interval`."""
    malicious = rows.malicious.astype(bool)
    auc = roc_auc(rows.score, malicious)
    clusters = rows.groupby(["run", "round"]).ngroup().to_numpy()
    drawn = auc_bootstrap_interval(rows.score, malicious, clusters, level, resamples, seed)
    scored = auc_score_interval(auc, int(malicious.sum()), int((~malicious).sum()), level)
    return dict(auc=auc, auc_lo=min(drawn[0], scored[0]), auc_hi=max(drawn[1], scored[1]))


def layer_aucs(results, statistic: str = "max_abs_deviation", level: float = 0.95, resamples: int = 2000,
               seed: int = 0) -> pd.DataFrame:
    """Per parameter tensor, in the model's order: the ROC-AUC of ``statistic`` for telling attacker from
    honest client-rounds, pooled over ``results`` (a Results or a list, e.g. seeds), with the interval of
    :func:`detection_report` (chapter 9). Columns: layer, attacker_rounds, honest_rounds, auc, auc_lo,
    auc_hi; the first three are what :func:`flsim.plots.layer_auc` reads."""
    updates = _pooled(results, "updates")
    updates = updates.assign(score=anomaly_score(updates, statistic), malicious=updates.malicious.astype(bool))
    return pd.DataFrame([dict(layer=layer, attacker_rounds=int(group.malicious.sum()),
                              honest_rounds=int((~group.malicious).sum()),
                              **_auc_with_interval(group, level, resamples, seed))
                         for layer, group in updates.groupby("layer", sort=False)])


def _rate(flagged: pd.Series, level: float) -> tuple[float, float, float]:
    if len(flagged) == 0:
        return float("nan"), float("nan"), float("nan")
    return (float(flagged.mean()), *wilson_interval(int(flagged.sum()), len(flagged), level))


def detection_report(attacked, clean=None, z: float = 3.0, fpr: float = 0.05, level: float = 0.95,
                     resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per detector, detection as benchmarks report it (chapters 8 and 9): the runs ``attacked`` (a Results
    or a list, e.g. one setting's seeds) pooled, and judged beside the runs without an attacker ``clean``.

    - ``attacker_rounds``, ``honest_rounds``, ``clean_rounds``: the client-rounds behind the numbers.
    - ``auc``: ROC-AUC of attacker against honest client-rounds of ``attacked``, with ``auc_lo``, ``auc_hi`` the
      wider bounds of :func:`auc_bootstrap_interval` (whole rounds resampled: it keeps a round's
      dependence) and :func:`auc_score_interval` (it keeps a width where every draw separates perfectly).
    - ``tpr``, ``fpr``: the detector's own decision rule, :func:`flag`'s outlier rule (robust z-score above
      ``z`` within the round; nothing to calibrate): the shares of attacker and of honest client-rounds
      of ``attacked`` it flags. ``clean_fpr``: the share of ``clean``'s client-rounds it flags, its false
      alarms where there is nobody to catch.
    - ``threshold``: :func:`clean_thresholds` at ``fpr``, fixed on ``clean`` before any attacker is seen;
      ``cal_tpr``, ``cal_fpr``: the shares of attacker and honest client-rounds of ``attacked`` above it.

    Every rate comes with its :func:`wilson_interval` at ``level`` (``<rate>_lo``, ``<rate>_hi``).
    Without ``clean``, ``clean_fpr``, ``threshold`` and the ``cal_`` columns are NaN and ``clean_rounds`` is 0.
    """
    detection = _pooled(attacked, "detection")
    detection = detection.assign(malicious=detection.malicious.astype(bool), flagged=flag(detection, z))
    if clean is not None:
        quiet = _pooled(clean, "detection")
        quiet = quiet[~quiet.malicious.astype(bool)]
        quiet = quiet.assign(flagged=flag(quiet, z))
        thresholds = clean_thresholds(clean, fpr)
    rows = []
    for name, group in detection.groupby("detector", sort=False):
        attackers, honest = group[group.malicious], group[~group.malicious]
        row = dict(detector=name, attacker_rounds=len(attackers), honest_rounds=len(honest), clean_rounds=0,
                   **_auc_with_interval(group, level, resamples, seed))
        for column, rows_flagged in (("tpr", attackers.flagged), ("fpr", honest.flagged)):
            row.update(zip((column, f"{column}_lo", f"{column}_hi"), _rate(rows_flagged, level)))
        row.update({key: float("nan") for key in ("clean_fpr", "clean_fpr_lo", "clean_fpr_hi", "threshold",
                                                  "cal_tpr", "cal_tpr_lo", "cal_tpr_hi",
                                                  "cal_fpr", "cal_fpr_lo", "cal_fpr_hi")})
        if clean is not None:
            mine = quiet[quiet.detector == name]
            threshold = float(thresholds.get(name, float("nan")))
            row.update(clean_rounds=len(mine), threshold=threshold)
            row.update(zip(("clean_fpr", "clean_fpr_lo", "clean_fpr_hi"), _rate(mine.flagged, level)))
            for column, part in (("cal_tpr", attackers), ("cal_fpr", honest)):
                row.update(zip((column, f"{column}_lo", f"{column}_hi"), _rate(part.score > threshold, level)))
        rows.append(row)
    return pd.DataFrame(rows)
