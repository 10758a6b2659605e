"""Aggregation rules: from the chosen clients' weights to the new global weights (chapters 2 and 8).

Every rule takes the round's client weights (K x P) and the global weights
they started from (P) and returns an :class:`Aggregation`: the new global
weights and ``accepted``, the clients whose update the rule let into the
aggregate. A defence *flags* a client-round when it does not accept it; the
book's TPR and FPR of a defence count these flags. ``accepted`` is None for
rules that make no decision about clients: the coordinate-wise rules (median,
trimmed mean, RLR) and norm clipping, which bounds every update alike.

:data:`AGGREGATORS` maps ``Config.aggregator`` to the rule, and
:func:`register_aggregator` adds a user's own; :class:`Server` applies it
round after round and keeps what a rule remembers between rounds.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

import torch

from .detectors import krum_score, output_bias_max
from .robust import cosine_matrix, median, outliers
from .layout import Layers
from .config import ConfigError, check_options
from .deepsight import rule as deepsight_rule
from .registry import check_identifiable, identity, new_registry


class Aggregation(NamedTuple):
    weights: torch.Tensor  # the new global weights, P
    accepted: torch.Tensor | None  # K bools, or None: the rule decides nothing per client


def fedavg(weights: torch.Tensor) -> torch.Tensor:
    """The paper's FedAvg: the plain, unweighted mean of the clients' weights (clients x parameters)."""
    return weights.mean(0)


def fedavg_streamed(chunks: Iterable[torch.Tensor]) -> torch.Tensor:
    """FedAvg of a round that arrives in chunks of clients (each clients x parameters), one chunk held at a
    time (:meth:`flsim.train.FlatTrainer.stream_clients`). Equal to :func:`fedavg` up to float rounding."""
    total, clients = None, 0
    for chunk in chunks:
        total = chunk.sum(0) if total is None else total.add_(chunk.sum(0))
        clients += len(chunk)
    if total is None:
        raise ValueError("fedavg_streamed needs at least one chunk of clients; got none")
    return total.div_(clients)


def _everyone(weights: torch.Tensor) -> torch.Tensor:
    return torch.ones(len(weights), dtype=torch.bool, device=weights.device)


def coordinate_median(weights: torch.Tensor, global_weights: torch.Tensor) -> Aggregation:
    """Coordinate-wise median (Yin et al., ICML 2018); the mean of the middle two for an even K."""
    return Aggregation(median(weights), None)


def trimmed_mean(weights: torch.Tensor, global_weights: torch.Tensor, fraction: float) -> Aggregation:
    """Coordinate-wise trimmed mean (Yin et al., ICML 2018): per coordinate, drop the
    floor(fraction * K) largest and as many smallest values, average the rest."""
    cut = int(fraction * len(weights))
    kept = weights.sort(0).values[cut:len(weights) - cut]
    return Aggregation(kept.mean(0), None)


def krum(weights: torch.Tensor, global_weights: torch.Tensor, f: int, keep: int = 1) -> Aggregation:
    """Krum (Blanchard et al., NeurIPS 2017): each client's score is the summed squared distance to
    its K - f - 2 nearest others; the lowest-scoring client's weights become the global model.
    With ``keep`` = m > 1, Multi-Krum: the mean of the m lowest-scoring clients."""
    if len(weights) < 2 * f + 3:
        raise ValueError(f"krum needs K >= 2f + 3 clients (Blanchard et al.); got K={len(weights)}, f={f}")
    scores = krum_score(weights, global_weights, None, f)
    chosen = torch.zeros(len(weights), dtype=torch.bool, device=weights.device)
    chosen[scores.argsort(stable=True)[:keep]] = True
    return Aggregation(weights[chosen].mean(0), chosen)


def _clipped_updates(updates: torch.Tensor, bound: float) -> torch.Tensor:
    norms = updates.norm(dim=1, keepdim=True)
    bound = max(bound, torch.finfo(updates.dtype).tiny)
    return updates * (bound / norms.clamp_min(bound))  # scale down only the updates longer than the bound


def _noise(like: torch.Tensor, std: float, generator: torch.Generator | None) -> torch.Tensor:
    if std == 0:
        return torch.zeros_like(like)
    return torch.randn(like.shape, generator=generator, dtype=like.dtype).to(like.device) * std


def norm_clip(weights: torch.Tensor, global_weights: torch.Tensor, bound: float | None = None,
              sigma: float = 0.0, generator: torch.Generator | None = None) -> Aggregation:
    """Norm clipping with optional weak differential privacy (Sun et al., 2019, "Can you really backdoor
    federated learning?"): each update is scaled to L2 norm at most ``bound`` (None: the round's median
    update norm), the clipped updates are averaged, and Gaussian noise of std ``sigma * bound`` is
    added to every coordinate."""
    updates = weights - global_weights
    bound = float(median(updates.norm(dim=1))) if bound is None else bound
    new = global_weights + _clipped_updates(updates, bound).mean(0)
    return Aggregation(new + _noise(new, sigma * bound, generator), None)


def foolsgold_weights(history: torch.Tensor) -> torch.Tensor:
    """FoolsGold's learning-rate weights (Fung et al., RAID 2020, Algorithm 1) from each client's summed
    past updates (K x P), without the optional feature-importance weighting."""
    similarity = cosine_matrix(history).fill_diagonal_(0)  # cs_ij, cs_ii = 0 as in the reference code
    largest = similarity.amax(1)  # v_i
    pardon = largest[:, None] / largest[None, :]  # clients less similar to the rest are pardoned:
    similarity = torch.where(largest[:, None] < largest[None, :], similarity * pardon, similarity)
    alpha = (1 - similarity.amax(1)).clamp(0, 1)
    if alpha.max() == 0:
        return alpha  # every history identical: nobody gets weight
    alpha = alpha / alpha.max()
    alpha = torch.where(alpha == 1, torch.full_like(alpha, 0.99), alpha)
    alpha = torch.log(alpha / (1 - alpha)) + 0.5  # the logit spreads weights around 0.5
    return torch.nan_to_num(alpha, posinf=1.0, neginf=0.0).clamp(0, 1)


def foolsgold(weights: torch.Tensor, global_weights: torch.Tensor, history: torch.Tensor) -> Aggregation:
    """FoolsGold: the updates averaged with weights :func:`foolsgold_weights` (normalised to sum to
    one, so the server's step size is FedAvg's). ``history`` is each chosen client's summed updates
    over every round so far, this one included. Accepted: weight at least 0.5, i.e. not pushed
    to the low side of FoolsGold's logit."""
    alpha = foolsgold_weights(history).to(weights.dtype)
    if alpha.sum() == 0:
        return Aggregation(global_weights.clone(), torch.zeros(len(weights), dtype=torch.bool, device=weights.device))
    new = global_weights + (alpha[:, None] * (weights - global_weights)).sum(0) / alpha.sum()
    return Aggregation(new, alpha >= 0.5)


