"""Sweeps over one setting (chapters 5-7): one row per run (and tensor), per swept value the AUC and the
malicious/benign ratio of every tensor with their intervals, the attackers' output-bias shift against the
first-order theory and its power law, the case for one tensor, and the tables the chapters show."""

from __future__ import annotations

import warnings
from statistics import NormalDist  # the standard library's

import numpy as np
import pandas as pd

from .. import theory
from ..attacks import poison_positions
from .bias import bias_shift
from .statistics import auc_score_interval, auc_standard_error, power_law_exponent
from .tensors import _client_rounds, layer_summary, round_ratio_draws
from .words import interval_text


def _swept(config, by) -> dict:
    return {name: getattr(config, name) for name in ([by] if isinstance(by, str) else by)}


def sweep_summary(results, by, statistic: str = "max_abs_deviation") -> pd.DataFrame:
    """One row per run and parameter tensor of a sweep over the Config field(s) ``by`` (chapters 5-7).

    Columns: run (the position in ``results``), the swept field(s), seed, layer,
    then :func:`layer_summary`'s malicious_mean, benign_mean, ratio, auc and
    top_rate for ``statistic``, pooled over the run's rounds. A run without an
    attacker (num_malicious=0 or attack="none") keeps its benign_mean; its
    malicious columns, ratio, auc and top_rate are NaN: there is no one to find.
    """
    frames = []
    for run, r in enumerate(results):
        table = layer_summary(r.updates, statistic)
        for name, value in reversed({"run": run, **_swept(r.config, by), "seed": r.config.seed}.items()):
            table.insert(0, name, value)
        frames.append(table)
    return pd.concat(frames, ignore_index=True)


def sweep_runs(results, by, last_rounds: int = 3, num_samples: int | None = None) -> pd.DataFrame:
    """One row per run of a sweep over the Config field(s) ``by``: what the attack achieved (chapters 5-7).

    Columns: run, the swept field(s), seed; main_accuracy and backdoor_accuracy
    of the final global model, and backdoor_accuracy_last, the mean over the
    last ``last_rounds`` rounds (backdoor accuracy on a few images jumps from
    round to round); poisoned, the samples each attacker poisons; and from
    :func:`bias_shift`, means over the rounds: target_shift (the attackers'
    target-class output-bias deviation b_t - mean b), benign_sd (the honest
    clients' spread of that deviation) and predicted_shift
    (:func:`flsim.theory.predicted_bias_shift`). Without an attacker the last
    four are 0 or NaN. ``num_samples``, a client's data size, is needed when
    the configs' ``samples_per_client`` is None; without it those four are NaN.
    """
    rows = []
    for run, r in enumerate(results):
        c, rounds = r.config, r.rounds[r.rounds["round"] > 0]
        row = {"run": run, **_swept(c, by), "seed": c.seed,
               "main_accuracy": rounds.main_accuracy.iloc[-1], "backdoor_accuracy": rounds.backdoor_accuracy.iloc[-1],
               "backdoor_accuracy_last": rounds.backdoor_accuracy.tail(last_rounds).mean(),
               "poisoned": 0, "target_shift": np.nan, "benign_sd": np.nan, "predicted_shift": np.nan}
        n = num_samples or c.samples_per_client
        if c.attackers and n is not None:
            shift = bias_shift(r, n)
            row.update(poisoned=len(poison_positions(n, c.attackers, c.malicious_data_rate)),
                       target_shift=shift.malicious.mean(), benign_sd=shift.benign_sd.mean(),
                       predicted_shift=shift.predicted.iloc[0])
        rows.append(row)
    return pd.DataFrame(rows)


def seed_spread(per_run: pd.DataFrame, by: str, column: str) -> pd.DataFrame:
    """Per swept value (rows, ascending): ``column`` of :func:`sweep_runs` as its mean over seeds (mean)
    and the lowest and highest seed's value (lo, hi), the spread the seeds show (chapters 5-7)."""
    return per_run.groupby(by)[column].agg(["mean", "min", "max"]).set_axis(["mean", "lo", "hi"], axis=1)


