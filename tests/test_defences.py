"""Every aggregation rule against its paper's definition, on small hand-made updates."""

import numpy as np
import pandas as pd
import pytest
import torch

import flsim
from flsim.layout import Layers
from flsim import aggregators, detectors
from flsim.aggregators import Server

LAYERS = Layers({"fc2.weight": slice(0, 4), "fc2.bias": slice(4, 6), "fc1.weight": slice(6, 7)}, "fc2")


def t(rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_the_built_in_rules_are_registered():
    assert aggregators.AGGREGATORS.built_in == {"fedavg", "median", "trimmed_mean", "krum", "multi_krum", "norm_clip",
                                                "foolsgold", "flame", "rlr", "bias_filter", "deepsight"}
    assert flsim.Config().aggregator == "fedavg"


def test_coordinate_median():
    w = t([[1, 5, 3], [2, 0, 9], [7, 4, 4]])
    result = aggregators.coordinate_median(w, torch.zeros(3))
    assert result.weights.tolist() == [2, 4, 4] and result.accepted is None
    four = t([[1], [2], [10], [4]])
    assert aggregators.coordinate_median(four, torch.zeros(1)).weights.tolist() == [3]  # (2 + 4) / 2


def test_trimmed_mean_drops_the_extremes_of_each_coordinate():
    w = t([[1, 50], [2, 0], [3, 2], [4, 1], [100, 3]])
    # fraction 0.2 of 5 clients: one value cut at each end, per coordinate.
    assert aggregators.trimmed_mean(w, torch.zeros(2), 0.2).weights.tolist() == pytest.approx([3, 2])
    assert aggregators.trimmed_mean(w, torch.zeros(2), 0.0).weights.tolist() == pytest.approx(w.mean(0).tolist())


def test_krum_and_multi_krum():
    g = torch.full((2,), 7.0)  # distances do not depend on the global model
    w = g + t([[0, 0], [1, 0], [0, 1], [1, 1], [10, 10]])
    # n = 5, f = 1: each client sums its n - f - 2 = 2 nearest squared distances.
    # (0,0): 1 + 1 = 2; (1,0): 1 + 1 = 2; (0,1): 2; (1,1): 2; (10,10): 162 + 181 = 343. Ties: the first.
    chosen = aggregators.krum(w, g, f=1)
    assert chosen.accepted.tolist() == [True, False, False, False, False]
    assert torch.equal(chosen.weights, w[0])
    multi = aggregators.krum(w, g, f=1, keep=4)  # Multi-Krum: the mean of the n - f best
    assert multi.accepted.tolist() == [True, True, True, True, False]
    assert multi.weights.tolist() == pytest.approx((g + 0.5).tolist())
    with pytest.raises(ValueError, match="2f \\+ 3"):
        aggregators.krum(w[:4], g, f=1)


def test_norm_clip_scales_long_updates_to_the_bound():
    g = t([1, 1])
    w = g + t([[3, 4], [0, 1], [0, 0.5]])  # norms 5, 1, 0.5
    clipped = aggregators.norm_clip(w, g, bound=2.0)
    assert clipped.weights.tolist() == pytest.approx((g + (t([1.2, 1.6]) + t([0, 1]) + t([0, 0.5])) / 3).tolist())
    assert clipped.accepted is None
    # No bound: the round's median norm (1): (3, 4) -> (0.6, 0.8), the others stay.
    assert aggregators.norm_clip(w, g).weights.tolist() == pytest.approx((g + t([0.6, 2.3]) / 3).tolist())


def test_norm_clip_noise_has_std_sigma_times_the_bound():
    g = torch.zeros(20000)
    w = g + torch.zeros(3, 20000)
    noisy = aggregators.norm_clip(w, g, bound=0.5, sigma=0.1, generator=torch.Generator().manual_seed(0))
    assert noisy.weights.std().item() == pytest.approx(0.05, rel=0.03)
    again = aggregators.norm_clip(w, g, bound=0.5, sigma=0.1, generator=torch.Generator().manual_seed(0))
    assert torch.equal(noisy.weights, again.weights)


def foolsgold_reference(history: np.ndarray) -> np.ndarray:
    """FoolsGold's weights as in the authors' reference code (DistSys/FoolsGold), loops and all,
    without the feature-importance option."""
    n = len(history)
    unit = history / np.linalg.norm(history, axis=1, keepdims=True)
    cs = unit @ unit.T - np.eye(n)
    maxcs = np.max(cs, axis=1)
    for i in range(n):
        for j in range(n):
            if i != j and maxcs[i] < maxcs[j]:
                cs[i][j] = cs[i][j] * maxcs[i] / maxcs[j]
    wv = 1 - np.max(cs, axis=1)
    wv[wv > 1] = 1
    wv[wv < 0] = 0
    wv = wv / np.max(wv)
    wv[wv == 1] = 0.99
    with np.errstate(divide="ignore"):
        wv = np.log(wv / (1 - wv)) + 0.5
    wv[np.isinf(wv) + (wv > 1)] = 1
    wv[wv < 0] = 0
    return wv


def test_foolsgold_weights_follow_the_reference_code():
    rng = np.random.default_rng(0)
    for _ in range(5):
        history = rng.normal(size=(6, 40))
        history[4] = history[5] + 0.05 * rng.normal(size=40)  # two near-identical sybils
        got = aggregators.foolsgold_weights(torch.tensor(history)).numpy()
        assert got == pytest.approx(foolsgold_reference(history), abs=1e-9)
    # Sybils pushing the same direction get no weight; diverse honest clients keep theirs.
    history = torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0.1, 1.0], [0, 0, 0.1, 1.0]])
    alpha = aggregators.foolsgold_weights(history)
    assert alpha[3:].tolist() == [0, 0] and (alpha[:3] == 1).all()


