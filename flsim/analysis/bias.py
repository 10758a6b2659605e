"""The output layer's bias, from its gradient to its shift: the gradient taken apart on real clients, one
local epoch's bias change split into where it comes from, how alike a set of samples drives the output
layer's input, the measured shift against the first-order prediction (chapter 1) and the attackers'
shift class by class (chapter 3)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .. import theory
from .statistics import mean_interval

# output_bias_terms' terms of the target-class bias change, in the order the chapter adds them up
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


def mean_overlap(activations: torch.Tensor) -> float:
    """The mean dot product a_i . a_j over pairs of different rows (chapter 1): how much a set
    of samples excites the same units of the layer the activations come from."""
    gram = activations @ activations.T
    n = len(activations)
    return float((gram.sum() - gram.trace()) / (n * (n - 1)))