def poisoning_rule(num_samples: int, num_malicious_values, malicious_data_rate: int, lr: float, batch_size: int,
                   local_epochs: int, num_chosen: int) -> pd.DataFrame:
    """Per number of attackers m (index, those above 0; chapter 5): the samples each attacker poisons under
    the paper's rule (step m r) and all of them together, the first-order shift of each attacker's
    target-class bias (:func:`flsim.theory.predicted_bias_shift`), and the same two for the rule the paper
    did not use, every attacker keeping a lone attacker's step r ("step r")."""
    alone = theory.predicted_bias_shift(num_samples, 1, malicious_data_rate, lr, batch_size, local_epochs,
                                        num_chosen)
    rows = []
    for m in (m for m in num_malicious_values if m > 0):
        each = len(poison_positions(num_samples, m, malicious_data_rate))
        rows.append({"m": m, "poisoned each": each, "in total": m * each,
                     "predicted shift": theory.predicted_bias_shift(num_samples, m, malicious_data_rate, lr,
                                                                    batch_size, local_epochs, num_chosen),
                     "each, step r": len(poison_positions(num_samples, 1, malicious_data_rate)),
                     # the lone attacker's shift with m attackers pulling the mean: factor 1 - m/N
                     "shift, step r": alone * (1 - m / num_chosen) / (1 - 1 / num_chosen)})
    return pd.DataFrame(rows).set_index("m")


def _in_model_order(table: pd.DataFrame, by: str, layers: list) -> pd.DataFrame:
    """``table`` (columns ``by``, layer) sorted by the swept value, then the tensors in ``layers``' order,
    indexed by both."""
    order = np.lexsort((table.layer.map(layers.index).to_numpy(), table[by].to_numpy()))
    return table.iloc[order].set_index([by, "layer"])


def sweep_auc(results, summary: pd.DataFrame, by: str, width: float = 2.0) -> pd.DataFrame:
    """Per swept value with an attacker and per tensor (index: ``by``, layer; the values ascending, the
    tensors in the model's order), how well the tensor's statistic separates the attackers (chapters 5-7).

    Columns: auc, the ROC-AUC of :func:`sweep_summary` (``summary``, of the same ``results``) averaged
    over seeds; se, Hanley and McNeil's standard error (:func:`auc_standard_error`) for one run's
    attacker and honest client-rounds, divided by the square root of the number of seeds; lo and hi,
    the interval ``width`` such errors either side, each taken at its end rather than at the AUC
    (:func:`auc_score_interval` for the seeds' client-rounds together), so that an AUC of 1 keeps a
    width; clear, whether lo is above 0.5: a separation that chance does not explain. Rows of one
    client are not independent: the interval is a lower bound on the uncertainty.
    """
    counts = pd.DataFrame([(getattr(r.config, by), *_client_rounds(r)) for r in results],
                          columns=[by, "positives", "negatives"]).groupby(by)
    positives, negatives, seeds = counts.positives.sum(), counts.negatives.sum(), counts.size()
    level = 2 * NormalDist().cdf(width) - 1
    rows = []
    for (value, layer), auc in summary.groupby([by, "layer"], sort=False).auc.mean().dropna().items():
        se = (auc_standard_error(auc, round(positives[value] / seeds[value]),
                                 round(negatives[value] / seeds[value])) / np.sqrt(seeds[value]))
        lo, hi = auc_score_interval(auc, int(positives[value]), int(negatives[value]), level)
        rows.append({by: value, "layer": layer, "auc": auc, "se": se, "lo": lo, "hi": hi})
    table = pd.DataFrame(rows, columns=[by, "layer", "auc", "se", "lo", "hi"])
    table["clear"] = table.lo > 0.5
    return _in_model_order(table, by, list(dict.fromkeys(summary.layer)))