def hdbscan_cluster(distances: torch.Tensor) -> torch.Tensor:
    """The clients FLAME admits (Nguyen et al., USENIX Security 2022): HDBSCAN on the K x K ``distances``
    (scikit-learn's, precomputed metric) with a minimum cluster size of K // 2 + 1 and one sample per
    core point, a single cluster allowed, so that at most one cluster, a majority, forms; its members
    are admitted, the points HDBSCAN labels noise are not (it may so leave out an honest client that
    joins the cluster late, as FLAME does). Where no cluster forms, everyone is."""
    from sklearn.cluster import HDBSCAN  # late import: only FLAME needs it

    k, device = len(distances), distances.device
    if k < 3:
        return torch.ones(k, dtype=torch.bool, device=device)
    # A Gram matrix's float32 blocks are symmetric only up to rounding, and HDBSCAN insists on symmetry.
    distances = distances.double().cpu()
    symmetric = ((distances + distances.T) / 2).clamp_min(0).fill_diagonal_(0)
    labels = HDBSCAN(min_cluster_size=k // 2 + 1, min_samples=1, metric="precomputed", allow_single_cluster=True,
                     copy=True).fit_predict(symmetric.numpy())
    admitted = labels >= 0 if (labels >= 0).any() else labels == labels
    return torch.as_tensor(admitted, device=device)


