"""Detectors: a suspicion score for every client, every round, and how well each catches attackers (chapter 8).

A detector is a pure function of one round: the chosen clients' weights
(K x P), the global weights they started from (P) and the tensors' slices
with the output layer (:class:`flsim.layout.Layers`). It returns K scores,
higher meaning more suspicious. The detectors that read whole updates
w_k - global read them through their Gram matrix, which they also take
precomputed (``gram=``), so that :func:`score_all` reads the updates once per
round. Each is registered with what it declares (:class:`DetectorSpec`); a
user adds one with :func:`register_detector`. :func:`flsim.run` records every
detector of :data:`DETECTORS` in ``Results.detection``; :func:`flsim.analysis.detection_summary` turns that
table into the chapter's numbers.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .layout import Layers
from .metrics import COSINE_EPS
from .registry import check_identifiable, identity, new_registry
from .robust import (  # noqa: F401 - robust's functions were detectors' before
    MAD_TO_STD, cosine_matrix, cosines_from_gram, gram_matrix, median, outliers, pairwise_sq_distances,
    robust_z, sq_distances_from_gram)


def output_bias_max(weights: torch.Tensor, global_weights: torch.Tensor, layers: Layers) -> torch.Tensor:
    """The paper's statistic: max over classes of |b_k - mean over clients of b|, for the output bias."""
    bias = weights[:, layers.output_bias]
    return (bias - bias.mean(0)).abs().amax(1)


def output_bias_class(weights: torch.Tensor, global_weights: torch.Tensor, layers: Layers) -> torch.Tensor:
    """The localised score: per class, the client's output bias as a robust z-score across clients;
    the largest |z| over classes. Unlike :func:`output_bias_max`, a class whose bias varies a lot
    among honest clients (label skew) does not dominate."""
    return robust_z(weights[:, layers.output_bias]).abs().amax(1)


def _gram_of(weights: torch.Tensor, global_weights: torch.Tensor, gram: torch.Tensor | None) -> torch.Tensor:
    return gram_matrix(weights - global_weights) if gram is None else gram


def update_norm(weights: torch.Tensor, global_weights: torch.Tensor, layers: Layers,
                gram: torch.Tensor | None = None) -> torch.Tensor:
    """The L2 norm of the whole update w_k - global. ``gram``: the updates' Gram matrix, if known."""
    return _gram_of(weights, global_weights, gram).diagonal().sqrt()


def cosine_distance_to_mean(weights: torch.Tensor, global_weights: torch.Tensor, layers: Layers,
                   gram: torch.Tensor | None = None) -> torch.Tensor:
    """1 - cosine between the client's update and the mean update (0: same direction), from the updates'
    Gram matrix G (``gram``, if known): u_k . mean = mean_j G_kj and |mean|^2 = the mean of G."""
    gram = _gram_of(weights, global_weights, gram)
    to_mean = gram.mean(1)
    lengths = gram.diagonal().sqrt() * gram.mean().clamp_min(0).sqrt()
    # Where the mean update cancels to rounding noise, the noise's share may exceed a cosine's range.
    return 1 - (to_mean / lengths.clamp_min(COSINE_EPS)).clamp(-1, 1)


def cosine_to_mean(weights: torch.Tensor, global_weights: torch.Tensor, layers: Layers,
                   gram: torch.Tensor | None = None) -> torch.Tensor:
    """Deprecated: :func:`cosine_distance_to_mean`, its new name (``cosine_to_mean`` is the cosine itself,
    a statistic of :mod:`flsim.metrics`, low when anomalous)."""
    warnings.warn("flsim.detectors.cosine_to_mean is now cosine_distance_to_mean (the detector 'cosine_distance' "
                  "in Results.detection): cosine_to_mean names the cosine itself in Results.updates",
                  DeprecationWarning, stacklevel=2)
    return cosine_distance_to_mean(weights, global_weights, layers, gram)


def neups(weights: torch.Tensor, global_weights: torch.Tensor, layers: Layers) -> torch.Tensor:
    """DeepSight's normalised energy updates (Rieger et al., NDSS 2022), K x classes.

    The energy of output neuron i is the summed |update| of its bias and
    incoming weights; NEUP_i = energy_i^2 / sum_j energy_j^2.
    """
    bias = weights[:, layers.output_bias] - global_weights[layers.output_bias]  # the output layer's update only
    weight = (weights[:, layers.output_weight] - global_weights[layers.output_weight]).reshape(
        len(weights), bias.shape[1], -1)
    energy = (weight.abs().sum(2) + bias.abs()).double()
    return energy.square() / energy.square().sum(1, keepdim=True)


def deepsight_energy(weights: torch.Tensor, global_weights: torch.Tensor, layers: Layers) -> torch.Tensor:
    """DeepSight's threshold exceedings, negated: few output neurons carry the update's energy when the
    training data is homogeneous, as a backdoor makes it.

    A NEUP exceeds the threshold when it is above max(0.01, 1 / classes) times the
    client's largest NEUP. Score = -(exceedings) + largest NEUP: the count decides,
    and among equal counts the more concentrated update scores higher.
    """
    values = neups(weights, global_weights, layers)
    largest = values.amax(1)
    exceedings = (values > max(0.01, 1 / values.shape[1]) * largest[:, None]).sum(1)
    return -exceedings + largest


