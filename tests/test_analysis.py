import numpy as np
import pandas as pd
import pytest

from flsim.analysis import attacker_ranks, auc_standard_error, auc_table, class_shift, layer_summary, roc_auc


def test_roc_auc():
    assert roc_auc([3, 2, 1, 0], [True, True, False, False]) == 1.0
    assert roc_auc([0, 1, 2, 3], [True, True, False, False]) == 0.0
    assert roc_auc([1, 1, 1, 1], [True, False, True, False]) == 0.5
    assert roc_auc([3, 1, 2, 0], [True, True, False, False]) == 0.75
    assert np.isnan(roc_auc([1, 2], [False, False]))


def test_layer_summary_and_auc_table():
    rows = []
    for round_ in (1, 2):
        for client in range(3):
            malicious = client == 0
            rows.append(dict(round=round_, client=client, malicious=malicious, layer="fc2.bias",
                             max_abs_deviation=4.0 if malicious else 1.0 + client, l2_deviation=1.0,
                             cosine_to_mean=0.1 if malicious else 0.9))
            rows.append(dict(round=round_, client=client, malicious=malicious, layer="fc1.weight",
                             max_abs_deviation=1.0, l2_deviation=1.0, cosine_to_mean=0.5))
    summary = layer_summary(pd.DataFrame(rows)).set_index("layer")
    assert summary.loc["fc2.bias", "ratio"] == pytest.approx(4 / 2.5)
    assert summary.loc["fc2.bias", "auc"] == 1.0 and summary.loc["fc2.bias", "top_rate"] == 1.0
    assert summary.loc["fc1.weight", "auc"] == 0.5
    # The attacker's 4 against the round's median 3 and MAD 1: z = 1 / 1.4826, in both rounds.
    assert summary.loc["fc2.bias", "attacker_z"] == pytest.approx(1 / 1.4826)
    assert summary.loc["fc1.weight", "attacker_z"] == 0  # everyone alike
    table = auc_table(pd.DataFrame(rows))
    assert table.loc["fc2.bias", "cosine_to_mean"] == 1.0  # low cosine is the anomaly
    assert list(table.index) == ["fc2.bias", "fc1.weight"]


def _two_layer_rounds():
    """Three clients (client 0 malicious) over two rounds; fc2.bias ranks the attacker 1st, then tied 2nd."""
    rows = []
    for round_, scores in ((1, (5.0, 1.0, 2.0)), (2, (2.0, 2.0, 3.0))):
        for client, score in enumerate(scores):
            for layer, value in (("fc1.weight", 1.0 + client), ("fc2.bias", score)):
                rows.append(dict(round=round_, client=client, malicious=client == 0, layer=layer,
                                 max_abs_deviation=value, l2_deviation=value, cosine_to_mean=value))
    return pd.DataFrame(rows)


def test_attacker_ranks():
    ranks = attacker_ranks(_two_layer_rounds())
    assert list(ranks.columns) == ["fc1.weight", "fc2.bias"]  # layers in the table's order
    assert ranks["fc2.bias"].tolist() == [1, 2]  # a tie shares the better rank
    assert ranks["fc1.weight"].tolist() == [3, 3]
    assert attacker_ranks(_two_layer_rounds(), "cosine_to_mean")["fc1.weight"].tolist() == [1, 1]  # low is anomalous


def test_attacker_ranks_skips_rounds_without_attacker_and_takes_the_best_attacker():
    frame = _two_layer_rounds()
    frame.loc[frame["round"] == 2, "malicious"] = False
    frame.loc[(frame["round"] == 1) & (frame.client == 2), "malicious"] = True
    ranks = attacker_ranks(frame)
    assert ranks.index.tolist() == [1]
    assert ranks.loc[1].tolist() == [1, 1]


def test_class_shift():
    rows = [dict(round=r, client=c, malicious=c == 0, **{"class": k}, deviation=d)
            for r, devs in ((1, {0: (-3.0, 1.0, 2.0), 1: (1.0, 0.0, -1.0)}), (2, {0: (1.0, -1.0, 0.0), 1: (2.0, -1.0, -1.0)}))
            for k, values in devs.items() for c, d in enumerate(values)]
    shift = class_shift(pd.DataFrame(rows)).set_index("class")
    assert shift.loc[0, "malicious_mean"] == pytest.approx(-1.0)
    assert shift.loc[0, "benign_mean"] == pytest.approx(0.5)
    assert shift.loc[0, "benign_sd"] == pytest.approx(np.std([1.0, 2.0, -1.0, 0.0], ddof=1))
    sd = np.std([1.0, 2.0, -1.0, 0.0], ddof=1)
    assert shift.loc[0, "pooled_z"] == pytest.approx(-1.5 / sd)
    # The attacker's two values -3 and 1: mean -1, t(0.975, 1) = 12.706 times sd 2.83 / sqrt 2 either side.
    assert shift.loc[0, "pooled_z_lo"] == pytest.approx((-1.0 - 12.706 * 2.0 - 0.5) / sd, rel=1e-3)
    assert shift.loc[0, "pooled_z_hi"] == pytest.approx((-1.0 + 12.706 * 2.0 - 0.5) / sd, rel=1e-3)
    # Chapter 1's measure: round 1 (-3 - 1.5) / sd(1, 2), round 2 (1 - (-0.5)) / sd(-1, 0), averaged.
    assert shift.loc[0, "round_z"] == pytest.approx((-4.5 / np.std([1.0, 2.0], ddof=1) + 1.5 / np.std([-1.0, 0.0], ddof=1)) / 2)
    assert shift.loc[0, "positive_share"] == 0.5 and shift.loc[1, "positive_share"] == 1.0