def majority_cluster(distances: torch.Tensor) -> torch.Tensor:
    """Deprecated: FLAME now clusters with HDBSCAN (:func:`hdbscan_cluster`). A single-linkage stand-in for
    its HDBSCAN step, which flsim's FLAME used before.

    Single-linkage clustering on ``distances`` (K x K): merge the closest groups
    one at a time. Once some group holds a majority (K // 2 + 1, FLAME's minimum
    cluster size), cut where the next merge distance jumps most; the majority
    group at that cut is admitted. If only the last merge makes a majority (two
    halves), everyone is admitted.
    """
    warnings.warn("flsim.aggregators.majority_cluster is deprecated: FLAME clusters with HDBSCAN, "
                  "flsim.aggregators.hdbscan_cluster", DeprecationWarning, stacklevel=2)
    k = len(distances)
    if k < 3:
        return torch.ones(k, dtype=torch.bool, device=distances.device)
    group = list(range(k))  # each client's group label
    pairs = sorted((float(distances[i, j]), i, j) for i in range(k) for j in range(i + 1, k))
    heights, largest = [], []  # per merge: its distance, and the largest group after it
    for distance, i, j in pairs:
        a, b = group[i], group[j]
        if a == b:
            continue
        group = [a if g == b else g for g in group]
        heights.append(distance)
        sizes = {g: group.count(g) for g in set(group)}
        biggest = max(sizes, key=lambda g: (sizes[g], -g))
        largest.append(torch.tensor([g == biggest for g in group], device=distances.device))
    need = k // 2 + 1
    first = next(m for m, members in enumerate(largest) if members.sum() >= need)
    if first == k - 2:
        return torch.ones(k, dtype=torch.bool, device=distances.device)
    gaps = [(heights[m + 1] - heights[m], m) for m in range(first, k - 2)]
    _, cut = max(gaps, key=lambda g: (g[0], g[1]))  # on ties, the later cut: admit more
    return largest[cut]


def flame(weights: torch.Tensor, global_weights: torch.Tensor, sigma: float = 0.001,
          generator: torch.Generator | None = None) -> Aggregation:
    """FLAME (Nguyen et al., USENIX Security 2022): admit the cluster HDBSCAN finds in the updates'
    pairwise cosine distances (:func:`hdbscan_cluster`), clip the admitted updates to the median update
    norm S of all clients, average them, and add Gaussian noise of std ``sigma * S`` (FLAME's
    lambda = 0.001 for image classification). Every tensor of the flat weights enters the distances
    and the norms, BatchNorm's running statistics included. Distances are taken between updates, not
    whole models: every model starts from the same global weights, so whole-model cosines are all
    near 1."""
    updates = weights - global_weights
    admitted = hdbscan_cluster(1 - cosine_matrix(updates))
    bound = float(median(updates.norm(dim=1)))
    new = global_weights + _clipped_updates(updates[admitted], bound).mean(0)
    return Aggregation(new + _noise(new, sigma * bound, generator), admitted)


def rlr(weights: torch.Tensor, global_weights: torch.Tensor, threshold: int) -> Aggregation:
    """Robust learning rate (Ozdayi et al., AAAI 2021): where fewer than ``threshold`` clients' update
    signs agree (|sum of signs| < threshold) the server's learning rate for that coordinate is -1,
    elsewhere +1; the new model is global + rate * mean update."""
    updates = weights - global_weights
    rate = torch.where(updates.sign().sum(0).abs() >= threshold, 1.0, -1.0).to(weights.dtype)
    return Aggregation(global_weights + rate * updates.mean(0), None)


def bias_filter(weights: torch.Tensor, global_weights: torch.Tensor, layers: Layers,
                z: float = 3.0) -> Aggregation:
    """The paper's finding as a defence: drop the clients whose output-bias statistic (max over classes
    of |b_k - mean b|) is a robust-z outlier above ``z`` in this round, FedAvg the rest."""
    accepted = ~outliers(output_bias_max(weights, global_weights, layers), z)
    return Aggregation(weights[accepted].mean(0), accepted)