def test_foolsgold_aggregates_with_normalised_weights_and_remembers_history():
    server = Server(flsim.Config(aggregator="foolsgold"), LAYERS, torch.Generator())
    g = torch.zeros(4)
    w = t([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0.1, 1], [0, 0, 0.1, 1]])
    first = server.aggregate(w, g, np.arange(5))
    assert first.weights.tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 3, 0])  # the three honest, averaged
    assert first.accepted.tolist() == [True, True, True, False, False]
    # The history is per client and accumulates: client 0 now looks like the sybils, summed over rounds.
    server.aggregate(w[[0, 3]], g, np.array([0, 3]))
    assert torch.equal(server.history[0], 2 * w[0]) and torch.equal(server.history[3], 2 * w[3])
    assert torch.equal(server.history[1], w[1])


def test_hdbscan_admits_the_majority_cluster_and_leaves_out_its_outliers():
    points = t([[1.0], [1.1], [1.12], [1.13], [5.0], [1.05]])
    assert aggregators.hdbscan_cluster((points - points.T).abs()).tolist() == [True] * 4 + [False, True]
    # Two far groups of 3 and 2: only the 3 make a cluster of the minimum size (5 // 2 + 1).
    points = t([[0.0], [0.11], [0.19], [9.0], [9.13]])
    assert aggregators.hdbscan_cluster((points - points.T).abs()).tolist() == [True] * 3 + [False] * 2
    # Two halves: no majority cluster forms, so nobody is singled out.
    points = t([[0.0], [0.11], [9.0], [9.13]])
    assert aggregators.hdbscan_cluster((points - points.T).abs()).all()


def test_hdbscan_takes_distances_symmetric_only_up_to_rounding():
    """A round's cosine distances come from float32 blocks of the Gram matrix: (i, j) and (j, i) may
    differ in their last bits, and FLAME must cluster them all the same."""
    torch.manual_seed(0)
    updates = torch.randn(10, 50) + torch.tensor([3.0] + [0.0] * 49)
    updates[0] = -updates[0]  # one update in the opposite direction
    distances = 1 - aggregators.cosine_matrix(updates)
    jittered = distances + 1e-6 * torch.rand(10, 10, dtype=distances.dtype)  # asymmetric in its last digits
    admitted = aggregators.hdbscan_cluster(jittered)
    assert admitted.tolist() == aggregators.hdbscan_cluster(distances).tolist() and not admitted[0]