def test_tensor_standing_round_ranges_and_intervals(tiny_config):
    import flsim
    from flsim.analysis import rank_correlation, round_ranges, tensor_standing

    run = flsim.run(tiny_config)
    standing = tensor_standing({"tiny": run}, "fc2.bias").loc["tiny"]
    summary = layer_summary(run.updates).set_index("layer")
    assert standing.auc == summary.auc["fc2.bias"] and standing.best_auc == summary.auc.idxmax()
    assert standing.auc_lo <= standing.auc <= standing.auc_hi and standing.ratio_lo <= standing.ratio_hi
    assert (standing.auc_rank == 1) == (standing.best_auc == "fc2.bias") and 1 <= standing.ratio_rank <= len(summary)
    assert round_ranges([20, 1, 2, 3, 4, 5, 16]) == "1-5, 16 and 20" and round_ranges([]) == "none"
    assert round_ranges([3]) == "3" and round_ranges([1, 3]) == "1 and 3"
    rho, low, high = rank_correlation(pd.Series([1.0, 2, 3, 4, 5, 6, 8, 7]), pd.Series(range(8), dtype=float))
    assert rho == pytest.approx(1 - 6 * 2 / (8 * 63)) and low < rho < high < 1


def test_auc_standard_error():
    # Hanley & McNeil at AUC 0.5, 10 + 10 rows: (1/4 + 9/12 + 9/12) / 100
    assert auc_standard_error(0.5, 10, 10) == pytest.approx(np.sqrt(0.0175))
    assert auc_standard_error(1.0, 10, 90) == 0.0
    assert auc_standard_error(0.66, 10, 90) > auc_standard_error(0.66, 100, 900)


def test_first_rounds_of_a_longer_run_are_the_shorter_run(tiny_config):
    import flsim
    from flsim.analysis import first_rounds

    longer = flsim.run(tiny_config.replace(num_rounds=3), cache=False)
    shorter = flsim.run(tiny_config, cache=False)  # 2 rounds
    cut = first_rounds(longer, 2)
    pd.testing.assert_frame_equal(cut.rounds.drop(columns="seconds"), shorter.rounds.drop(columns="seconds"))
    for name in ("updates", "output_bias", "detection", "defence"):
        pd.testing.assert_frame_equal(getattr(cut, name), getattr(shorter, name))
    assert cut.config == longer.config and len(longer.rounds) == 4


def test_regime_names_the_maps_coordinates():
    from flsim import Config
    from flsim.analysis import regime

    assert regime(Config()) == ("5 local SGD steps per client and round, 1 in 10 of each attacker's samples "
                                "poisoned, semantic backdoor (striped_tshirts)")
    # The whole deal of 10 clients: 60000 // 11 = 5454 images, 86 batches of 64, twice.
    assert regime(Config(samples_per_client=None, local_epochs=2, attack="trigger", malicious_data_rate=2,
                         num_malicious=2)).startswith("172 local SGD steps per client and round, 1 in 4 ")
    assert regime(Config(attack="none")) == "5 local SGD steps per client and round, no attack"


def test_tensor_standing_and_sweep_ratio_share_one_runs_round_draws():
    """A run's ratio interval in tensor_standing (chapter 3) is sweep_ratio's for a sweep of that one run
    (chapters 5-7): both come from round_ratio_draws, 1000 draws seeded 0, bit for bit."""
    import flsim
    from flsim.analysis import round_ratio_draws, sweep_ratio, tensor_standing

    rng = np.random.default_rng(3)
    rows = [dict(round=r, client=c, malicious=c == 0 and r != 3, layer=layer,
                 max_abs_deviation=rng.gamma(2.0) + (c == 0) * (layer == "fc2.bias"), l2_deviation=1.0,
                 cosine_to_mean=0.5)
            for r in range(1, 6) for c in range(5) for layer in ("fc1.weight", "fc2.bias")]
    run = flsim.Results(flsim.Config(num_malicious=1), {"updates": pd.DataFrame(rows)})
    standing = tensor_standing({"run": run}, "fc2.bias").loc["run"]
    swept = sweep_ratio([run], "num_malicious").loc[(1, "fc2.bias")]
    assert (standing.ratio_lo, standing.ratio_hi) == (swept.lo, swept.hi)
    point, drawn = round_ratio_draws(run.updates, "max_abs_deviation", np.random.default_rng(0), 1000)["fc2.bias"]
    assert point == pytest.approx(standing.ratio) and len(drawn) == 1000
    assert standing.ratio_lo < standing.ratio < standing.ratio_hi