def sweep_ratio(results, by: str, statistic: str = "max_abs_deviation", draws: int = 1000,
                seed: int = 0) -> pd.DataFrame:
    """Per swept value with an attacker and per tensor (index: ``by``, layer; ordered as
    :func:`sweep_auc`), the malicious/benign ratio of the mean ``statistic`` (:func:`layer_summary`'s
    ratio) averaged over seeds, with a 95% bootstrap interval (lo, hi): each draw resamples every run's
    rounds with replacement, a round's client-rounds together, and averages the runs' ratios over
    seeds (chapters 3, 5-7). Seeded: the same runs give the same interval, in whatever sweep they
    sit: each swept value draws from its own generator seeded ``seed``, its runs in seed order, so
    a value's interval does not depend on the sweep's other values or on the runs' order (chapter
    7's runs at r = 10 and chapter 3's, the same runs, give one interval; a sweep of one run gives
    :func:`tensor_standing`'s).

    A bootstrap of clusters (a round's client-rounds) across runs, one resampling of a run's rounds
    for all its tensors (:func:`round_ratio_draws`): not what ``scipy.stats.bootstrap`` resamples."""
    rngs = {}
    points, draws_of = {}, {}
    layers = []
    for r in sorted(results, key=lambda r: r.config.seed):  # stable: equal seeds keep their order
        if not r.updates.malicious.any():
            continue
        value = getattr(r.config, by)
        rng = rngs.setdefault(value, np.random.default_rng(seed))
        for layer, (point, drawn) in round_ratio_draws(r.updates, statistic, rng, draws).items():
            layers += [layer] if layer not in layers else []
            draws_of.setdefault((value, layer), []).append(drawn)
            points.setdefault((value, layer), []).append(point)
    rows = []
    for (value, layer), runs in draws_of.items():
        mean = np.mean(runs, axis=0)  # the seeds' mean ratio, draw by draw
        rows.append({by: value, "layer": layer, "ratio": float(np.mean(points[value, layer])),
                     "lo": float(np.nanpercentile(mean, 2.5)), "hi": float(np.nanpercentile(mean, 97.5))})
    return _in_model_order(pd.DataFrame(rows, columns=[by, "layer", "ratio", "lo", "hi"]), by, layers)


def _shift_draws(results, by: str, num_samples: int | None, draws: int, seed: int):
    """Per swept value with an attacker: the poisoned samples per attacker, the prediction, and the
    attackers' mean target-class shift and the honest spread (:func:`bias_shift`, means over rounds,
    then seeds) as points and as ``draws`` bootstrap draws, every run's rounds resampled; each value
    from its own generator seeded ``seed``, its runs in seed order (as :func:`sweep_ratio`)."""
    rngs, runs = {}, {}
    for r in sorted(results, key=lambda r: r.config.seed):
        c, n = r.config, num_samples or r.config.samples_per_client
        if not c.attackers or n is None:
            continue
        shift = bias_shift(r, n)
        rng = rngs.setdefault(getattr(c, by), np.random.default_rng(seed))
        picks = rng.integers(0, len(shift), (draws, len(shift)))
        measured, spread = shift.malicious.to_numpy(), shift.benign_sd.to_numpy()
        with warnings.catch_warnings():  # a draw of rounds without an attacker is NaN, and left out
            warnings.simplefilter("ignore", RuntimeWarning)
            runs.setdefault(getattr(c, by), []).append(dict(
                poisoned=len(poison_positions(n, c.attackers, c.malicious_data_rate)),
                predicted=shift.predicted.iloc[0], measured=np.nanmean(measured), honest_sd=np.nanmean(spread),
                measured_draws=np.nanmean(measured[picks], axis=1), sd_draws=np.nanmean(spread[picks], axis=1)))
    return {value: {key: np.mean([run[key] for run in seeds], axis=0) for key in seeds[0]}
            for value, seeds in sorted(runs.items())}


def sweep_shift(results, by: str, num_samples: int | None = None, draws: int = 1000,
                seed: int = 0) -> pd.DataFrame:
    """Per swept value with an attacker (rows, ascending): the attackers' target-class output-bias shift
    against the first-order theory and the honest spread (chapters 5-7).

    Columns: poisoned (samples per attacker); measured, the attackers' deviation b_t - mean b
    (:func:`bias_shift`: mean over rounds, then seeds) with its 95% bootstrap interval lo, hi (every
    run's rounds resampled with replacement); predicted (:func:`flsim.theory.predicted_bias_shift`);
    honest_sd, the honest clients' spread of the same deviation; fraction, measured / predicted, and
    sd_units, measured / honest_sd, each with its interval (fraction_lo, ..., sd_units_hi). Seeded.
    ``num_samples``, a client's data size, is needed when the configs' ``samples_per_client`` is None.
    """
    rows = []
    for value, v in _shift_draws(results, by, num_samples, draws, seed).items():
        lo, hi = np.nanpercentile(v["measured_draws"], [2.5, 97.5])
        units = np.nanpercentile(v["measured_draws"] / v["sd_draws"], [2.5, 97.5])
        rows.append({by: value, "poisoned": int(v["poisoned"]), "measured": v["measured"], "lo": lo, "hi": hi,
                     "predicted": v["predicted"], "honest_sd": v["honest_sd"],
                     "fraction": v["measured"] / v["predicted"], "fraction_lo": lo / v["predicted"],
                     "fraction_hi": hi / v["predicted"], "sd_units": v["measured"] / v["honest_sd"],
                     "sd_units_lo": units[0], "sd_units_hi": units[1]})
    return pd.DataFrame(rows).set_index(by)


