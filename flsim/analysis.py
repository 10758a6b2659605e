"""Summaries of Results tables: how well each layer tells malicious from benign (chapters 3-7);
and the output layer's gradient taken apart on real clients (chapter 1)."""

from __future__ import annotations

import dataclasses
import warnings
import math
import statistics

import numpy as np
import pandas as pd
import torch

from . import theory
from .attacks import poison_positions, semantic_set_name
from .robust import MAD_TO_STD, robust_z

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


def bias_term_shares(terms: pd.DataFrame, scale: float = 1000.0, digits: int = 3) -> pd.DataFrame:
    """Each client's (rows) :func:`output_bias_terms` as its share of the deviation b_t - mean b from the
    mean over the clients, signed so that the columns add up to the last one, up to rounding (chapter 1).

    Columns, in units of 1 / ``scale`` logit: ``+ poisoned`` and ``+ clean`` (the target labels),
    ``− p_t start`` and ``− rise of p_t`` (through every weight, the output bias included; the chapter
    says how small the bias's own share is) and ``= b_t change``. Rounded to ``digits``, without "-0.0".
    """
    deviation = (terms - terms.mean()) * scale
    table = pd.DataFrame({
        "+ poisoned": deviation.poisoned_labels,
        "+ clean": deviation.clean_labels,
        "− p_t start": -deviation.start_probability,
        "− rise of p_t": -(deviation.rise_via_bias + deviation.rise_via_weights),
        "= b_t change": deviation.bias_change,
    })
    return table.round(digits) + 0.0  # adding 0.0 turns a rounded -0.0 into 0.0


