"""Detectors: a suspicion score for every client, every round, and how well each catches attackers (chapter 8).

A detector is a pure function of one round: the chosen clients' weights
(K x P), the global weights they started from (P) and the tensors' slices
with the output layer (:class:`flsim.layout.Layers`). It returns K scores, higher meaning
more suspicious. Detectors that read the whole updates w_k - global also take them
precomputed (``updates=``), so that :func:`score_all` subtracts once per round. :func:`flsim.run` records every detector of
:data:`DETECTORS` in ``Results.detection``;
:func:`flsim.analysis.detection_summary` turns that table into the chapter's numbers.
"""

from __future__ import annotations

import torch

from .layout import Layers
from .metrics import cosine_to

MAD_TO_STD = 1.4826  # the MAD of a normal distribution times this is its standard deviation


def median(values: torch.Tensor) -> torch.Tensor:
    """The median along dimension 0; the mean of the two middle values for an even count."""
    ordered = values.sort(0).values
    n = len(values)
    return (ordered[(n - 1) // 2] + ordered[n // 2]) / 2


def robust_z(values: torch.Tensor) -> torch.Tensor:
    """(x - median) / (1.4826 * MAD) along dimension 0: a z-score that outliers cannot inflate."""
    centre = median(values)
    spread = median((values - centre).abs()) * MAD_TO_STD
    return (values - centre) / spread.clamp_min(torch.finfo(values.dtype).tiny)


def outliers(scores: torch.Tensor, z: float = 3.0) -> torch.Tensor:
    """The clients whose score lies more than ``z`` robust standard deviations above the round's median."""
    return robust_z(scores) > z


def _gram(updates: torch.Tensor, block_bytes: int = 64 << 20) -> torch.Tensor:
    """K x K inner products of the rows, in float64, so that |a|^2 + |b|^2 - 2ab keeps its digits.

    Column blocks are widened to float64 one at a time: a float64 copy of a
    round of 1000 paper-CNN updates would take 6.6 GB.
    """
    gram = updates.new_zeros(len(updates), len(updates), dtype=torch.float64)
    for block in updates.split(max(1, block_bytes // (8 * len(updates))), dim=1):
        block = block.double()
        gram.addmm_(block, block.T)
    return gram


def cosine_matrix(updates: torch.Tensor) -> torch.Tensor:
    """K x K cosine similarities between the rows (clients) of ``updates``."""
    return _cosines(_gram(updates))


def pairwise_sq_distances(updates: torch.Tensor) -> torch.Tensor:
    """K x K squared L2 distances between the rows (clients) of ``updates``."""
    return _sq_distances(_gram(updates))


def _cosines(gram: torch.Tensor) -> torch.Tensor:
    norms = gram.diagonal().sqrt().clamp_min(torch.finfo(gram.dtype).tiny)
    return gram / norms[:, None] / norms[None, :]


def _sq_distances(gram: torch.Tensor) -> torch.Tensor:
    squares = gram.diagonal()
    return (squares[:, None] + squares[None, :] - 2 * gram).clamp_min(0).fill_diagonal_(0)


def output_bias_max(weights: torch.Tensor, global_weights: torch.Tensor, layers: Layers) -> torch.Tensor:
    """The paper's statistic: max over classes of |b_k - mean over clients of b|, for the output bias."""
    bias = weights[:, layers.output_bias]
    return (bias - bias.mean(0)).abs().amax(1)


def output_bias_class(weights: torch.Tensor, global_weights: torch.Tensor, layers: Layers) -> torch.Tensor:
    """The localised score: per class, the client's output bias as a robust z-score across clients;
    the largest |z| over classes. Unlike :func:`output_bias_max`, a class whose bias varies a lot
    among honest clients (label skew) does not dominate."""
    return robust_z(weights[:, layers.output_bias]).abs().amax(1)


def _updates(weights: torch.Tensor, global_weights: torch.Tensor, updates: torch.Tensor | None) -> torch.Tensor:
    return weights - global_weights if updates is None else updates


def update_norm(weights: torch.Tensor, global_weights: torch.Tensor, layers: Layers,
                updates: torch.Tensor | None = None) -> torch.Tensor:
    """The L2 norm of the whole update w_k - global (``updates``, if already computed)."""
    return _updates(weights, global_weights, updates).norm(dim=1)


def cosine_to_mean(weights: torch.Tensor, global_weights: torch.Tensor, layers: Layers,
                   updates: torch.Tensor | None = None) -> torch.Tensor:
    """1 - cosine between the client's update and the mean update (0: same direction)."""
    updates = _updates(weights, global_weights, updates)
    return 1 - cosine_to(updates, updates.mean(0))


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
    similarity = _cosines(_gram(weights - global_weights) if gram is None else gram)
    return similarity.fill_diagonal_(-torch.inf).amax(1)


def krum_score(weights: torch.Tensor, global_weights: torch.Tensor, layers: Layers | None,
               f: int = 1, gram: torch.Tensor | None = None) -> torch.Tensor:
    """Krum's score (Blanchard et al., NeurIPS 2017): the summed squared distance from the client to its
    K - f - 2 nearest other clients (at least one); :func:`flsim.aggregators.krum` keeps the lowest.
    ``gram``: the updates' Gram matrix, if known."""
    distances = _sq_distances(_gram(weights - global_weights) if gram is None else gram)
    neighbours = max(1, len(weights) - f - 2)
    return distances.sort(1).values[:, 1:neighbours + 1].sum(1)  # column 0 is the client itself


DETECTORS = {
    "output_bias_max": output_bias_max,
    "output_bias_class": output_bias_class,
    "update_norm": update_norm,
    "cosine_to_mean": cosine_to_mean,
    "deepsight_energy": deepsight_energy,
    "foolsgold_similarity": foolsgold_similarity,
    "krum_score": krum_score,
}


PAIRWISE = ("foolsgold_similarity", "krum_score")  # the detectors that compare every two clients' updates
WHOLE_UPDATES = ("update_norm", "cosine_to_mean")  # the detectors that read every coordinate of the updates


def score_all(weights: torch.Tensor, global_weights: torch.Tensor, layers: Layers,
              updates: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Every detector's K scores for one round. The updates w_k - global are computed once (or taken
    from ``updates``); the pairwise detectors share one Gram matrix of them (K^2 P work)."""
    updates = _updates(weights, global_weights, updates)
    shared = dict.fromkeys(PAIRWISE, dict(gram=_gram(updates))) | dict.fromkeys(WHOLE_UPDATES, dict(updates=updates))
    return {name: detector(weights, global_weights, layers, **shared.get(name, {})).float()
            for name, detector in DETECTORS.items()}
