"""DeepSight's parts (flsim/deepsight.py) on small constructed updates with known answers, and the rule
``aggregator="deepsight"`` in real runs: its decisions recorded, the same bits twice (tests/test_devicecheck.py
runs it under the device check with every rule)."""

import math
from fractions import Fraction

import numpy as np
import pytest
import torch

import flsim
from flsim import deepsight as ds
from flsim.aggregators import AGGREGATORS
from flsim.layout import Layers

# A hand-made output layer "fc": 3 classes, 2 inputs; weight at 0:6 (row-major, one row per class), bias at 6:9.
LAYERS = Layers({"fc.weight": slice(0, 6), "fc.bias": slice(6, 9)}, "fc")


def layer(weight, bias):
    return torch.tensor([*np.ravel(weight), *bias], dtype=torch.float32)


def test_neups_and_threshold_exceedings_of_a_hand_made_output_layer():
    start = torch.zeros(9)
    concentrated = layer([[1, -1], [0, 1], [0, 0]], [0, 0, -1])  # energies 2, 1, 1
    even = layer([[1, 0], [0, -1], [0.5, 0]], [0, 0, 0.5])  # energies 1, 1, 1
    values = ds.neups(torch.stack([concentrated, even]), start, LAYERS)
    assert torch.allclose(values, torch.tensor([[4 / 6, 1 / 6, 1 / 6], [1 / 3, 1 / 3, 1 / 3]], dtype=torch.float64))
    # threshold: max(0.01, 1/3) times the largest NEUP; 1/6 is not above 4/18, 1/3 is above 1/9
    assert ds.threshold_exceedings(values).tolist() == [1, 3]
    assert ds.threshold_exceedings(values, floor=0.2).tolist() == [1, 3]  # 1/3 still above 0.01's floor
    assert ds.threshold_exceedings(values, floor=1.0).tolist() == [0, 0]  # none exceeds the largest itself
    # 200 classes: 1/200 < 0.01, so the floor decides; NEUPs of 0.009 x largest do not exceed it, 0.011 x do
    wide = torch.tensor([[1.0] + [0.009] * 99 + [0.011] * 100], dtype=torch.float64)
    assert ds.threshold_exceedings(wide).tolist() == [101]
    # an output layer that did not move: NEUPs of 0 (not 0/0), no exceedings
    assert ds.neups(torch.zeros(1, 9), start, LAYERS).tolist() == [[0.0, 0.0, 0.0]]
    assert ds.threshold_exceedings(torch.zeros(1, 3, dtype=torch.float64)).tolist() == [0]


def test_the_neups_agree_with_the_detector_and_the_detector_counts_the_same_exceedings():
    weights = torch.randn(5, 9, generator=torch.Generator().manual_seed(0))
    values = ds.neups(weights, torch.zeros(9), LAYERS)
    assert torch.equal(values, flsim.detectors.neups(weights, torch.zeros(9), LAYERS))
    score = flsim.detectors.deepsight_energy(weights, torch.zeros(9), LAYERS)
    assert torch.equal(-score.ceil().long(), ds.threshold_exceedings(values) - 1)  # -(count) + largest NEUP <= 1


def test_suspicious_means_at_most_half_the_median_count():
    assert ds.suspicious(torch.tensor([10, 10, 9, 4, 5])).tolist() == [False, False, False, True, False]  # 4 <= 4.5
    assert ds.suspicious(torch.tensor([4, 8, 8])).tolist() == [True, False, False]  # 4 <= 4: the boundary counts
    assert ds.suspicious(torch.tensor([2, 4, 6, 8])).tolist() == [True, False, False, False]  # median 5: 2 <= 2.5
    assert ds.suspicious(torch.tensor([3, 3, 3])).tolist() == [False, False, False]


