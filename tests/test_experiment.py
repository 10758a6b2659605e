"""End-to-end runs on the real Fashion-MNIST, sized to take seconds."""

import pandas as pd
import pytest

import flsim
from flsim import cache, train

DETERMINISTIC = ["rounds", "updates", "output_bias"]


def assert_same_tables(a, b):
    pd.testing.assert_frame_equal(a.rounds.drop(columns="seconds"), b.rounds.drop(columns="seconds"))
    pd.testing.assert_frame_equal(a.updates, b.updates)
    pd.testing.assert_frame_equal(a.output_bias, b.output_bias)


def test_tables_have_the_documented_shape(tiny_config):
    res = flsim.run(tiny_config)
    assert list(res.rounds.columns) == ["round", "main_accuracy", "main_loss", "backdoor_accuracy",
                                        "backdoor_loss", "seconds"]
    assert res.rounds["round"].tolist() == [0, 1, 2]
    assert list(res.updates.columns) == ["round", "client", "malicious", "layer", "max_abs_deviation",
                                         "l2_deviation", "cosine_to_mean"]
    assert len(res.updates) == 2 * 4 * 8  # rounds x clients x parameter tensors
    assert set(res.updates.layer) == {f"{l}.{p}" for l in ("conv1", "conv2", "fc1", "fc2") for p in ("weight", "bias")}
    assert res.updates.groupby("client").malicious.first().tolist() == [True, False, False, False]
    assert list(res.output_bias.columns) == ["round", "client", "malicious", "class", "deviation"]
    # Deviations from the mean sum to zero over the chosen clients.
    sums = res.output_bias.groupby(["round", "class"]).deviation.sum()
    assert sums.abs().max() < 1e-6
    # The round-0 model (server pre-training) already beats chance on 10 classes.
    assert res.rounds.main_accuracy.iloc[-1] > 0.3


def test_same_seed_same_results_other_seed_other_results(tiny_config):
    first = flsim.run(tiny_config, cache=False)
    again = flsim.run(tiny_config, cache=False)
    assert_same_tables(first, again)
    other = flsim.run(tiny_config.replace(seed=1), cache=False)
    assert not other.updates.max_abs_deviation.equals(first.updates.max_abs_deviation)
    assert not other.rounds.main_loss.equals(first.rounds.main_loss)


def test_clients_per_round_draws_clients_with_the_seed(tiny_config):
    config = tiny_config.replace(num_clients=6, clients_per_round=3, num_rounds=3)
    res = flsim.run(config)
    chosen = res.updates.groupby("round").client.unique()
    assert all(len(c) == 3 for c in chosen)
    assert len({tuple(c) for c in chosen}) > 1  # different clients in different rounds
    assert res.updates.groupby("round").client.unique().equals(flsim.run(config, cache=False).updates.groupby("round").client.unique())


def test_the_attacker_stands_out_in_the_output_bias():
    # One semantic attacker, half of its data poisoned: the paper's anomaly statistic
    # (max over classes of |b_k - mean b|) ranks it first in most rounds.
    config = flsim.Config(num_clients=5, samples_per_client=200, num_rounds=4, eval_samples=200,
                          server_share=0.05, malicious_data_rate=2)
    res = flsim.run(config)
    bias = res.updates[res.updates.layer == "fc2.bias"]
    top = bias.loc[bias.groupby("round").max_abs_deviation.idxmax()]
    assert top.malicious.mean() > 0.5
    # It moves the target class (2) up and the striped T-shirts' class (0) down.
    attacker = res.output_bias[res.output_bias.malicious].groupby("class").deviation.mean()
    assert attacker[2] > 0 > attacker[0]


def test_trigger_attack_and_no_attack_run(tiny_config):
    trigger = flsim.run(tiny_config.replace(attack="trigger"))
    assert trigger.rounds.backdoor_accuracy.between(0, 1).all()
    clean = flsim.run(tiny_config.replace(attack="none"))
    assert clean.rounds.backdoor_accuracy.isna().all() and not clean.updates.malicious.any()


def test_dirichlet_partition_runs(tiny_config):
    res = flsim.run(tiny_config.replace(partition="dirichlet", dirichlet_alpha=0.3))
    assert len(res.rounds) == 3


def test_results_cache_hits_and_code_changes_invalidate(tiny_config, monkeypatch):
    first = flsim.run(tiny_config)
    path = cache.cache_path(tiny_config)
    assert (path / "config.json").exists()
    hit = flsim.run(tiny_config)
    pd.testing.assert_frame_equal(hit.rounds, first.rounds)  # seconds included: it was read, not rerun
    monkeypatch.setattr(cache, "source_hash", lambda: "changed-code")
    assert cache.load_cached(tiny_config) is None


def test_save_and_load_round_trip(tiny_config, tmp_path):
    res = flsim.run(tiny_config)
    res.save(tmp_path / "out")
    loaded = flsim.Results.load(tmp_path / "out")
    assert loaded.config == res.config
    pd.testing.assert_frame_equal(loaded.updates, res.updates)
    pd.testing.assert_frame_equal(loaded.rounds, res.rounds)


def test_interrupted_save_leaves_nothing_behind(tiny_config, tmp_path, monkeypatch):
    res = flsim.run(tiny_config, cache=False)
    calls = []

    def interrupted(self, path, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C in the middle of writing
        return original(self, path, **kwargs)

    original = pd.DataFrame.to_parquet
    monkeypatch.setattr(pd.DataFrame, "to_parquet", interrupted)
    with pytest.raises(KeyboardInterrupt):
        res.save(tmp_path / "entry")
    assert list(tmp_path.iterdir()) == []
    assert cache.load_cached(tiny_config) is None


def test_record_rounds_streams_the_round_and_keeps_the_rounds_table(tiny_config, monkeypatch):
    """FedAvg over chunks of clients, with the attacker's model replacement applied chunk by chunk."""
    config = tiny_config.replace(attack_scale=3.0, attack_norm_bound=50.0)
    full = flsim.run(config, cache=False)
    monkeypatch.setattr(train, "STREAM_CHUNK", 3)  # 4 clients: chunks of 3 and 1
    streamed = flsim.run(config.replace(record="rounds"))
    pd.testing.assert_frame_equal(streamed.rounds.drop(columns="seconds"), full.rounds.drop(columns="seconds"),
                                  check_exact=False, rtol=1e-4, atol=1e-6)  # the sums' rounding differs
    for name in ("updates", "output_bias", "detection", "defence"):
        assert getattr(streamed, name).empty and not getattr(full, name).empty
    cached = flsim.run(config.replace(record="rounds"))  # the empty tables survive the cache
    pd.testing.assert_frame_equal(cached.rounds, streamed.rounds)
    assert cached.updates.empty