def bias_shift_settings(shifts: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per setting of a grid of one-round runs on several seeds (chapter 1): ``shifts`` holds
    :func:`bias_shift`'s rows of every run with the columns setting, varied and seed added.

    Index: setting, in the order of first appearance. Columns: varied; predicted; ratio, the mean
    over the seeds of measured / predicted shift, with lo and hi, its Student-t interval at ``level``
    (:func:`mean_interval`); below, the seeds whose ratio is below 1; seeds; and honest_sd, the honest
    clients' standard deviation over the prediction (mean over the seeds).
    """
    rows = []
    for (setting, varied), runs in shifts.groupby(["setting", "varied"], sort=False):
        ratio, lo, hi = mean_interval(runs.ratio, level)
        rows.append(dict(setting=setting, varied=varied, predicted=runs.predicted.mean(), ratio=ratio,
                         lo=lo, hi=hi, below=int((runs.ratio < 1).sum()), seeds=runs.seed.nunique(),
                         honest_sd=(runs.benign_sd / runs.predicted).mean()))
    return pd.DataFrame(rows).set_index("setting")


def rank_trend(frame: pd.DataFrame, x: str, y: str, by: str = "seed", level: float = 0.95) -> dict:
    """Does ``y`` fall or rise with ``x``, and do the seeds agree (chapter 1)?

    Spearman's rank correlation of ``x`` and ``y`` within each group of rows ``by`` (a seed's
    runs); its mean over the groups with a Student-t interval at ``level`` (:func:`mean_interval`),
    cut to [-1, 1], where a mean of correlations lies. A group whose ``x`` takes fewer than two
    values, or whose ``y`` is constant, has none and is left out. Keys: rho, lo, hi (NaN with fewer
    than two groups), groups, negative and positive (the groups whose correlation is below or above
    0), falling (those in which ``y`` falls at every step of ``x``: a correlation of -1) and rising (+1).
    """
    rhos = []
    for _, group in frame.groupby(by):
        if group[x].nunique() >= 2 and group[y].nunique() >= 2:
            rhos.append(group[x].rank().corr(group[y].rank()))  # Spearman: Pearson on the ranks
    rho, lo, hi = mean_interval(rhos, level)
    rhos = np.asarray(rhos)
    return dict(rho=rho, lo=float(np.clip(lo, -1, 1)), hi=float(np.clip(hi, -1, 1)), groups=len(rhos),
                negative=int((rhos < 0).sum()), positive=int((rhos > 0).sum()),
                falling=int(np.isclose(rhos, -1).sum()), rising=int(np.isclose(rhos, 1).sum()))


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


def class_shift(output_bias: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per class: how the attackers' output-bias deviation b_k - mean b compares with the benign clients' (chapter 3).

    Columns: class; malicious_mean and benign_mean (over client-rounds); benign_sd, the benign
    client-rounds' standard deviation with every round pooled; and the attackers' shift in honest
    standard deviations by two definitions, which differ when the honest spread or mean changes
    from round to round:

    - ``pooled_z`` = (malicious_mean - benign_mean) / benign_sd, every round pooled (chapter 3's),
      with pooled_z_lo and pooled_z_hi, the attackers' mean's Student-t interval at ``level`` over
      their client-rounds (:func:`mean_interval`) in the same units (the benign mean and sd, from
      many more rows, taken as known);
    - ``round_z``: (the attackers' mean - the benign mean) / the benign sd within each round,
      averaged over the rounds with an attacker (chapter 1's measure, against each round's spread),
      with round_z_lo and round_z_hi, its Student-t interval over those rounds;

    and positive_share, the share of the attackers' client-rounds in which the deviation is above zero.
    """
    rows = []
    for label, group in output_bias.groupby("class"):
        mal, ben = group[group.malicious].deviation, group[~group.malicious].deviation
        _, low, high = mean_interval(mal, level)
        per_round = group.groupby(["round", "malicious"]).deviation.agg(["mean", "std"]).unstack("malicious")
        attacked = per_round.dropna(subset=[("mean", True)]) if ("mean", True) in per_round else per_round.iloc[:0]
        round_z = mean_interval((attacked["mean", True] - attacked["mean", False]) / attacked["std", False]
                                if len(attacked) else [], level)
        rows.append({
            "class": label,
            "malicious_mean": mal.mean(),
            "benign_mean": ben.mean(),
            "benign_sd": ben.std(),
            "pooled_z": (mal.mean() - ben.mean()) / ben.std(),
            "pooled_z_lo": (low - ben.mean()) / ben.std(),
            "pooled_z_hi": (high - ben.mean()) / ben.std(),
            **dict(zip(("round_z", "round_z_lo", "round_z_hi"), round_z)),
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


def tensor_standing(runs: dict, tensor: str, statistic: str = "max_abs_deviation") -> pd.DataFrame:
    """Per run (rows: the labels of ``runs``, label -> Results), where ``tensor`` stands among the run's
    parameter tensors by :func:`layer_summary`'s ROC-AUC and ratio (chapter 3).

    Columns: auc with its 95% interval auc_lo, auc_hi (:func:`auc_interval`); auc_rank (1: the largest,
    ties sharing it) and best_auc, the tensor with the largest AUC, with best_auc_value, best_auc_lo,
    best_auc_hi; ratio with its 95% bootstrap interval ratio_lo, ratio_hi over the run's rounds
    (:func:`sweep_ratio`); ratio_rank and best_ratio, the tensor with the largest ratio.
    """
    rows = {}
    for label, r in runs.items():
        table = layer_summary(r.updates, statistic).set_index("layer")
        positives, negatives = _client_rounds(r)
        ratios = sweep_ratio([r], "seed", statistic).droplevel(0)
        auc, ratio = table.auc, table.ratio
        best = auc.idxmax()
        auc_lo, auc_hi = auc_interval(auc[tensor], positives, negatives)
        best_lo, best_hi = auc_interval(auc[best], positives, negatives)
        rows[label] = dict(auc=auc[tensor], auc_lo=auc_lo, auc_hi=auc_hi,
                           auc_rank=int(auc.rank(ascending=False, method="min")[tensor]), best_auc=best,
                           best_auc_value=auc[best], best_auc_lo=best_lo, best_auc_hi=best_hi,
                           ratio=ratio[tensor], ratio_lo=ratios.lo[tensor], ratio_hi=ratios.hi[tensor],
                           ratio_rank=int(ratio.rank(ascending=False, method="min")[tensor]),
                           best_ratio=ratio.idxmax())
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("run")


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


def rank_correlation(a: pd.Series, b: pd.Series, level: float = 0.95) -> tuple[float, float, float]:
    """Spearman's rank correlation of two aligned series and its interval at ``level`` (chapter 3: two
    seeds' AUCs per tensor): Fisher's z with Fieller, Hartley and Pearson's standard error
    sqrt(1.06 / (n - 3)). (rho, low, high); NaN bounds with fewer than four pairs."""
    rho = float(a.rank().corr(b.rank()))
    n = len(a)
    if n < 4 or not np.isfinite(rho):
        return rho, float("nan"), float("nan")
    half = statistics.NormalDist().inv_cdf((1 + level) / 2) * math.sqrt(1.06 / (n - 3))
    centre = math.atanh(min(max(rho, -0.999999), 0.999999))
    return rho, math.tanh(centre - half), math.tanh(centre + half)


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


def t_quantile(probability: float, df: int) -> float:
    """Student's t quantile for ``probability`` and ``df`` degrees of freedom (chapter 4), from scipy (which
    scikit-learn, FLAME's clustering, brings)."""
    from scipy.stats import t  # late import: only the intervals over seeds need it

    return float(t.ppf(probability, df))


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


def ratio_interval(malicious, benign, level: float = 0.95, draws: int = 2000,
                   seed: int = 0) -> tuple[float, float, float]:
    """The ratio of the mean malicious to the mean benign value, with a bootstrap interval at ``level``
    (ratio, low, high): each draw resamples both groups' values with replacement (chapter 4: one round's
    attacker against the honest clients of its round). Seeded: the same values give the same interval."""
    malicious, benign = np.asarray(malicious, dtype=float), np.asarray(benign, dtype=float)
    rng = np.random.default_rng(seed)
    drawn = (rng.choice(malicious, (draws, len(malicious))).mean(axis=1)
             / rng.choice(benign, (draws, len(benign))).mean(axis=1))
    tail = 100 * (1 - level) / 2
    return (float(malicious.mean() / benign.mean()), float(np.percentile(drawn, tail)),
            float(np.percentile(drawn, 100 - tail)))


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
    number (chapters 5-7). A number that rounds to zero is written without a sign ("-0.00" reads as one);
    without an interval (NaN bounds, e.g. from one seed) the value stands alone."""
    def shown(x):
        text = format(x, spec)
        return text.lstrip("-") if text.lstrip("-").strip("0.%") == "" else text
    if math.isnan(lo) or math.isnan(hi):
        return shown(value)
    return f"{shown(value)} [{shown(lo)}, {shown(hi)}]"


def per_value_text(table: pd.DataFrame, name: str, column: str = "mean", lo: str = "lo", hi: str = "hi",
                   spec: str = ".2f") -> str:
    """The words "``name`` = value: x [lo, hi]; ..." for each row of a table indexed by a swept value
    (chapters 5-7), for a glued sentence that compares the values."""
    return "; ".join(f"{name} = {value:g}: {interval_text(row[column], row[lo], row[hi], spec)}"
                     for value, row in table.iterrows())


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
    level = 2 * statistics.NormalDist().cdf(width) - 1
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


def exponent_text(row: pd.Series) -> str:
    """A row of :func:`shift_exponents` for the text (chapters 6 and 7): "k [lo, hi]", or why it is not
    there, since a shift that is not positive has no exponent."""
    if row.k != row.k:
        return "undefined (a mean shift is not positive)"
    if row.lo != row.lo or row.hi != row.hi:
        return f"{row.k:.2f}, its interval undefined (resampled shifts are not positive)"
    return interval_text(row.k, row.lo, row.hi)


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


def _robust_z_of(scores: pd.Series) -> pd.Series:
    """:func:`flsim.robust.robust_z` of a column (in float64), for groupby's transform."""
    values = torch.from_numpy(scores.to_numpy(dtype=np.float64, copy=True))
    return pd.Series(robust_z(values).numpy(), index=scores.index)


def flag(detection: pd.DataFrame, z: float = 3.0) -> pd.Series:
    """Which rows a server would flag with the detector alone: the rule of
    :func:`flsim.robust.outliers`
    (robust z-score above ``z``), applied within each round and detector (and run, where a
    ``run`` column tells several runs apart)."""
    keys = ["run", "round", "detector"] if "run" in detection else ["round", "detector"]
    return detection.groupby(keys).score.transform(_robust_z_of) > z


def tpr_at_fpr(scores, malicious, fpr: float = 0.05) -> float:
    """Share of malicious rows scoring above the threshold that flags at most ``fpr`` of the benign rows."""
    scores, malicious = np.asarray(scores, dtype=float), np.asarray(malicious, dtype=bool)
    if not malicious.any() or malicious.all():
        return float("nan")
    return float((scores[malicious] > score_threshold(scores[~malicious], fpr)).mean())


def score_threshold(benign, fpr: float = 0.05) -> float:
    """The score above which at most ``fpr`` of the ``benign`` scores lie (chapters 8 and 9): flagging
    scores strictly above it accuses at most that share of them. NaN without scores."""
    ordered = np.sort(np.asarray(benign, dtype=float))[::-1]
    if len(ordered) == 0:
        return float("nan")
    return float(ordered[min(int(np.floor(fpr * len(ordered))), len(ordered) - 1)])


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


def wilson_interval(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval at ``level`` for a rate of ``successes`` in ``trials`` (chapters 8 and 9).

    Unlike the normal interval it stays inside [0, 1] and keeps a width at 0 or ``trials`` of
    ``trials`` (0 of 36 flagged: [0, 0.096]). It treats the trials as independent; a run's
    client-rounds are not quite, so read it as a lower bound on the uncertainty. NaN without trials.
    """
    if trials == 0:
        return float("nan"), float("nan")
    z = statistics.NormalDist().inv_cdf((1 + level) / 2)
    rate, shrink = successes / trials, 1 + z * z / trials
    centre = (rate + z * z / (2 * trials)) / shrink
    half = z / shrink * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials))
    return max(0.0, min(rate, centre - half)), min(1.0, max(rate, centre + half))


def count_text(successes: int, trials: int, spec: str = ".0%", level: float = 0.95) -> str:
    """"k of n (rate [lo, hi])" with :func:`wilson_interval`, the rate formatted with ``spec``, for a
    sentence that gives a count and its rate (chapters 8 and 9); "0 of 0" without trials."""
    if trials == 0:
        return "0 of 0"
    rate = successes / trials
    return f"{successes} of {trials} ({interval_text(rate, *wilson_interval(successes, trials, level), spec)})"


def auc_bootstrap_interval(scores, malicious, clusters, level: float = 0.95, resamples: int = 2000,
                           seed: int = 0) -> tuple[float, float]:
    """A percentile interval at ``level`` for :func:`roc_auc`, from ``resamples`` draws of whole clusters
    with replacement (chapters 8 and 9): a cluster is a run's round, whose honest clients share the mean
    the detectors measure from, so the draws keep that dependence (not the weaker one between a run's
    rounds). Widened to hold the AUC itself if it falls outside; seeded. NaN without both groups."""
    scores, malicious = np.asarray(scores, dtype=float), np.asarray(malicious, dtype=bool)
    if malicious.all() or not malicious.any():
        return float("nan"), float("nan")
    codes, labels = pd.factorize(np.asarray(clusters))
    positive, negative = scores[malicious], scores[~malicious]
    wins = (positive[:, None] > negative[None, :]) + 0.5 * (positive[:, None] == negative[None, :])
    drawn = np.random.default_rng(seed).multinomial(len(labels), np.full(len(labels), 1 / len(labels)),
                                                    size=resamples).astype(float)
    weights_pos, weights_neg = drawn[:, codes[malicious]], drawn[:, codes[~malicious]]
    with np.errstate(invalid="ignore", divide="ignore"):  # a draw without attackers has no AUC
        aucs = ((weights_pos @ wins) * weights_neg).sum(1) / (weights_pos.sum(1) * weights_neg.sum(1))
    lo, hi = np.percentile(aucs[np.isfinite(aucs)], [50 * (1 - level), 50 * (1 + level)])
    auc = roc_auc(scores, malicious)
    return float(min(lo, auc)), float(max(hi, auc))


def auc_score_interval(auc: float, positives: int, negatives: int, level: float = 0.95) -> tuple[float, float]:
    """Newcombe's (2006, method 5) score interval at ``level`` for a ROC-AUC from ``positives`` attacker and
    ``negatives`` honest rows (chapters 8 and 9): Hanley and McNeil's variance, taken at the bound rather
    than at the AUC and with (positives + negatives) / 2 - 1 for both group sizes, inverted as Wilson's
    interval inverts the binomial's. Unlike a normal interval it keeps a width at an AUC of 1 (4
    attackers above 16 honest clients: [0.71, 1]). It treats the rows as independent. NaN without
    both groups."""
    if positives == 0 or negatives == 0 or np.isnan(auc):
        return float("nan"), float("nan")
    z2, pairs = statistics.NormalDist().inv_cdf((1 + level) / 2) ** 2, (positives + negatives) / 2 - 1

    def excess(theta: float) -> float:  # negative inside the interval
        variance = theta * (1 - theta) / (positives * negatives) * (
            1 + pairs * ((1 - theta) / (2 - theta) + theta / (1 + theta)))
        return (auc - theta) ** 2 - z2 * variance

    def root(inside: float, outside: float) -> float:
        if excess(outside) <= 0:
            return outside
        for _ in range(60):
            middle = (inside + outside) / 2
            inside, outside = (middle, outside) if excess(middle) <= 0 else (inside, middle)
        return (inside + outside) / 2
    return root(auc, 0.0), root(auc, 1.0)


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


# Chapter 4: the map's two questions, where the anomaly is largest (the paper's ratio) and where it is most
# detectable (the robust z-score), the reading between them (is it there at all?) and the ratio's ceiling.


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
