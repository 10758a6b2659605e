"""DeepSight (Rieger, Nguyen, Miettinen, Sadeghi, NDSS 2022) as parts and as the rule ``aggregator="deepsight"``.

DeepSight inspects the output layer of each client's model: how the update's
energy spreads over the output neurons (:func:`neups`, counted by
:func:`threshold_exceedings` and turned into :func:`suspicious` labels), how
the model's predictions on random noise move against the global model's
(:func:`division_differences`, the DDifs), and the cosine distances between the
clients' output-bias updates (:func:`bias_cosine_distances`). It clusters the
clients on all three (:func:`ensemble_clusters`), accepts a cluster only where
fewer than a third of its members are labelled suspicious
(:func:`accepted_clusters`), clips the accepted updates to the round's median
update norm (:func:`clip_to_median_norm`) and averages them (:func:`deepsight`).
It is the paper's signal (the output layer) turned into a defence, which
chapters 8-10 set beside the paper's statistic.

What flsim follows, and where it departs (the paper's Algorithm 1 and the
reference implementations shipped by the benchmark suites BackFed,
``thinh-dao/BackFed`` ``backfed/servers/anomaly_detection/deepsight_server.py``,
and FLPoison, ``vio1etus/FLPoison`` ``aggregators/deepsight.py``):

- NEUPs as published: energy_i = sum |update| of output neuron i's bias and
  incoming weights, NEUP_i = energy_i^2 / sum_j energy_j^2
  (:func:`flsim.detectors.neups`). An output layer that did not move (all
  energies 0) has NEUPs of 0 here, not 0/0.
- Threshold exceedings: the NEUPs above max(0.01, 1/classes) times the largest
  (the paper's threshold and FLPoison's strict ``>``; BackFed drops the 0.01
  floor and counts ``>=``, which differs only on exact ties).
- Suspicious: threshold exceedings at most half the round's median (``<=``, as
  the paper's classification boundary and both suites); the median of an even
  count is the mean of the middle two (numpy's, which both use).
- DDifs as the paper defines them, on predicted probabilities (softmax): per
  class, the mean over random inputs of p_client / p_global, for each of
  ``DDIF_SEEDS`` seeds of uniform [0, 1) noise in the data's shape. The
  ratio is computed as exp(log p_client - log p_global) in float64, so that a
  probability that underflows divides nothing by zero (the suites add 1e-30 or
  1e-6 to the denominator); the log-ratio is capped at ``LOG_RATIO_CAP`` so a
  diverged model keeps finite features. Departure: ``DDIF_SAMPLES`` = 32 noise
  images per seed, not the suites' 20000, so that the DDifs forward
  (K + 1) x 96 images a round, a small share of a CPU round of the book's
  size; every model sees the same images, so the clients' differences are
  compared on common inputs. Without a model (``model=None``) the clustering
  reads the NEUPs and the cosine distances only.
- Clustering: HDBSCAN (scikit-learn's, as FLAME's in flsim) on the NEUPs, on
  each seed's DDifs and on the cosine distances of the output-bias updates
  (precomputed); each clustering becomes a 0/1 distance (0: same cluster), the
  DDif ones averaged over the seeds, the three averaged, and HDBSCAN clusters
  that merged distance. The paper does not fix HDBSCAN's settings and the
  suites differ: BackFed keeps the hdbscan package's defaults (a minimum
  cluster size of 5), FLPoison sets ``min_samples=3``; flsim takes
  ``min_cluster_size=2, min_samples=1`` (``MIN_CLUSTER_SIZE``,
  ``MIN_SAMPLES``), as a widely copied standalone reimplementation does, since
  with the book's 10 clients a round a minimum of 5 would never let one or two
  attackers form a cluster of their own. ``allow_single_cluster`` is on in
  every clustering (FLPoison sets it in the final one only): without it, a
  round in which no subgroup stands out comes out all noise. With these
  settings HDBSCAN splits honest clients into small clusters, often single
  ones; a cluster without suspicious members is accepted whatever its size.
- Noise points: HDBSCAN's outliers are each a cluster of their own (distance 1
  to every other client; a lone client is accepted where it is not labelled
  suspicious), as BackFed does.
- Accept rule: a cluster is accepted when its suspicious members are fewer
  than ``TAU`` = 1/3 of it (exact rational arithmetic: 1 of 3 is rejected).
- Clipping: each accepted update scaled to at most the median L2 norm of all
  the round's updates (every tensor of the flat weights, BatchNorm's running
  statistics included, as FLAME's in flsim), then the plain mean; no noise.
  Where no cluster is accepted the global model stays as it is.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .config import DATASET_SHAPES
from .detectors import neups as _neups
from .layout import Layers, flat_tensors, load_flat
from .models import MODELS
from .robust import cosine_matrix, median

TAU = Fraction(1, 3)  # a cluster with this share of suspicious members or more is rejected
THRESHOLD_FLOOR = 0.01  # a NEUP exceeds max(THRESHOLD_FLOOR, 1 / classes) times the client's largest
DDIF_SEEDS = (0, 1, 2)  # the seeds of the random inputs, one DDif vector per seed (the suites': 3 seeds, 0, 1, 2)
DDIF_SAMPLES = 32  # random inputs per seed (the paper's code: 20000; see the module's docstring)
LOG_RATIO_CAP = 80.0  # |log(p_client / p_global)| at most this: a diverged model's DDifs stay finite
MIN_CLUSTER_SIZE = 2  # HDBSCAN's (see the module's docstring)
MIN_SAMPLES = 1


def neups(weights: torch.Tensor, global_weights: torch.Tensor, layers: Layers) -> torch.Tensor:
    """DeepSight's normalised energy updates, K x classes (float64): :func:`flsim.detectors.neups`, with an
    output layer that did not move at all given NEUPs of 0 (not 0/0)."""
    return torch.nan_to_num(_neups(weights, global_weights, layers), nan=0.0)


def threshold_exceedings(values: torch.Tensor, floor: float = THRESHOLD_FLOOR) -> torch.Tensor:
    """Per client (row of K x classes NEUPs), how many NEUPs exceed max(``floor``, 1 / classes) times the
    client's largest: few when the update's energy sits in few output neurons, as training on
    homogeneous (backdoor) data makes it."""
    largest = values.amax(1, keepdim=True)
    return (values > max(floor, 1 / values.shape[1]) * largest).sum(1)


def suspicious(exceedings: torch.Tensor) -> torch.Tensor:
    """DeepSight's labels: a client is suspicious when its threshold exceedings are at most half the
    round's median (the median of an even count: the mean of the middle two)."""
    counts = exceedings.double()
    return counts <= median(counts) / 2