def foolsgold_similarity(weights: torch.Tensor, global_weights: torch.Tensor, layers: Layers,
                         gram: torch.Tensor | None = None) -> torch.Tensor:
    """FoolsGold's signal in one round: the largest cosine similarity of the client's update to any other
    client's (sybils that push the same backdoor look alike). No history and no pardoning: see
    :func:`flsim.aggregators.foolsgold` for the full rule. ``gram``: the updates' Gram matrix, if known."""
    similarity = cosines_from_gram(_gram_of(weights, global_weights, gram))
    return similarity.fill_diagonal_(-torch.inf).amax(1)


def krum_score(weights: torch.Tensor, global_weights: torch.Tensor, layers: Layers | None,
               f: int = 1, gram: torch.Tensor | None = None) -> torch.Tensor:
    """Krum's score (Blanchard et al., NeurIPS 2017): the summed squared distance from the client to its
    K - f - 2 nearest other clients (at least one); :func:`flsim.aggregators.krum` keeps the lowest.
    ``gram``: the updates' Gram matrix, if known."""
    distances = sq_distances_from_gram(_gram_of(weights, global_weights, gram))
    neighbours = max(1, len(weights) - f - 2)
    return distances.sort(1).values[:, 1:neighbours + 1].sum(1)  # column 0 is the client itself


Score = Callable[..., torch.Tensor]  # score(weights, global_weights, layers[, gram=]) -> K scores


@dataclass(frozen=True)
class DetectorSpec:
    """A registered detector: its score and what it declares. ``reads_gram``: the score takes the round's
    Gram matrix of the updates as ``gram=`` (:func:`score_all` computes it once for all of them);
    ``suspicious``: which end of the score is suspicious, "high" or "low" (a cosine, say), so that
    calling the spec and ``Results.detection`` always hold higher-is-more-suspicious scores."""

    name: str
    score: Score
    reads_gram: bool = False
    suspicious: str = "high"
    version: str | None = None  # a user's detector: None means its source code identifies it

    def __call__(self, weights: torch.Tensor, global_weights: torch.Tensor, layers: Layers,
                 gram: torch.Tensor | None = None) -> torch.Tensor:
        """The K scores of one round, higher meaning more suspicious. ``gram``: the updates' Gram matrix,
        if known (read only by a detector that ``reads_gram``)."""
        scores = self.score(weights, global_weights, layers, **({"gram": gram} if self.reads_gram else {}))
        return scores if self.suspicious == "high" else -scores

    def identity(self, built_in: bool) -> str:
        """The detector in a cache key (:func:`flsim.registry.identity`)."""
        return identity(self.name, built_in, self.version, self.score)


DETECTORS = new_registry("detector", "flsim.register_detector")
SUSPICIOUS = ("high", "low")


def register_detector(name: str, score: Score, *, reads_gram: bool = False, suspicious: str = "high",
                      version: str | None = None) -> DetectorSpec:
    """Score every client of every round with ``score(weights, global_weights, layers)`` beside the
    built-in detectors, in ``Results.detection`` under ``name``.

    ``weights``: the round's client weights (K x P); ``global_weights``: the P
    weights they started from; ``layers``: each tensor's slice and the output
    layer (:class:`flsim.layout.Layers`). Return K scores. ``reads_gram``: the
    score also takes ``gram=``, the K x K Gram matrix of the updates
    w_k - global, computed once a round for every detector that reads it.
    ``suspicious``: "high" if a high score marks an attacker, "low" if a low
    one does (the recorded score is then negated). ``version`` identifies the
    detector in the result cache; None: a hash of its source code. Every run's
    cache key holds the registered detectors, and sweeps ship them to their
    worker processes and Dask workers.

    >>> import flsim
    >>> def weight_norm(weights, global_weights, layers):
    ...     return weights.norm(dim=1)
    >>> spec = flsim.register_detector("weight_norm", weight_norm)
    >>> "weight_norm" in flsim.detectors.DETECTORS
    True
    >>> del flsim.detectors.DETECTORS["weight_norm"]  # unregisters it
    """
    if not callable(score):
        raise TypeError(f"score must be callable as score(weights, global_weights, layers), got {score!r}")
    if suspicious not in SUSPICIOUS:
        raise ValueError(f"suspicious={suspicious!r} is not allowed; choose one of {', '.join(map(repr, SUSPICIOUS))}")
    check_identifiable("the detector", score, version)
    spec = DetectorSpec(name, score, bool(reads_gram), suspicious, version)
    DETECTORS.add(name, spec)
    return spec


def detector_identities() -> list[str]:
    """What the result cache knows the registered detectors by (:meth:`DetectorSpec.identity`), in order."""
    return [spec.identity(name in DETECTORS.built_in) for name, spec in DETECTORS.items()]


def score_all(weights: torch.Tensor, global_weights: torch.Tensor, layers: Layers,
              updates: torch.Tensor | None = None, map: Callable = map,
              gram: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Every detector's K scores for one round. The detectors that read whole updates share one Gram
    matrix of them (``gram``, if known; else computed here: K^2 P work, shared out by ``map``);
    ``updates``: w_k - global, if already computed."""
    if gram is None:
        gram = gram_matrix(weights - global_weights if updates is None else updates, map)
    return {name: spec(weights, global_weights, layers, gram).float() for name, spec in DETECTORS.items()}


for _name, _score, _reads_gram in [("output_bias_max", output_bias_max, False),
                                   ("output_bias_class", output_bias_class, False),
                                   ("update_norm", update_norm, True),
                                   ("cosine_distance", cosine_distance_to_mean, True),
                                   ("deepsight_energy", deepsight_energy, False),
                                   ("foolsgold_similarity", foolsgold_similarity, True),
                                   ("krum_score", krum_score, True)]:
    DETECTORS.add(_name, DetectorSpec(_name, _score, _reads_gram), built_in=True)