class Server:
    """Applies ``config.aggregator`` round after round.

    Holds what a rule needs besides the round's weights: ``config`` (the
    experiment's :class:`flsim.Config`), ``layers`` (each tensor's slice of the
    flat weights and the output layer, :class:`flsim.layout.Layers`),
    ``generator`` (a seeded ``torch.Generator`` for noise) and FoolsGold's
    per-client history of summed updates (:meth:`remember`).
    """

    def __init__(self, config, layers: Layers, generator: torch.Generator):
        self.config, self.layers, self.generator = config, layers, generator
        self.history: dict[int, torch.Tensor] = {}

    def remember(self, chosen, updates: torch.Tensor) -> torch.Tensor:
        """Add this round's updates to the chosen clients' histories; return those histories."""
        for client, update in zip(map(int, chosen), updates):
            self.history[client] = self.history.get(client, 0) + update
        return torch.stack([self.history[int(c)] for c in chosen])

    def aggregate(self, weights: torch.Tensor, global_weights: torch.Tensor, chosen) -> Aggregation:
        rule = AGGREGATORS.entry(self.config.aggregator)
        result = rule.rule(weights, global_weights, self, chosen)
        aggregation = result if isinstance(result, Aggregation) else Aggregation(result, None)
        if not isinstance(aggregation.weights, torch.Tensor) or aggregation.weights.shape != global_weights.shape:
            raise ValueError(f"aggregator {rule.name!r} must return the new global weights, a tensor of shape "
                             f"{tuple(global_weights.shape)} (or an Aggregation), got {_shape_of(aggregation.weights)}")
        if aggregation.accepted is not None and tuple(aggregation.accepted.shape) != (len(weights),):
            raise ValueError(f"aggregator {rule.name!r}: accepted must hold one bool per client ({len(weights)}), "
                             f"got shape {tuple(aggregation.accepted.shape)}")
        return aggregation


def _shape_of(value) -> str:
    return f"shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__


Rule = Callable[[torch.Tensor, torch.Tensor, Server, torch.Tensor], Aggregation | torch.Tensor]


@dataclass(frozen=True)
class AggregatorSpec:
    """A registered rule, the Config fields it reads (``options``; None: it may read any) and the check
    of them it needs beyond their own ranges (``check(config)``, raising
    :class:`flsim.config.ConfigError`), and what identifies it in the result cache."""

    name: str
    rule: Rule
    version: str | None = None  # a user's rule: None means its source code identifies it
    options: tuple[str, ...] | None = None
    check: Callable[[object], None] | None = None

    def identity(self, built_in: bool) -> str:
        """The rule in a cache key (:func:`flsim.registry.identity`)."""
        return identity(self.name, built_in, self.version, self.rule)


AGGREGATORS = new_registry("aggregator", "flsim.register_aggregator")


def register_aggregator(name: str, rule: Rule, *, version: str | None = None, options: tuple[str, ...] | None = None,
                        check: Callable[[object], None] | None = None) -> AggregatorSpec:
    """Make ``Config(aggregator=name)`` aggregate every round with ``rule(weights, global_weights, server, chosen)``.

    ``weights``: the round's client weights (K x P, the clients of ``chosen``,
    a K-tensor of client ids, in order); ``global_weights``: the P weights
    they started from; ``server``: the :class:`flsim.aggregators.Server`, with the config
    (``server.config``: a threshold of yours could live in ``filter_z``, declared in ``options``),
    the tensors' slices and the output layer (``server.layers``), a seeded
    generator for noise (``server.generator``) and a per-client history
    (``server.remember``). Return the new global weights (a P-tensor), or an
    :class:`flsim.aggregators.Aggregation` whose ``accepted`` marks the clients let in (the
    book's TPR and FPR of a defence count the others as flagged). It runs in
    the simulation's process, on one thread.

    ``version``: identifies the rule in the result cache; None: a hash of its
    source code, so editing the rule recomputes its results. ``options``: the
    Config fields the rule reads (say ``("filter_z",)``); where it declares them,
    the rules' options it does not read leave the cache key, so that
    ``krum_f`` does not tell two runs of your rule apart. None: it may read any.
    ``check(config)``: raises :class:`flsim.config.ConfigError` where a config
    cannot run the rule (checked when the config is made). Registering a
    name again replaces it; the built-in names cannot be replaced. Sweeps
    ship registered rules to their worker processes and Dask workers.

    >>> import flsim
    >>> def mean_of_smallest_updates(weights, global_weights, server, chosen):
    ...     norms = (weights - global_weights).norm(dim=1)
    ...     keep = norms <= norms.median()
    ...     return flsim.aggregators.Aggregation(weights[keep].mean(0), keep)
    >>> spec = flsim.register_aggregator("smallest_half", mean_of_smallest_updates)
    >>> flsim.Config(aggregator="smallest_half").aggregator
    'smallest_half'
    """
    if not callable(rule):
        raise TypeError(f"rule must be callable as rule(weights, global_weights, server, chosen), got {rule!r}")
    check_identifiable("the aggregation rule", rule, version)
    spec = AggregatorSpec(name, rule, version, check_options(options), check)
    AGGREGATORS.add(name, spec)
    return spec


