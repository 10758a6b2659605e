"""Detectors on small hand-made updates, and the detection summary on a hand-made table."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from flsim import analysis, detectors, robust
from flsim.layout import Layers

# A toy "model": 2 classes, output weight 2 x 2 (entries 0-3), output bias (4-5), one hidden weight (6).
LAYERS = Layers({"fc2.weight": slice(0, 4), "fc2.bias": slice(4, 6), "fc1.weight": slice(6, 7)}, "fc2")


def test_median_and_robust_z():
    assert robust.median(torch.tensor([3.0, 1.0, 2.0])).item() == 2.0
    assert robust.median(torch.tensor([4.0, 1.0, 3.0, 2.0])).item() == 2.5  # mean of the middle two
    scores = torch.tensor([1.0, 1.1, 0.9, 1.0, 10.0])
    # median 1.0, MAD 0.1 (the deviations 0, 0.1, 0.1, 0, 9): z = (x - 1) / 0.14826
    assert robust.robust_z(scores)[-1].item() == pytest.approx(9 / 0.14826, rel=1e-4)
    assert robust.outliers(scores).tolist() == [False, False, False, False, True]
    assert not robust.outliers(torch.ones(4)).any()  # no spread, no outlier


def toy(updates, global_weights=None):
    """Client weights from a global model and each client's update (rows)."""
    global_weights = torch.zeros(7) if global_weights is None else global_weights
    return global_weights + torch.tensor(updates, dtype=torch.float32), global_weights


def test_output_bias_scores():
    w, g = toy([[0, 0, 0, 0, 0.1, -0.1, 0], [0, 0, 0, 0, 0.1, -0.2, 0], [0, 0, 0, 0, 0.7, -0.4, 0],
                [0, 0, 0, 0, 0.2, -0.1, 0]])
    # Mean bias (0.275, -0.2): the paper's max |b_k - mean b| per client.
    assert detectors.output_bias_max(w, g, LAYERS).tolist() == pytest.approx([0.175, 0.175, 0.425, 0.1])
    # Per class, a robust z across clients; class 0: median 0.15, MAD 0.05 -> client 2: 0.55 / (0.05 * 1.4826).
    z = detectors.output_bias_class(w, g, LAYERS)
    assert z[2].item() == pytest.approx(0.55 / (0.05 * 1.4826), rel=1e-4)
    assert z.argmax().item() == 2


def test_update_norm_and_cosine_distance_to_mean():
    g = torch.arange(7.0)
    w, g = toy([[3, 4, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0], [0, -1, 0, 0, 0, 0, 0]], g)
    assert detectors.update_norm(w, g, LAYERS).tolist() == pytest.approx([5, 1, 1])
    # Mean update (4/3, 1, 0...): cosine of (3, 4) is (4 + 4) / (5 * 5/3) = 0.96.
    assert detectors.cosine_distance_to_mean(w, g, LAYERS).tolist() == pytest.approx(
        [1 - 0.96, 1 - 0.8, 1 + 0.6], abs=1e-6)


def test_deepsight_energy_prefers_updates_concentrated_on_one_class():
    # Energy per output neuron = |bias update| + sum |incoming weight updates|.
    w, g = toy([[1, 1, 0, 0, 1, 0, 5],      # energies (3, 0): one neuron carries everything
                [1, 0, 1, 0, 1, 1, 0],      # energies (2, 2)
                [0.5, 0, 1, 1, 0, 1, 0]])   # energies (0.5, 3)
    neups = detectors.neups(w, g, LAYERS)
    assert neups[0].tolist() == pytest.approx([1, 0])
    assert neups[2].tolist() == pytest.approx([0.25 / 9.25, 9 / 9.25])
    # Threshold max(0.01, 1/2) * largest NEUP: client 0 exceeds it once, clients 1 and 2 twice
    # (0.25/9.25 = 0.027 is not above 0.5 * 0.973, so client 2 also exceeds once).
    scores = detectors.deepsight_energy(w, g, LAYERS)
    assert scores.tolist() == pytest.approx([-1 + 1, -2 + 0.5, -1 + 9 / 9.25])
    assert scores.argmax().item() == 0