def test_a_cluster_with_a_third_suspicious_is_rejected_and_one_with_fewer_accepted():
    clusters = np.array([0, 0, 0, 1, 1, 1, 1])
    labels = torch.tensor([True, False, False, True, False, False, False])  # 1 of 3, 1 of 4
    assert ds.accepted_clusters(clusters, labels).tolist() == [False] * 3 + [True] * 4
    assert ds.TAU == Fraction(1, 3)
    # half suspicious: rejected; none: accepted; tau = 1/2 lets 1 of 3 in
    assert ds.accepted_clusters(np.array([0, 0]), torch.tensor([True, False])).tolist() == [False, False]
    assert ds.accepted_clusters(clusters, labels, tau=Fraction(1, 2)).tolist() == [True] * 7
    # HDBSCAN's outliers, each a cluster of its own: accepted where not suspicious
    lone = ds.singletons(np.array([-1, 0, -1, 0, 0]))
    assert lone.tolist() == [1, 0, 2, 0, 0]
    assert ds.accepted_clusters(lone, torch.tensor([True, False, False, False, False])).tolist() == [
        False, True, True, True, True]


def test_cluster_distances_keep_outliers_apart():
    distances = ds.cluster_distances(np.array([0, 0, -1, 1, -1]))
    expected = torch.tensor([[0, 0, 1, 1, 1], [0, 0, 1, 1, 1], [1, 1, 0, 1, 1], [1, 1, 1, 0, 1], [1, 1, 1, 1, 0]])
    assert torch.equal(distances, expected.double())


def test_clipping_scales_the_accepted_updates_to_the_median_norm_of_all():
    updates = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0], [6.0, 8.0]])  # norms 1, 2, 3, 10: median 2.5
    clipped = ds.clip_to_median_norm(updates, torch.tensor([True, True, False, True]))
    assert torch.allclose(clipped, torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.5, 2.0]]))  # 10 -> 2.5
    assert torch.allclose(ds.clip_to_median_norm(updates).norm(dim=1), torch.tensor([1.0, 2.0, 2.5, 2.5]))


def test_bias_cosine_distances():
    weights = torch.zeros(3, 9)
    weights[0, 6:] = torch.tensor([1.0, 0, 0])
    weights[1, 6:] = torch.tensor([2.0, 0, 0])
    weights[2, 6:] = torch.tensor([-1.0, 0, 0])
    distances = ds.bias_cosine_distances(weights, torch.zeros(9), LAYERS)
    assert torch.allclose(distances, torch.tensor([[0, 0, 2], [0, 0, 2], [2, 2, 0]], dtype=torch.float64))


def test_ddifs_are_the_ratio_of_predicted_probabilities():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))  # flat weights: 12 weights, 3 biases
    global_weights = torch.zeros(15)  # every class 1/3 on any input
    client = torch.zeros(15)
    client[12:] = torch.tensor([0.0, math.log(2), math.log(5)])  # softmax: 1/8, 2/8, 5/8
    same = global_weights + 0.3  # the same logits up to a constant... only where the weights are 0
    same[:12] = 0
    values = ds.division_differences(torch.stack([global_weights, client, same]), global_weights, model, (1, 2, 2),
                                     seeds=(0, 1), samples=5)
    assert values.shape == (2, 3, 3) and values.dtype == torch.float64
    expected = torch.tensor([[1.0, 1.0, 1.0], [3 / 8, 6 / 8, 15 / 8], [1.0, 1.0, 1.0]], dtype=torch.float64)
    assert torch.allclose(values, expected.expand(2, 3, 3))


def constructed_round(honest=7, attackers=3, seed=0, noise=1.0):
    """Honest updates spread over the 3 classes, attackers' concentrated on class 2 (the target); ``noise``
    scales the small random differences among each group."""
    rng = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(honest):
        scale = 2.0 ** (len(rows) % 3)  # exact in floating point: the same NEUPs and cosines where noise is 0
        rows.append(layer(scale * torch.ones(3, 2) + noise * 0.05 * torch.randn(3, 2, generator=rng),
                          scale * torch.tensor([0.3, -0.2, -0.1]) + noise * 0.02 * torch.randn(3, generator=rng)))
    for _ in range(attackers):
        weight = noise * 0.01 * torch.randn(3, 2, generator=rng)
        weight[2] += 3.0
        rows.append(layer(weight, torch.tensor([-1.0, -1.0, 2.0]) + noise * 0.02 * torch.randn(3, generator=rng)))
    return torch.stack(rows), torch.zeros(9)