def bias_cosine_distances(weights: torch.Tensor, global_weights: torch.Tensor, layers: Layers) -> torch.Tensor:
    """K x K cosine distances (1 - cosine, float64) between the clients' output-bias updates; an update of
    zero is at distance 1 from every other."""
    updates = weights[:, layers.output_bias] - global_weights[layers.output_bias]
    distances = (1 - cosine_matrix(updates)).clamp(0, 2)
    return ((distances + distances.T) / 2).fill_diagonal_(0)


@torch.inference_mode()
def division_differences(weights: torch.Tensor, global_weights: torch.Tensor, model: nn.Module,
                         input_shape: tuple[int, ...], seeds=DDIF_SEEDS, samples: int = DDIF_SAMPLES) -> torch.Tensor:
    """DeepSight's DDifs, seeds x K x classes (float64): per seed of uniform [0, 1) noise in ``input_shape``,
    per client and class, the mean over the ``samples`` inputs of the client model's predicted probability
    divided by the global model's. ``model``: a model of the architecture, whose tensors are overwritten
    (each row of ``weights`` is loaded into it in turn, in eval mode). The noise is drawn on the CPU from
    its own generator, so every device sees the same inputs."""
    model.eval()
    device = weights.device
    result = []
    for seed in seeds:
        noise = torch.rand((samples, *input_shape), generator=torch.Generator().manual_seed(seed)).to(device)
        load_flat(model, global_weights)
        reference = F.log_softmax(model(noise).double(), dim=1)
        rows = []
        for row in weights:
            load_flat(model, row)
            log_ratio = F.log_softmax(model(noise).double(), dim=1) - reference
            rows.append(log_ratio.clamp(-LOG_RATIO_CAP, LOG_RATIO_CAP).exp().mean(0))
        result.append(torch.stack(rows))
    return torch.stack(result)


def hdbscan_labels(points: torch.Tensor | None = None, distances: torch.Tensor | None = None) -> np.ndarray:
    """HDBSCAN's cluster labels (-1: noise) of K ``points`` (K x features, Euclidean) or of a K x K
    ``distances`` matrix, with DeepSight's settings (``MIN_CLUSTER_SIZE``, ``MIN_SAMPLES``, a single cluster
    allowed). Fewer than 3 clients form one cluster."""
    from sklearn.cluster import HDBSCAN  # late import: only the clustering rules need scikit-learn's HDBSCAN

    data = points if distances is None else distances
    k = len(data)
    if k < 3:
        return np.zeros(k, dtype=np.int64)
    settings = dict(min_cluster_size=MIN_CLUSTER_SIZE, min_samples=MIN_SAMPLES, allow_single_cluster=True, copy=True)
    if distances is not None:
        return HDBSCAN(metric="precomputed", **settings).fit_predict(distances.double().cpu().numpy())
    return HDBSCAN(**settings).fit_predict(points.double().cpu().numpy())


def singletons(labels: np.ndarray) -> np.ndarray:
    """Cluster labels with each noise point (-1) made a cluster of its own (new labels after the largest)."""
    labels = np.asarray(labels, dtype=np.int64).copy()
    noise = labels < 0
    labels[noise] = labels.max(initial=-1) + 1 + np.arange(noise.sum())
    return labels


