"""Detectors: a suspicion score for every client, every round, and how well each catches attackers (chapter 8).

A detector is a pure function of one round: the chosen clients' weights
(K x P), the global weights they started from (P) and the tensors' slices
with the output layer (:class:`flsim.layout.Layers`). It returns K scores,
higher meaning more suspicious. The detectors that read whole updates
w_k - global read them through their Gram matrix, which they also take
precomputed (``gram=``), so that :func:`score_all` reads the updates once per
round. :func:`flsim.run` records every detector of :data:`DETECTORS` in
``Results.detection``; :func:`flsim.analysis.detection_summary` turns that
table into the chapter's numbers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

from .layout import Layers
from .metrics import COSINE_EPS, chunks

GRAM_COLUMNS = 4096  # columns per float32 product of the Gram matrix
GRAM_ROWS = 128  # clients per block of the Gram matrix
GRAM_JOB_COLUMNS = 16 * GRAM_COLUMNS  # columns per job
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


def gram_matrix(updates: torch.Tensor, map: Callable = map) -> torch.Tensor:
    """K x K inner products of the rows, summed in float64, so that |a|^2 + |b|^2 - 2ab keeps its digits.

    Each product of GRAM_COLUMNS columns is a float32 matrix multiply added to
    a float64 sum (its rounding: about 1e-8 of the largest squared norm in a
    round of 100 paper-CNN updates, against 2e-6 for one float32 product of all
    their columns). Only the blocks of GRAM_ROWS x GRAM_ROWS clients on and
    above the diagonal are multiplied, the rest mirrored: half the K^2 P work
    for large K. A job sums GRAM_JOB_COLUMNS columns; the jobs, run by ``map``
    (on worker threads, say), are added in order, so the bits do not depend on
    how many threads run them.
    """
    blocks = chunks(len(updates), GRAM_ROWS)
    pairs = [(a, b) for i, a in enumerate(blocks) for b in blocks[i:]]

    def columns_gram(columns: slice) -> torch.Tensor:
        total = updates.new_zeros(len(updates), len(updates), dtype=torch.float64)
        for part in updates[:, columns].split(GRAM_COLUMNS, dim=1):
            for a, b in pairs:
                total[a, b] += part[a] @ part[b].T
        return total

    gram = functools.reduce(torch.add, map(columns_gram, chunks(updates.shape[1], GRAM_JOB_COLUMNS)))
    for a, b in pairs:
        if a != b:
            gram[b, a] = gram[a, b].T
    return gram


def cosine_matrix(updates: torch.Tensor) -> torch.Tensor:
    """K x K cosine similarities between the rows (clients) of ``updates``."""
    return _cosines(gram_matrix(updates))


def pairwise_sq_distances(updates: torch.Tensor) -> torch.Tensor:
    """K x K squared L2 distances between the rows (clients) of ``updates``."""
    return _sq_distances(gram_matrix(updates))


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


def _gram_of(weights: torch.Tensor, global_weights: torch.Tensor, gram: torch.Tensor | None) -> torch.Tensor:
    return gram_matrix(weights - global_weights) if gram is None else gram


def update_norm(weights: torch.Tensor, global_weights: torch.Tensor, layers: Layers,
                gram: torch.Tensor | None = None) -> torch.Tensor:
    """The L2 norm of the whole update w_k - global. ``gram``: the updates' Gram matrix, if known."""
    return _gram_of(weights, global_weights, gram).diagonal().sqrt()


def cosine_to_mean(weights: torch.Tensor, global_weights: torch.Tensor, layers: Layers,
                   gram: torch.Tensor | None = None) -> torch.Tensor:
    """1 - cosine between the client's update and the mean update (0: same direction), from the updates'
    Gram matrix G (``gram``, if known): u_k . mean = mean_j G_kj and |mean|^2 = the mean of G."""
    gram = _gram_of(weights, global_weights, gram)
    to_mean = gram.mean(1)
    lengths = gram.diagonal().sqrt() * gram.mean().clamp_min(0).sqrt()
    # Where the mean update cancels to rounding noise, the noise's share may exceed a cosine's range.
    return 1 - (to_mean / lengths.clamp_min(COSINE_EPS)).clamp(-1, 1)


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
    similarity = _cosines(_gram_of(weights, global_weights, gram))
    return similarity.fill_diagonal_(-torch.inf).amax(1)


def krum_score(weights: torch.Tensor, global_weights: torch.Tensor, layers: Layers | None,
               f: int = 1, gram: torch.Tensor | None = None) -> torch.Tensor:
    """Krum's score (Blanchard et al., NeurIPS 2017): the summed squared distance from the client to its
    K - f - 2 nearest other clients (at least one); :func:`flsim.aggregators.krum` keeps the lowest.
    ``gram``: the updates' Gram matrix, if known."""
    distances = _sq_distances(_gram_of(weights, global_weights, gram))
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


FROM_GRAM = ("update_norm", "cosine_to_mean", "foolsgold_similarity", "krum_score")  # read the updates' Gram matrix


def score_all(weights: torch.Tensor, global_weights: torch.Tensor, layers: Layers,
              updates: torch.Tensor | None = None, map: Callable = map) -> dict[str, torch.Tensor]:
    """Every detector's K scores for one round. The detectors that read whole updates share one Gram
    matrix of them (K^2 P work, shared out by ``map``); ``updates``: w_k - global, if already computed."""
    shared = dict(gram=gram_matrix(weights - global_weights if updates is None else updates, map))
    return {name: detector(weights, global_weights, layers, **(shared if name in FROM_GRAM else {})).float()
            for name, detector in DETECTORS.items()}