def test_the_clustering_separates_honest_clients_from_concentrated_ones():
    weights, start = constructed_round(noise=0.0)  # honest: scaled copies of one update (same NEUPs, same cosine)
    values = ds.neups(weights, start, LAYERS)
    clusters = ds.ensemble_clusters(values, ds.bias_cosine_distances(weights, start, LAYERS))
    assert len(set(clusters[:7])) == 1 and len(set(clusters[7:])) == 1 and clusters[0] != clusters[7]
    assert ds.suspicious(ds.threshold_exceedings(values)).tolist() == [False] * 7 + [True] * 3
    # with noise, HDBSCAN (min_cluster_size 2) may split the honest clients into small clusters, never
    # mixing them with the attackers
    weights, start = constructed_round()
    clusters = ds.ensemble_clusters(ds.neups(weights, start, LAYERS), ds.bias_cosine_distances(weights, start, LAYERS))
    assert not set(clusters[:7]) & set(clusters[7:])


def test_deepsight_accepts_the_honest_cluster_and_averages_its_clipped_updates():
    weights, start = constructed_round()
    new, accepted = ds.deepsight(weights, start, LAYERS)
    assert accepted.tolist() == [True] * 7 + [False] * 3
    updates = weights - start
    bound = updates.norm(dim=1).sort().values[4:6].mean()  # the median of 10 norms
    honest = updates[:7] * (bound / updates[:7].norm(dim=1).clamp_min(bound))[:, None]
    assert torch.allclose(new, start + honest.mean(0))
    # no client suspicious: every cluster, however HDBSCAN splits them, is accepted
    new, accepted = ds.deepsight(weights[:7], start, LAYERS)
    assert accepted.all()


def test_deepsight_keeps_the_global_model_when_it_accepts_nobody(monkeypatch):
    weights, start = constructed_round()
    monkeypatch.setattr(ds, "accepted_clusters", lambda clusters, labels: torch.zeros(len(clusters), dtype=torch.bool))
    new, accepted = ds.deepsight(weights, start + 1, LAYERS)
    assert torch.equal(new, start + 1) and not accepted.any()


TINY = dict(aggregator="deepsight", num_clients=4, samples_per_client=100, num_rounds=2, eval_samples=200,
            server_share=0.05)


def test_the_registered_rule_records_its_decisions_and_gives_the_same_bits_twice():
    assert "deepsight" in AGGREGATORS.built_in
    config = flsim.Config(**TINY)
    first = flsim.run(config, cache=False)
    defence = first.defence
    assert len(defence) == 2 * 4 and defence.accepted.notna().all()  # a decision for every client-round
    assert set(defence.accepted.astype(bool)) <= {True, False}
    again = flsim.run(config, cache=False)
    assert np.array_equal(first.final_weights, again.final_weights)
    assert first.defence.equals(again.defence)


def test_the_rule_reads_no_option_of_another_rule():
    assert AGGREGATORS["deepsight"].options == ()
    assert flsim.Config(**TINY).key() == flsim.Config(**TINY, krum_f=2).key()


@pytest.mark.parametrize("model", ["resnet8"])
def test_ddifs_of_a_model_with_batchnorm_read_its_running_statistics(model):
    config = flsim.Config(model=model, dataset="fashion_mnist")
    net, shape = ds.model_for(config)
    assert shape == (1, 28, 28) and not net.training
    weights = torch.cat([t.detach().reshape(-1) for t in net.state_dict().values() if t.is_floating_point()])
    values = ds.division_differences(weights[None], weights, net, shape, seeds=(0,), samples=4)
    assert torch.allclose(values, torch.ones_like(values))