def cluster_distances(labels: np.ndarray) -> torch.Tensor:
    """K x K float64 on the CPU: 0 between clients of one cluster, 1 otherwise; noise points (-1) are apart
    from all."""
    labels = torch.as_tensor(singletons(labels), device="cpu")  # HDBSCAN's labels live on the CPU
    return (labels[:, None] != labels[None, :]).double()


def ensemble_clusters(neup_values: torch.Tensor, cosine_distances: torch.Tensor,
                      ddifs: torch.Tensor | None = None) -> np.ndarray:
    """DeepSight's combined clustering, K labels with every noise point a cluster of its own: HDBSCAN on the
    NEUPs, on each seed's DDifs (seeds x K x classes; None: left out) and on the cosine distances, each
    made a 0/1 distance (:func:`cluster_distances`); the DDif ones averaged over the seeds, the (two or)
    three averaged, and HDBSCAN on the result."""
    parts = [cluster_distances(hdbscan_labels(points=neup_values)),
             cluster_distances(hdbscan_labels(distances=cosine_distances))]  # on the CPU, as HDBSCAN works
    if ddifs is not None:
        parts.append(torch.stack([cluster_distances(hdbscan_labels(points=seed)) for seed in ddifs]).mean(0))
    merged = torch.stack(parts).mean(0)
    return singletons(hdbscan_labels(distances=merged))


def accepted_clusters(clusters: np.ndarray, labels: torch.Tensor, tau=TAU) -> torch.Tensor:
    """K bools: the clients whose cluster has fewer than ``tau`` (a fraction, 1/3 by default) of its
    members labelled suspicious (``labels``: K bools). Every cluster label is a cluster, -1 included:
    call :func:`singletons` first for DeepSight's lone outliers."""
    clusters = np.asarray(clusters)
    flags = labels.cpu().numpy().astype(bool)
    accepted = np.zeros(len(clusters), dtype=bool)
    for cluster in np.unique(clusters):
        members = clusters == cluster
        accepted[members] = int(flags[members].sum()) < tau * int(members.sum())
    return torch.as_tensor(accepted, device=labels.device)


def clip_to_median_norm(updates: torch.Tensor, accepted: torch.Tensor | None = None) -> torch.Tensor:
    """The ``accepted`` rows of ``updates`` (K x P; None: all), each scaled down to at most the median L2
    norm of all K updates (the accepted and the rejected)."""
    norms = updates.norm(dim=1)
    bound = median(norms).clamp_min(torch.finfo(updates.dtype).tiny)
    kept = updates if accepted is None else updates[accepted]
    kept_norms = norms if accepted is None else norms[accepted]
    return kept * (bound / kept_norms.clamp_min(bound))[:, None]


def deepsight(weights: torch.Tensor, global_weights: torch.Tensor, layers: Layers, model: nn.Module | None = None,
              input_shape: tuple[int, ...] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """DeepSight on one round: the new global weights and the K bools of the clients accepted.

    ``model`` (a model of the architecture, overwritten) and ``input_shape`` give the DDifs; without a
    model the clustering reads the NEUPs and the output-bias cosine distances only. Where no client is
    accepted the global weights come back unchanged."""
    values = neups(weights, global_weights, layers)
    labels = suspicious(threshold_exceedings(values))
    ddifs = None if model is None else division_differences(weights, global_weights, model, input_shape)
    clusters = ensemble_clusters(values, bias_cosine_distances(weights, global_weights, layers), ddifs)
    accepted = accepted_clusters(clusters, labels).to(weights.device)
    if not accepted.any():
        return global_weights.clone(), accepted
    return global_weights + clip_to_median_norm(weights - global_weights, accepted).mean(0), accepted


def model_for(config, device: torch.device | str = "cpu") -> tuple[nn.Module, tuple[int, int, int]]:
    """A model of ``config.model`` for ``config.dataset`` on ``device``, in eval mode, and its input shape:
    what :func:`division_differences` loads each client into. Built on the CPU (whatever the default
    device) and moved."""
    shape, classes = DATASET_SHAPES[config.dataset]
    with torch.device("cpu"):
        model = MODELS.entry(config.model).build(shape, classes)
    return model.to(device).eval(), shape


def rule(weights: torch.Tensor, global_weights: torch.Tensor, server, chosen) -> tuple[torch.Tensor, torch.Tensor]:
    """``aggregator="deepsight"``: :func:`deepsight` with the DDifs of the run's own architecture. A server
    whose weights are not ``config.model``'s (a hand-made layout, as unit tests give) clusters without DDifs."""
    model, shape = model_for(server.config, weights.device)
    if sum(t.numel() for t in flat_tensors(model).values()) != weights.shape[1]:
        model = None
    return deepsight(weights, global_weights, server.layers, model, shape)