def test_foolsgold_similarity_and_krum_score():
    w, g = toy([[1, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0], [0, 0, 2, 0, 0, 0, 0]])
    assert detectors.foolsgold_similarity(w, g, LAYERS).tolist() == pytest.approx([1, 1, 0, 0])
    # Squared distances: d(0,1) = 0, d(0,2) = d(1,2) = 2, d(0,3) = d(1,3) = 5, d(2,3) = 5.
    # With K = 4 and f = 1, each client sums its K - f - 2 = 1 nearest.
    assert detectors.krum_score(w, g, LAYERS).tolist() == pytest.approx([0, 0, 2, 5])
    assert detectors.krum_score(w, g, LAYERS, f=0).tolist() == pytest.approx([2, 2, 4, 10])


def test_score_all_gives_every_detector_k_scores():
    torch.manual_seed(0)
    w, g = torch.randn(5, 7), torch.randn(7)
    scores = detectors.score_all(w, g, LAYERS)
    assert list(scores) == list(detectors.DETECTORS)
    assert all(s.shape == (5,) and torch.isfinite(s).all() for s in scores.values())
    for name, detector in detectors.DETECTORS.items():  # the pairwise ones' shared Gram matrix changes nothing
        assert torch.equal(scores[name], detector(w, g, LAYERS).float())


def test_tpr_at_fpr():
    benign = list(range(20))  # 0 .. 19: at most 1 of 20 may lie above the threshold, which is 18
    scores = benign + [18, 18.5, 30]
    malicious = [False] * 20 + [True] * 3
    assert analysis.tpr_at_fpr(scores, malicious, 0.05) == pytest.approx(2 / 3)
    assert math.isnan(analysis.tpr_at_fpr([1, 2], [False, False]))


def detection_table():
    """Three rounds, five clients, client 0 attacks in rounds 2 and 3 only; one detector sees it
    from round 3 on, the other never."""
    rows = []
    for round_ in (1, 2, 3):
        for client in range(5):
            malicious = client == 0 and round_ >= 2
            good = 10.0 if (malicious and round_ == 3) else 1.0 + 0.1 * client
            if round_ == 1 and client == 4:
                good = 50.0  # a false alarm in the attacker-free round
            rows.append(dict(round=round_, client=client, malicious=malicious, detector="good", score=good))
            rows.append(dict(round=round_, client=client, malicious=malicious, detector="blind",
                             score=1.0 + 0.1 * client))
    return pd.DataFrame(rows)


def test_detection_summary():
    summary = analysis.detection_summary(detection_table()).set_index("detector")
    good, blind = summary.loc["good"], summary.loc["blind"]
    assert good.rounds_to_detection == 2  # attacks from round 2, first flagged in round 3
    assert np.isnan(blind.rounds_to_detection)
    assert good.tpr == 0.5 and blind.tpr == 0
    assert good.clean_round_fpr == pytest.approx(1 / 5)  # round 1: client 4 flagged
    assert good.fpr == pytest.approx(1 / 13)
    # Client 0 scores lowest in every round; pooled over rounds it ties with its own benign round 1.
    assert blind.auc == pytest.approx(1 / 26)
    assert good.auc == pytest.approx(12.5 / 26)  # round 3 beats all benign rows but the false alarm
    assert good.tpr_at_fpr == 0  # 5% of 13 benign rows is none: the threshold is the false alarm, 50
    flags = analysis.flag(detection_table())
    assert flags.sum() == 2