def test_the_single_linkage_stand_in_is_deprecated_and_names_hdbscan():
    points = t([[0.0], [0.1], [0.2], [0.3], [5.0]])
    with pytest.warns(DeprecationWarning, match="hdbscan_cluster"):
        assert aggregators.majority_cluster((points - points.T).abs()).tolist() == [True] * 4 + [False]


def test_flame_admits_clips_to_the_median_norm_and_averages():
    g = t([0, 0])
    w = g + t([[1, 0.1], [2, 0.1], [4, 0.2], [0.5, 0.05], [-1, 3]])  # four alike, one in another direction
    result = aggregators.flame(w, g, sigma=0.0)
    assert result.accepted.tolist() == [True, True, True, True, False]
    norms = (w - g).norm(dim=1)
    bound = norms.median().item()  # odd count: the middle norm, client 1's
    clipped = [(w[i] - g) * min(1.0, bound / norms[i].item()) for i in range(4)]
    assert result.weights.tolist() == pytest.approx((g + torch.stack(clipped).mean(0)).tolist())


def test_rlr_flips_the_learning_rate_where_signs_disagree():
    g = t([10, 10, 10])
    updates = t([[1, 1, -1], [1, -1, -1], [1, 1, -1], [1, -1, 1]])  # sign sums 4, 0, -2
    result = aggregators.rlr(g + updates, g, threshold=3)
    mean = updates.mean(0)  # (1, 0, -0.5)
    assert result.weights.tolist() == pytest.approx((g + t([1, -1, -1]) * mean).tolist())
    assert aggregators.rlr(g + updates, g, threshold=2).weights.tolist() == pytest.approx((g + mean).tolist())


def test_bias_filter_drops_the_output_bias_outlier():
    g = torch.zeros(7)
    w = g + t([[0, 0, 0, 0, 0.10, -0.10, 0], [0, 0, 0, 0, 0.12, -0.12, 0], [0, 0, 0, 0, 0.11, -0.11, 0],
               [0, 0, 0, 0, 0.09, -0.09, 0], [0, 0, 0, 0, 0.90, -0.90, 0]])
    result = aggregators.bias_filter(w, g, LAYERS, z=3.0)
    assert result.accepted.tolist() == [True] * 4 + [False]
    assert torch.allclose(result.weights, w[:4].mean(0))


def test_server_applies_the_configured_rule():
    g = torch.zeros(7)
    w = torch.randn(5, 7, generator=torch.Generator().manual_seed(0))
    for name in sorted(aggregators.AGGREGATORS.built_in):
        server = Server(flsim.Config(aggregator=name, num_clients=5, krum_f=1), LAYERS, torch.Generator().manual_seed(1))
        result = server.aggregate(w, g, np.arange(5))
        assert result.weights.shape == (7,) and torch.isfinite(result.weights).all()
        assert result.accepted is None or result.accepted.shape == (5,)
    fedavg = Server(flsim.Config(), LAYERS, torch.Generator()).aggregate(w, g, np.arange(5))
    assert torch.equal(fedavg.weights, w.mean(0)) and fedavg.accepted.all()