def _slopes(x, y) -> np.ndarray:
    """The least-squares slope of log y on log x for each row of ``y`` (draws x values); NaN for a row
    with a value that is not positive."""
    lx = np.log(np.asarray(x, dtype=float))
    with np.errstate(invalid="ignore", divide="ignore"):
        ly = np.where(y > 0, np.log(np.where(y > 0, y, 1.0)), np.nan)
    return ((ly - ly.mean(axis=1, keepdims=True)) * (lx - lx.mean())).sum(axis=1) / ((lx - lx.mean()) ** 2).sum()


def shift_exponents(results, by: str, x: str | None = None, num_samples: int | None = None,
                    draws: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The exponent k in quantity ~ x^k (:func:`power_law_exponent`) of the attackers' measured shift and of
    the honest spread of :func:`sweep_shift` (rows measured, honest_sd, and their difference), with 95%
    bootstrap intervals from the same draws (columns k, lo, hi; chapters 6 and 7). ``x`` is the swept
    value (None) or "poisoned", the samples per attacker. All NaN when a mean is not positive or x takes
    fewer than two values; an interval's draws with a value that is not positive are left out."""
    values = _shift_draws(results, by, num_samples, draws, seed)
    xs = [v["poisoned"] for v in values.values()] if x == "poisoned" else list(values)
    rows = {}
    for name, point, drawn in (("measured", "measured", "measured_draws"), ("honest_sd", "honest_sd", "sd_draws")):
        k = power_law_exponent(xs, [v[point] for v in values.values()])
        slopes = _slopes(xs, np.column_stack([v[drawn] for v in values.values()])) if k == k else None
        rows[name] = (k, slopes)
    (k_m, d_m), (k_s, d_s) = rows["measured"], rows["honest_sd"]
    rows["difference"] = (k_m - k_s, d_m - d_s if d_m is not None and d_s is not None else None)
    table = {}
    for name, (k, slopes) in rows.items():
        lo, hi = ((np.nanpercentile(slopes, [2.5, 97.5]) if slopes is not None and np.isfinite(slopes).any()
                  else (np.nan, np.nan)))
        table[name] = {"k": k, "lo": float(lo), "hi": float(hi)}
    return pd.DataFrame(table).T


def sweep_evidence(auc: pd.DataFrame, ratio: pd.DataFrame, tensor: str,
                   summary: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per swept value (rows): the case for ``tensor`` (chapters 5-7), from :func:`sweep_auc` and
    :func:`sweep_ratio`. Columns: its auc, lo, hi and clear; auc_rank, its rank among the tensors by
    mean AUC (1 = the largest, ties sharing it); ratio, ratio_lo, ratio_hi and ratio_rank likewise, and
    ratio_clear, whether ratio_lo is above 1 (the attackers' deviation larger than the honest one); and
    best, the tensor(s) of AUC rank 1 (joined by " and "), with best_auc, best_lo and best_hi (of the
    first of them). With the sweep's ``summary`` (:func:`sweep_summary`, swept by the same field), also
    seeds (the runs at that value) and auc_seeds and ratio_seeds: in how many of them ``tensor`` is the
    top tensor of its run by that measure (a tie counts for each)."""
    auc_ranks = auc.auc.unstack(sort=False).rank(axis=1, ascending=False, method="min")
    ratio_ranks = ratio.ratio.unstack(sort=False).rank(axis=1, ascending=False, method="min")
    rows = []
    for value, ranks in auc_ranks.iterrows():
        best = list(ranks.index[ranks == 1])
        mine, top, spread = auc.loc[(value, tensor)], auc.loc[(value, best[0])], ratio.loc[(value, tensor)]
        rows.append({"value": value, "auc": mine.auc, "lo": mine.lo, "hi": mine.hi,
                     "clear": bool(mine.clear), "auc_rank": int(ranks[tensor]), "ratio": spread.ratio,
                     "ratio_lo": spread.lo, "ratio_hi": spread.hi,
                     "ratio_rank": int(ratio_ranks.loc[value, tensor]), "ratio_clear": bool(spread.lo > 1),
                     "best": " and ".join(best),
                     "best_auc": top.auc, "best_lo": top.lo, "best_hi": top.hi})
    evidence = pd.DataFrame(rows).set_index("value").rename_axis(auc.index.names[0])
    if summary is not None:
        attacked = summary.dropna(subset=["auc"])
        tops = attacked.groupby("run")[["auc", "ratio"]].rank(ascending=False, method="min") == 1
        own = tops[attacked.layer == tensor].groupby(attacked[evidence.index.name])
        evidence["seeds"] = own.size()
        evidence["auc_seeds"], evidence["ratio_seeds"] = own.auc.sum(), own.ratio.sum()
    return evidence


def sweep_run_table(per_run: pd.DataFrame, summary: pd.DataFrame, by: str, tensor: str,
                    label: str) -> pd.DataFrame:
    """One row per run (index: ``label`` for the swept ``by``, seed) with the columns the chapters' text is
    about, ``tensor``'s first (chapters 5-7): its ROC-AUC and malicious/benign ratio
    (:func:`sweep_summary`), then backdoor accuracy (mean of the last rounds) and main-task accuracy
    (final round) from :func:`sweep_runs`. A run without an attacker has no AUC or ratio (NaN)."""
    own = summary[summary.layer == tensor].set_index("run")
    table = pd.DataFrame({label: per_run[by], "seed": per_run.seed,
                          f"{tensor} AUC": per_run.run.map(own.auc), f"{tensor} ratio": per_run.run.map(own.ratio),
                          "backdoor accuracy": per_run.backdoor_accuracy_last, "main accuracy": per_run.main_accuracy})
    return table.sort_values([label, "seed"], kind="stable").set_index([label, "seed"])


def tensor_table(auc: pd.DataFrame, ratio: pd.DataFrame, tensor: str, label: str) -> pd.DataFrame:
    """:func:`sweep_auc` and :func:`sweep_ratio` as chapters 5-7 show them: one row per swept value and
    tensor (index ``label``, tensor), ``tensor`` first within each value, its AUC and ratio each as
    "x [lo, hi]". Long rather than wide, so that it fits the page however many values are swept."""
    layers = list(dict.fromkeys(auc.index.get_level_values("layer")))
    order = [tensor] + [layer for layer in layers if layer != tensor]
    rows = [{label: value, "tensor": layer,
             "AUC": interval_text(*auc.loc[(value, layer), ["auc", "lo", "hi"]]),
             "ratio": interval_text(*ratio.loc[(value, layer), ["ratio", "lo", "hi"]])}
            for value in dict.fromkeys(auc.index.get_level_values(0)) for layer in order]
    return pd.DataFrame(rows).set_index([label, "tensor"])


def evidence_table(evidence: pd.DataFrame, tensor: str, label: str) -> pd.DataFrame:
    """:func:`sweep_evidence` as chapters 5-7 show it: per swept value (index ``label``), ``tensor``'s AUC
    and ratio with their intervals and their ranks among the tensors (the tensors that tie at the top
    can be many: :func:`tensor_table` beside it shows them), and where ``evidence`` counts them, the
    seeds in which it tops its run by each ("AUC / ratio of seeds")."""
    columns = {
        f"{tensor} AUC": [interval_text(r.auc, r.lo, r.hi) for r in evidence.itertuples()],
        "AUC rank": evidence.auc_rank,
        f"{tensor} ratio": [interval_text(r.ratio, r.ratio_lo, r.ratio_hi) for r in evidence.itertuples()],
        "ratio rank": evidence.ratio_rank,
    }
    if "seeds" in evidence:
        columns["top in seeds"] = [f"{r.auc_seeds:.0f} / {r.ratio_seeds:.0f} of {r.seeds:.0f}"
                                  for r in evidence.itertuples()]
    return pd.DataFrame(columns, index=evidence.index).rename_axis(label)


def shift_table(shift: pd.DataFrame, label: str, spec: str = ".5f") -> pd.DataFrame:
    """:func:`sweep_shift` as chapters 5-7 show it: per swept value (index ``label``), the measured shift
    with its interval beside the prediction (logit units, formatted with ``spec``), then the measured
    shift divided by the prediction and by the honest spread (÷), each with its interval (the spread
    itself is in the chapters' figure)."""
    rows = list(shift.itertuples())
    return pd.DataFrame({
        "measured": [interval_text(r.measured, r.lo, r.hi, spec) for r in rows],
        "predicted": [format(r.predicted, spec) for r in rows],
        "÷ predicted": [interval_text(r.fraction, r.fraction_lo, r.fraction_hi, ".0%") for r in rows],
        "÷ honest sd": [interval_text(r.sd_units, r.sd_units_lo, r.sd_units_hi) for r in rows],
    }, index=shift.index).rename_axis(label)