def test_gram_in_float32_blocks_keeps_the_distances_digits(monkeypatch):
    monkeypatch.setattr(robust, "GRAM_COLUMNS", 100)
    monkeypatch.setattr(robust, "GRAM_JOB_COLUMNS", 300)  # 4 jobs of 3, 3, 3 and 2 blocks
    torch.manual_seed(0)
    base = torch.randn(1001)
    updates = base + 0.1 * torch.randn(5, 1001)  # similar rows: distances 2% of the squared norms
    exact = updates.double() @ updates.double().T
    blocked = robust.gram_matrix(updates)
    assert blocked.dtype == torch.float64
    torch.testing.assert_close(blocked, exact, rtol=0, atol=1e-7 * exact.diagonal().max().item())
    distances = robust.sq_distances_from_gram(blocked)
    torch.testing.assert_close(distances, torch.cdist(updates.double(), updates.double()) ** 2, rtol=1e-5, atol=0)
    torch.testing.assert_close(robust.gram_matrix(updates, map=lambda f, jobs: [f(j) for j in reversed(jobs)][::-1]),
                               blocked, rtol=0, atol=0)  # the jobs' order of execution does not matter


def test_statistics_from_precomputed_updates_are_the_same_bits():
    from flsim.metrics import ROW_CHUNK, update_statistics

    torch.manual_seed(1)
    w, g = torch.randn(2 * ROW_CHUNK + 3, 7), torch.randn(7)  # three chunks of clients, the last one short
    computed, given = update_statistics(w, g, LAYERS), update_statistics(w, g, LAYERS, w - g)
    assert all(torch.equal(computed[name], given[name]) for name in computed)
    assert computed["max_abs_deviation"].shape == (len(w), len(LAYERS))


def test_a_rounds_analysis_on_worker_threads_is_the_same_bits_as_on_one(monkeypatch):
    from flsim import metrics
    from flsim.workers import WorkerPool, intra_op_threads

    monkeypatch.setattr(metrics, "COLUMN_CHUNK", 3)  # 7 parameters: means in 3 jobs
    monkeypatch.setattr(robust, "GRAM_COLUMNS", 2)
    monkeypatch.setattr(robust, "GRAM_JOB_COLUMNS", 4)
    torch.manual_seed(2)
    w, g = torch.randn(3 * metrics.ROW_CHUNK + 1, 7), torch.randn(7)  # statistics in 4 jobs
    with intra_op_threads(1):
        serial_stats = metrics.update_statistics(w, g, LAYERS)
        serial_scores = detectors.score_all(w, g, LAYERS)
    pool = WorkerPool(3)
    try:
        threaded_stats = metrics.update_statistics(w, g, LAYERS, map=pool.map)
        threaded_scores = detectors.score_all(w, g, LAYERS, map=pool.map)
    finally:
        pool.shutdown()
    assert all(torch.equal(threaded_stats[name], serial_stats[name]) for name in serial_stats)
    assert all(torch.equal(threaded_scores[name], serial_scores[name]) for name in serial_scores)


def test_the_worker_pool_returns_results_in_order_and_raises_a_jobs_error():
    from flsim.workers import WorkerPool

    pool = WorkerPool(2)
    try:
        assert pool.map(lambda k: (k, torch.get_num_threads()), range(5)) == [(k, 1) for k in range(5)]
        with pytest.raises(ZeroDivisionError):
            pool.map(lambda k: 1 / k, [1, 0, 2])
    finally:
        pool.shutdown()


def test_cosine_distance_of_updates_that_cancel_stays_in_range():
    torch.manual_seed(0)
    a, b = torch.randn(2, 50)
    w = torch.stack([a, b, -(a + b)])  # the mean update is zero; its squared length rounds to noise
    for noise in (1e-7, -1e-7):  # of either sign (which one depends on the machine's float products)
        gram = robust.gram_matrix(w)
        gram -= gram.mean() - noise
        scores = detectors.cosine_distance_to_mean(w, torch.zeros(50), {"all": slice(0, 50)}, gram=gram)
        assert torch.isfinite(scores).all() and (scores >= 0).all() and (scores <= 2).all()


def test_the_old_name_of_the_cosine_detector_warns_and_names_the_new_one():
    w, g = torch.randn(4, 7), torch.zeros(7)
    with pytest.warns(DeprecationWarning, match="now cosine_distance_to_mean"):
        old = detectors.cosine_to_mean(w, g, LAYERS)
    assert torch.equal(old, detectors.cosine_distance_to_mean(w, g, LAYERS))
    assert "cosine_distance" in detectors.DETECTORS and "cosine_to_mean" not in detectors.DETECTORS
