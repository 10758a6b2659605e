"""Summaries of Results tables: how well each layer tells malicious from benign (chapters 3-7);
and the output layer's gradient taken apart on real clients (chapter 1)."""

from __future__ import annotations

import dataclasses
import math
import statistics

import numpy as np
import pandas as pd
import torch

from . import theory
from .attacks import poison_positions, semantic_set_name
from .detectors import robust_z

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
    """Per layer: malicious/benign ratio of the mean statistic, ROC-AUC, how often an attacker scores
    highest, and by how far.

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


def auc_table(updates: pd.DataFrame, statistics=("max_abs_deviation", "l2_deviation", "cosine_to_mean")) -> pd.DataFrame:
    """ROC-AUC per layer (rows) and statistic (columns)."""
    return pd.DataFrame({s: layer_summary(updates, s).set_index("layer").auc for s in statistics})


# Chapter 1: the output layer's gradient and the bias shift it predicts, checked on real clients.

BIAS_TERMS = ("poisoned_labels", "clean_labels", "start_probability", "rise_via_bias", "rise_via_weights")


def client_gradients(trainer, weights: torch.Tensor, datasets) -> torch.Tensor:
    """The gradient of each client's mean loss on all its data at ``weights`` (clients x parameters).

    The direction of one full-batch SGD step from the global model (chapter 1);
    ``trainer`` is a :class:`flsim.train.FlatTrainer`, ``datasets`` a list of (x, y).
    """
    return torch.stack([trainer.gradient(weights, x, y) for x, y in datasets])


def output_layer_zscores(gradients: torch.Tensor, malicious, layers, target_class: int) -> pd.DataFrame:
    """Each output-layer entry of a malicious client's gradient, in benign standard deviations (chapter 1).

    z = (g_malicious - mean of benign g) / sd of benign g, for the first
    malicious row of ``gradients``; ``layers`` (:class:`flsim.layout.Layers`, e.g. a
    trainer's) says where the output layer is. Entries that no benign client moves (sd 0:
    input units dead on every benign client's data) have no z and are left out.
    Columns: group (bias or weights; target class or the others), unit (the
    weight's input unit, -1 for the bias), output_class, z.
    """
    malicious = torch.as_tensor(np.asarray(malicious, dtype=bool), device=gradients.device)
    benign = gradients[~malicious]
    mean, sd = benign.mean(0), benign.std(0)
    z = (gradients[malicious][0] - mean) / sd
    b = z[layers.output_bias]
    w = z[layers.output_weight].view(len(b), -1)
    classes, units = w.shape
    frame = pd.DataFrame({
        "parameter": ["weights"] * (classes * units) + ["bias"] * classes,
        "output_class": np.concatenate([np.repeat(np.arange(classes), units), np.arange(classes)]),
        "unit": np.concatenate([np.tile(np.arange(units), classes), np.full(classes, -1)]),
        "z": torch.cat([w.reshape(-1), b]).cpu().numpy(),
    })
    side = np.where(frame.output_class == target_class, "target class", "other classes")
    frame.insert(0, "group", frame.parameter + ", " + side)
    frame = frame[np.isfinite(frame.z)].drop(columns="parameter")
    order = ["bias, target class", "bias, other classes", "weights, target class", "weights, other classes"]
    return frame.sort_values("group", key=lambda g: g.map(order.index), kind="stable").reset_index(drop=True)


@torch.no_grad()
def _target_probability(trainer, weights: torch.Tensor, x: torch.Tensor, target_class: int) -> torch.Tensor:
    trainer.load(weights)
    return torch.softmax(trainer.model(x), 1)[:, target_class]


def output_bias_terms(trainer, start: torch.Tensor, x: torch.Tensor, y: torch.Tensor, poisoned: torch.Tensor,
                      target_class: int, generator: torch.Generator) -> dict[str, float]:
    """One local epoch of SGD from ``start``, batch by batch, with the change of the target-class
    output bias b_t split into where it comes from (chapter 1).

    An SGD step on a batch B moves b_t by exactly lr / |B| * sum_i (y_i - p_i), where
    y_i is 1 for a target label and p_i is the model's target probability before the
    step. Summed over the epoch and split into terms:

    - ``poisoned_labels``, ``clean_labels``: the y_i of the poisoned samples
      (``poisoned`` marks rows of x) and of the other target-labelled samples;
    - ``start_probability``: the p_i of the model at ``start``, as if it never moved;
    - ``rise_via_bias``: how much the p_i rose through the output bias alone (the
      other weights kept at ``start``); ``rise_via_weights``: the rest of the rise,
      through every other weight.

    Up to float rounding, ``bias_change`` equals poisoned_labels + clean_labels
    minus start_probability, rise_via_bias and rise_via_weights. The batches, and
    the weights reached, are those of ``trainer.train(start, x, y, 1, generator)``.
    """
    part, t = trainer.layers.output_bias, target_class
    terms = dict.fromkeys(BIAS_TERMS, 0.0)
    weights = start
    order = torch.randperm(len(x), generator=generator).to(x.device)  # FlatModel.train's batches
    for batch in order.split(trainer.batch_size):
        xb, yb, pb = x[batch], y[batch], poisoned[batch]
        step = trainer.lr / len(batch)
        bias_only = start.clone()
        bias_only[part] = weights[part]
        p_start, p_bias, p_now = (_target_probability(trainer, w, xb, t) for w in (start, bias_only, weights))
        terms["poisoned_labels"] += step * ((yb == t) & pb).sum().item()
        terms["clean_labels"] += step * ((yb == t) & ~pb).sum().item()
        terms["start_probability"] += step * p_start.sum().item()
        terms["rise_via_bias"] += step * (p_bias - p_start).sum().item()
        terms["rise_via_weights"] += step * (p_now - p_bias).sum().item()
        weights = trainer.train(weights, xb, yb, 1, torch.Generator().manual_seed(0))  # one step: the whole batch
    terms["bias_change"] = float(weights[part][t] - start[part][t])
    return terms


def bias_shift(results, num_samples: int | None = None) -> pd.DataFrame:
    """Per round, the attackers' measured target-class output-bias deviation against the
    first-order prediction of :func:`flsim.theory.predicted_bias_shift` (chapter 1).

    Columns: round, predicted, malicious (mean over the attackers of b_target - mean b),
    benign_mean and benign_sd (over the benign clients), ratio (malicious / predicted).
    ``num_samples``, a client's data size, is needed when the config's
    ``samples_per_client`` is None.
    """
    c = results.config
    n = num_samples or c.samples_per_client
    if n is None:
        raise ValueError("samples_per_client is None (a client's whole deal): pass num_samples")
    predicted = theory.predicted_bias_shift(n, c.num_malicious, c.malicious_data_rate, c.lr, c.batch_size,
                                            c.local_epochs, c.num_chosen)
    target = results.output_bias[results.output_bias["class"] == c.target_class]
    benign = target[~target.malicious].groupby("round").deviation
    table = pd.DataFrame({
        "predicted": predicted,
        "malicious": target[target.malicious].groupby("round").deviation.mean(),
        "benign_mean": benign.mean(),
        "benign_sd": benign.std(),
    }).rename_axis("round").reset_index()
    table["ratio"] = table.malicious / table.predicted
    return table


# Chapter 3: where the attacker stands out, round by round and class by class.

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


def class_shift(output_bias: pd.DataFrame) -> pd.DataFrame:
    """Per class: how the attackers' output-bias deviation b_k - mean b compares with the benign clients' (chapter 3).

    Columns: class, malicious_mean and benign_mean (over client-rounds),
    benign_sd, z = (malicious_mean - benign_mean) / benign_sd, and
    positive_share, the share of the attackers' client-rounds in which the
    deviation is above zero.
    """
    rows = []
    for label, group in output_bias.groupby("class"):
        mal, ben = group[group.malicious].deviation, group[~group.malicious].deviation
        rows.append({
            "class": label,
            "malicious_mean": mal.mean(),
            "benign_mean": ben.mean(),
            "benign_sd": ben.std(),
            "z": (mal.mean() - ben.mean()) / ben.std(),
            "positive_share": (mal > 0).mean() if len(mal) else np.nan,
        })
    return pd.DataFrame(rows)


def auc_standard_error(auc: float, positives: int, negatives: int) -> float:
    """Hanley and McNeil's (1982) standard error of a ROC-AUC from ``positives`` malicious and
    ``negatives`` benign rows (chapter 3).

    It assumes independent rows; one client's rounds are not independent, so
    read it as a lower bound on the uncertainty.
    """
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = (auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2))
    return float(np.sqrt(variance / (positives * negatives)))


def mean_overlap(activations: torch.Tensor) -> float:
    """The mean dot product a_i . a_j over pairs of different rows (chapter 1): how much a set
    of samples excites the same units of the layer the activations come from."""
    gram = activations @ activations.T
    n = len(activations)
    return float((gram.sum() - gram.trace()) / (n * (n - 1)))


# Chapters 5-7: sweeps over one setting, one row per run (and tensor).

def _swept(config, by) -> dict:
    return {name: getattr(config, name) for name in ([by] if isinstance(by, str) else by)}


def regime(config) -> str:
    """Where ``config`` sits on the map of chapter 4: local SGD steps per client and round, the share
    of each attacker's samples that is poisoned, and the backdoor. Every chapter states it."""
    from .config import DATASET_SIZES  # the whole deal of a client, without loading the data

    samples = config.samples_per_client or DATASET_SIZES[config.dataset][0] // (config.num_clients + 1)
    steps = config.local_epochs * -(-samples // config.batch_size)
    if config.attack == "none":
        return f"{steps} local SGD steps per client and round, no attack"
    images = (f"{len(config.semantic_indices)} images of your own" if config.semantic_indices is not None
              else semantic_set_name(config.dataset, config.semantic_set))
    backdoor = "trigger backdoor" if config.attack == "trigger" else f"semantic backdoor ({images})"
    return (f"{steps} local SGD steps per client and round, 1 in {config.num_malicious * config.malicious_data_rate} "
            f"of each attacker's samples poisoned, {backdoor}")


def first_rounds(results, rounds: int):
    """``results`` with every table cut to rounds 0 to ``rounds`` (chapter 4 reads the paper's run in round 1,
    as its map's other points; a run's first rounds do not depend on how many follow)."""
    cut = {name: table[table["round"] <= rounds] if "round" in table else table
           for name, table in vars(results).items() if isinstance(table, pd.DataFrame)}
    return dataclasses.replace(results, **cut)


def t_quantile(probability: float, df: int) -> float:
    """Student's t quantile for ``probability`` (above 0.5) and ``df`` degrees of freedom (chapter 4): the
    density integrated numerically and inverted by bisection, so flsim needs no scipy."""
    log_scale = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def cdf(x: float) -> float:
        grid = np.linspace(0.0, x, 4001)
        density = np.exp(log_scale - (df + 1) / 2 * np.log1p(grid**2 / df))
        return 0.5 + float((density[1:] + density[:-1]).sum()) * (grid[1] - grid[0]) / 2

    low, high = 0.0, 1.0
    while cdf(high) < probability:
        high *= 2
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if cdf(middle) < probability else (low, middle)
    return (low + high) / 2


def mean_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """The mean of independent replicates (seeds) and its Student-t interval at ``level`` (chapter 4):
    (mean, low, high). NaN values are dropped; with fewer than two there is no interval (NaN bounds)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    mean = float(values.mean()) if len(values) else float("nan")
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = t_quantile((1 + level) / 2, len(values) - 1) * float(values.std(ddof=1)) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def auc_interval(auc: float, positives: int, negatives: int, level: float = 0.95) -> tuple[float, float]:
    """A normal interval at ``level`` around a ROC-AUC from :func:`auc_standard_error`, cut to [0, 1]
    (chapter 4). It inherits that error's assumption of independent rows: a lower bound on the width."""
    half = statistics.NormalDist().inv_cdf((1 + level) / 2) * auc_standard_error(auc, positives, negatives)
    return max(0.0, auc - half), min(1.0, auc + half)


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
    wide = summary.set_index(list(by) + ["run", "layer"])[measure].unstack("layer")
    wide = wide[list(dict.fromkeys(summary.layer))]  # the model's order of tensors, not the alphabet's
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


def round_intervals(updates: pd.DataFrame, statistic: str = "max_abs_deviation", level: float = 0.95) -> pd.DataFrame:
    """Per layer of one run: :func:`layer_summary`'s attacker_z, the mean over the rounds of each
    round's value, with a Student-t interval over the rounds (chapter 4's run of the paper's procedure).
    The rounds of one run are not independent draws (one attacker, one trajectory): the interval says
    how much the rounds vary, not what another seed would give."""
    per_round = pd.concat([layer_summary(group, statistic) for _, group in updates.groupby("round")])
    rows = [dict(zip(("layer", "attacker_z", "low", "high"), (layer, *mean_interval(group.attacker_z, level))))
            for layer, group in per_round.groupby("layer", sort=False)]
    return pd.DataFrame(rows).set_index("layer")


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


def layer_ranks(summary: pd.DataFrame, by: str, column: str = "auc") -> pd.DataFrame:
    """Per swept value (rows) and tensor (columns): the tensor's rank by ``column`` of a
    :func:`sweep_summary` table, averaged over seeds first (1 = the largest; chapters 5-7).

    Rows in ascending order of the swept value, columns in the model's order; swept
    values where ``column`` is NaN for every tensor (no attacker) are left out.
    """
    means = summary.pivot_table(index=by, columns="layer", values=column, sort=False).sort_index()
    return means.dropna(how="all").rank(axis=1, ascending=False, method="min").astype(int)


def power_law_exponent(x, y) -> float:
    """The slope of log y against log x by least squares: y ~ x^k gives k (chapters 6 and 7).

    NaN unless every x and y is positive and x takes at least two values.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if not ((x > 0).all() and (y > 0).all()) or len(np.unique(x)) < 2:
        return float("nan")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def interval_text(value: float, lo: float, hi: float, spec: str = ".2f") -> str:
    """``value [lo, hi]``, each formatted with ``spec``, for a sentence or a verdict that cites a measured
    number (chapters 5-7). A number that rounds to zero is written without a sign ("-0.00" reads as one)."""
    def shown(x):
        text = format(x, spec)
        return text.lstrip("-") if text.lstrip("-").strip("0.%") == "" else text
    return f"{shown(value)} [{shown(lo)}, {shown(hi)}]"


def _client_rounds(results) -> tuple[int, int]:
    """A run's attacker and honest client-rounds: the rows behind one tensor's AUC."""
    first = results.updates[results.updates.layer == results.updates.layer.iloc[0]]
    return int(first.malicious.sum()), int((~first.malicious).sum())


def _in_model_order(table: pd.DataFrame, by: str, layers: list) -> pd.DataFrame:
    """``table`` (columns ``by``, layer) sorted by the swept value, then the tensors in ``layers``' order,
    indexed by both."""
    order = np.lexsort((table.layer.map(layers.index).to_numpy(), table[by].to_numpy()))
    return table.iloc[order].set_index([by, "layer"])


def sweep_auc(results, summary: pd.DataFrame, by: str, width: float = 2.0) -> pd.DataFrame:
    """Per swept value with an attacker and per tensor (index: ``by``, layer; the values ascending, the
    tensors in the model's order), how well the tensor's statistic separates the attackers (chapters 5-7).

    Columns: auc, the ROC-AUC of :func:`sweep_summary` (``summary``, of the same ``results``) averaged
    over seeds; se, Hanley and McNeil's standard error (:func:`auc_standard_error`, a lower bound) for
    one run's attacker and honest client-rounds, divided by the square root of the number of seeds; lo
    and hi, auc -/+ ``width`` standard errors within [0, 1]; clear, whether lo is above 0.5: a
    separation that chance does not explain.
    """
    counts = pd.DataFrame([(getattr(r.config, by), *_client_rounds(r)) for r in results],
                          columns=[by, "positives", "negatives"]).groupby(by)
    positives, negatives, seeds = counts.positives.mean(), counts.negatives.mean(), counts.size()
    rows = []
    for (value, layer), auc in summary.groupby([by, "layer"], sort=False).auc.mean().dropna().items():
        se = (auc_standard_error(auc, round(positives[value]), round(negatives[value]))
              / np.sqrt(seeds[value]))
        rows.append({by: value, "layer": layer, "auc": auc, "se": se,
                     "lo": max(0.0, auc - width * se), "hi": min(1.0, auc + width * se)})
    table = pd.DataFrame(rows, columns=[by, "layer", "auc", "se", "lo", "hi"])
    table["clear"] = table.lo > 0.5
    return _in_model_order(table, by, list(dict.fromkeys(summary.layer)))


def sweep_ratio(results, by: str, statistic: str = "max_abs_deviation", draws: int = 1000,
                seed: int = 0) -> pd.DataFrame:
    """Per swept value with an attacker and per tensor (index: ``by``, layer; ordered as
    :func:`sweep_auc`), the malicious/benign ratio of the mean ``statistic`` (:func:`layer_summary`'s
    ratio) averaged over seeds, with a 95% bootstrap interval (lo, hi): each draw resamples every run's
    rounds with replacement, a round's client-rounds together, and averages the runs' ratios over
    seeds (chapters 5-7). Seeded: the same runs give the same interval."""
    rng = np.random.default_rng(seed)
    points, draws_of = {}, {}
    layers = []
    for r in results:
        if not r.updates.malicious.any():
            continue
        value = getattr(r.config, by)
        columns = pd.MultiIndex.from_product([["sum", "count"], [True, False]])
        per_round = (r.updates.groupby(["layer", "round", "malicious"], sort=False)[statistic]
                     .agg(["sum", "count"]).unstack("malicious").reindex(columns=columns, fill_value=0)
                     .fillna(0))
        rounds = per_round.loc[per_round.index.get_level_values("layer")[0]].index
        picks = rng.integers(0, len(rounds), (draws, len(rounds)))  # one resampling for every tensor
        for layer, table in per_round.groupby(level="layer", sort=False):
            layers += [layer] if layer not in layers else []
            sums = table.droplevel("layer").reindex(rounds, fill_value=0).to_numpy(dtype=float)
            drawn, total = sums[picks].sum(axis=1), sums.sum(axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):  # a draw without attackers: NaN
                draws_of.setdefault((value, layer), []).append(
                    drawn[:, 0] / drawn[:, 2] / (drawn[:, 1] / drawn[:, 3]))
                points.setdefault((value, layer), []).append(total[0] / total[2] / (total[1] / total[3]))
    rows = []
    for (value, layer), runs in draws_of.items():
        mean = np.mean(runs, axis=0)  # the seeds' mean ratio, draw by draw
        rows.append({by: value, "layer": layer, "ratio": float(np.mean(points[value, layer])),
                     "lo": float(np.nanpercentile(mean, 2.5)), "hi": float(np.nanpercentile(mean, 97.5))})
    return _in_model_order(pd.DataFrame(rows, columns=[by, "layer", "ratio", "lo", "hi"]), by, layers)


def _shift_draws(results, by: str, num_samples: int | None, draws: int, seed: int):
    """Per swept value with an attacker: the poisoned samples per attacker, the prediction, and the
    attackers' mean target-class shift and the honest spread (:func:`bias_shift`, means over rounds,
    then seeds) as points and as ``draws`` bootstrap draws, every run's rounds resampled."""
    rng = np.random.default_rng(seed)
    runs = {}
    for r in results:
        c, n = r.config, num_samples or r.config.samples_per_client
        if not c.attackers or n is None:
            continue
        shift = bias_shift(r, n)
        picks = rng.integers(0, len(shift), (draws, len(shift)))
        measured, spread = shift.malicious.to_numpy(), shift.benign_sd.to_numpy()
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


# Chapters 8-9: what a defence costs and whom it stops.

def defence_summary(results) -> dict:
    """One run's defence in numbers (chapters 8 and 9): the final round's main and backdoor
    accuracy, the backdoor's peak over the rounds, and the defence's flags as a detector.

    A defence flags a client-round when its aggregator does not accept the update
    (``Results.defence``): ``tpr`` is the share of attacking client-rounds flagged,
    ``fpr`` the share of honest ones. Both are NaN for rules that decide nothing
    per client, and ``tpr`` also when no client attacked.
    """
    last = results.rounds.iloc[-1]
    decided = results.defence.dropna(subset=["accepted"])
    flagged = ~decided.accepted.astype(bool)
    attackers = decided.malicious.astype(bool)
    return dict(main_accuracy=float(last.main_accuracy), backdoor_accuracy=float(last.backdoor_accuracy),
                backdoor_peak=float(results.rounds.backdoor_accuracy.iloc[1:].max()),
                tpr=float(flagged[attackers].mean()) if attackers.any() else float("nan"),
                fpr=float(flagged[~attackers].mean()) if (~attackers).any() else float("nan"))


def _robust_z_of(scores: pd.Series) -> pd.Series:
    """:func:`flsim.detectors.robust_z` of a column (in float64), for groupby's transform."""
    values = torch.from_numpy(scores.to_numpy(dtype=np.float64, copy=True))
    return pd.Series(robust_z(values).numpy(), index=scores.index)


def flag(detection: pd.DataFrame, z: float = 3.0) -> pd.Series:
    """Which rows a server would flag with the detector alone: the rule of
    :func:`flsim.detectors.outliers`
    (robust z-score above ``z``), applied within each round and detector."""
    return detection.groupby(["round", "detector"]).score.transform(_robust_z_of) > z


def tpr_at_fpr(scores, malicious, fpr: float = 0.05) -> float:
    """Share of malicious rows scoring above the threshold that flags at most ``fpr`` of the benign rows."""
    scores, malicious = np.asarray(scores, dtype=float), np.asarray(malicious, dtype=bool)
    benign = np.sort(scores[~malicious])[::-1]
    if not malicious.any() or len(benign) == 0:
        return float("nan")
    threshold = benign[int(np.floor(fpr * len(benign)))]
    return float((scores[malicious] > threshold).mean())


def detection_summary(detection: pd.DataFrame, z: float = 3.0, fpr: float = 0.05) -> pd.DataFrame:
    """Per detector: how well its scores separate attackers from honest clients (chapter 8).

    - ``auc``: ROC-AUC over all client-rounds (pooled over rounds).
    - ``tpr_at_5fpr``: TPR at the threshold that flags at most ``fpr`` of the benign
      client-rounds; the threshold is set on this run's own benign scores, the
      best case for the defender.
    - ``flag_tpr``, ``flag_fpr``: with the per-round robust z > ``z`` rule of
      :func:`flag` (no calibration needed), the share of attacker and of benign
      client-rounds flagged.
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
            tpr_at_5fpr=tpr_at_fpr(group.score, group.malicious, fpr),
            flag_tpr=group[group.malicious].flagged.mean() if group.malicious.any() else np.nan,
            flag_fpr=group[~group.malicious].flagged.mean(),
            rounds_to_detection=caught.min() - first_attack + 1 if len(caught) else np.nan,
            clean_round_fpr=group[~attacked].flagged.mean() if (~attacked).any() else np.nan,
        ))
    return pd.DataFrame(rows)