@pytest.mark.parametrize("changes, words", [
    (dict(aggregator="bulyan"), ["aggregator", "fedavg", "flame", "bias_filter"]),
    (dict(aggregator="krum", num_clients=4), ["krum", "2 * krum_f + 3 = 5", "got 4"]),
    (dict(aggregator="multi_krum", krum_f=4), ["multi_krum", "= 11", "got 10"]),
    (dict(trim_fraction=0.5), ["trim_fraction", "[0, 0.5)"]),
    (dict(clip_norm=0.0), ["clip_norm", "> 0"]),
    (dict(noise_sigma=-1.0), ["noise_sigma", ">= 0"]),
    (dict(aggregator="rlr", rlr_threshold=11), ["rlr_threshold", "(10)"]),
    (dict(filter_z=0.0), ["filter_z", "> 0"]),
    (dict(krum_f=-1), ["krum_f", ">= 0"]),
])
def test_bad_defence_settings_name_the_parameter(changes, words):
    with pytest.raises(flsim.ConfigError) as error:
        flsim.Config(**changes)
    for word in words:
        assert word in str(error.value)


def test_a_defended_run_records_decisions_and_detection(tiny_config, tmp_path):
    res = flsim.run(tiny_config.replace(aggregator="multi_krum", krum_f=0))
    assert list(res.defence.columns) == ["round", "client", "malicious", "accepted"]
    assert len(res.defence) == 2 * 4 and res.defence.accepted.all()  # f = 0: Multi-Krum keeps all 4
    assert list(res.detection.columns) == ["round", "client", "malicious", "detector", "score"]
    assert len(res.detection) == 2 * 4 * len(detectors.DETECTORS)
    median = flsim.run(tiny_config.replace(aggregator="median"))
    assert median.defence.accepted.isna().all()  # coordinate-wise: no decision per client
    loaded = flsim.Results.load(median.save(tmp_path / "saved"))
    assert loaded.defence.accepted.isna().all()
    pd.testing.assert_frame_equal(loaded.detection, median.detection)


def test_defence_summary_counts_flags_as_a_detector():
    from flsim.analysis import defence_summary

    rounds = pd.DataFrame(dict(round=[0, 1, 2], main_accuracy=[0.5, 0.6, 0.7], backdoor_accuracy=[0.0, 0.9, 0.2]))
    defence = pd.DataFrame(dict(round=[1, 1, 1, 2, 2, 2], client=[0, 1, 2] * 2,
                                malicious=[True, False, False] * 2,
                                accepted=pd.array([False, True, False, True, True, True], dtype="boolean")))
    res = flsim.Results(flsim.Config(), dict(rounds=rounds, defence=defence))
    summary = defence_summary(res)
    assert summary == dict(main_accuracy=0.7, backdoor_accuracy=0.2, backdoor_peak=0.9, tpr=0.5, fpr=0.25)
    res.defence = defence.assign(accepted=pd.array([pd.NA] * 6, dtype="boolean"))
    assert np.isnan(defence_summary(res)["tpr"]) and np.isnan(defence_summary(res)["fpr"])


def test_chapter_7_figures():
    import matplotlib.pyplot as plt

    from flsim import plots

    table = pd.DataFrame({"semantic": [0.9, np.nan], "trigger": [0.5, 0.7]}, index=["a", "b"])
    fig = plots.metric_heatmap(table, "ROC-AUC")
    assert fig.axes[0].get_xlabel() == "" and len(fig.axes) == 2  # the heatmap and its colour bar
    plt.close(fig)
    runs = pd.DataFrame(dict(attack=["x"] * 3 + ["y"] * 3, aggregator=["fedavg", "krum", "median"] * 2,
                             main_accuracy=[0.7, 0.6, 0.6, 0.7, 0.5, 0.5], backdoor_peak=[1.0, 0.0, 0.0, 0.5, 0.0, 0.0]))
    fig = plots.defence_tradeoff(runs)
    assert [ax.get_title() for ax in fig.axes] == ["x", "y"]
    assert fig.axes[0].get_xlabel() == "accuracy (%)"
    # Two defences with the same numbers keep rows of their own, named on the axis.
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["fedavg", "krum", "median"]
    main, backdoor = fig.axes[0].collections[1:3]
    assert main.get_offsets()[:, 1].tolist() == [0, 1, 2] and backdoor.get_offsets()[:, 0].tolist() == [100, 0, 0]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["main accuracy, final", "backdoor accuracy, peak"]
    plt.close(fig)