def aggregator_identity(name: str) -> str:
    """What the result cache knows ``Config.aggregator = name`` by (:meth:`AggregatorSpec.identity`)."""
    return AGGREGATORS.entry(name).identity(name in AGGREGATORS.built_in)


def _sigma(config, default: float) -> float:
    return default if config.noise_sigma is None else config.noise_sigma


def _krum_check(config) -> None:
    if config.num_chosen < 2 * config.krum_f + 3:
        raise ConfigError(f"aggregator={config.aggregator!r} needs num_chosen >= 2 * krum_f + 3 = "
                          f"{2 * config.krum_f + 3} clients per round, got {config.num_chosen}; lower krum_f or "
                          "choose more clients")


def _rlr_check(config) -> None:
    if config.rlr_threshold > config.num_chosen:
        raise ConfigError(f"rlr_threshold must be between 1 and the clients per round ({config.num_chosen}), "
                          f"got {config.rlr_threshold}")


# name: (rule, the Config fields it reads, its check)
_BUILT_IN: dict[str, tuple[Rule, tuple[str, ...], Callable | None]] = {
    "fedavg": (lambda w, g, s, chosen: Aggregation(fedavg(w), _everyone(w)), (), None),
    "median": (lambda w, g, s, chosen: coordinate_median(w, g), (), None),
    "trimmed_mean": (lambda w, g, s, chosen: trimmed_mean(w, g, s.config.trim_fraction), ("trim_fraction",), None),
    "krum": (lambda w, g, s, chosen: krum(w, g, s.config.krum_f), ("krum_f",), _krum_check),
    "multi_krum": (lambda w, g, s, chosen: krum(w, g, s.config.krum_f, keep=len(w) - s.config.krum_f), ("krum_f",),
                   _krum_check),
    "norm_clip": (lambda w, g, s, chosen: norm_clip(w, g, s.config.clip_norm, _sigma(s.config, 0.0), s.generator),
                  ("clip_norm", "noise_sigma"), None),
    "foolsgold": (lambda w, g, s, chosen: foolsgold(w, g, s.remember(chosen, w - g)), (), None),
    "flame": (lambda w, g, s, chosen: flame(w, g, _sigma(s.config, 0.001), s.generator), ("noise_sigma",), None),
    "rlr": (lambda w, g, s, chosen: rlr(w, g, s.config.rlr_threshold), ("rlr_threshold",), _rlr_check),
    "bias_filter": (lambda w, g, s, chosen: bias_filter(w, g, s.layers, s.config.filter_z), ("filter_z",), None),
    "deepsight": (lambda w, g, s, chosen: Aggregation(*deepsight_rule(w, g, s, chosen)), (), None),  # flsim.deepsight
}
for _name, (_rule, _options, _check) in _BUILT_IN.items():
    AGGREGATORS.add(_name, AggregatorSpec(_name, _rule, None, _options, _check), built_in=True)
