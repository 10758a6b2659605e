"""Where a backdoor lives, by substitution (flsim.localisation, chapter 10)."""

import numpy as np
import pandas as pd
import pytest
import torch

import flsim
from flsim import localisation


def test_round_one_attackers_are_the_runs_round_one_attackers(tiny_config):
    config = tiny_config.replace(num_malicious=2)
    _, attackers = localisation.round_one_attackers(config)
    federation = flsim.setup(config)  # round 1 as flsim.run trains it (flsim.setup's own guarantee)
    round_1 = federation.round(1)
    trained = federation.trainer.train_clients(federation.global_weights, round_1.datasets, config.local_epochs,
                                               round_1.orders)
    assert sorted(attackers) == round_1.chosen[round_1.malicious].tolist() == [0, 1]
    for client, weights in attackers.items():
        assert torch.equal(weights, trained[list(round_1.chosen).index(client)])


@pytest.fixture
def bias_only_attacker(tiny_config, monkeypatch):
    """An attacker whose model is the global model with the target class's output bias raised far: its
    backdoor lives in fc2.bias and nowhere else."""
    config = tiny_config.replace(attack="trigger", num_rounds=1)

    def train(self, start, x, y, epochs, generator, out=None):
        weights = start.clone()
        weights[self.layers.output_bias.start + config.target_class] += 100.0
        return weights

    monkeypatch.setattr(type(flsim.setup(config).trainer), "train", train)
    return config


def test_substitution_finds_a_backdoor_where_it_was_put(bias_only_attacker):
    table = localisation.shares(localisation.substitution(bias_only_attacker)).set_index("tensor")
    assert list(table.index) == ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                                 "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert (table.own_backdoor == 1.0).all() and (table.global_backdoor < 0.5).all()
    others = table.drop(index="fc2.bias")
    # alone: only fc2.bias brings the backdoor; without: only resetting fc2.bias takes it away
    assert table.backdoor_alone["fc2.bias"] == 1.0 and (others.backdoor_alone == others.global_backdoor).all()
    assert table.backdoor_without["fc2.bias"] == table.global_backdoor["fc2.bias"]
    assert (others.backdoor_without == 1.0).all()
    assert table.share_alone["fc2.bias"] == 1.0 and table.share_removed["fc2.bias"] == 1.0
    assert (others.share_alone == 0).all() and (others.share_removed == 0).all()
    assert table.critical.tolist() == [False] * 7 + [True] and table.order.tolist() == [0] * 7 + [1]


def test_shares_are_undefined_where_the_attacker_gained_nothing():
    rows = pd.DataFrame(dict(backdoor_alone=[0.2, 0.6], backdoor_without=[0.2, 0.2], own_backdoor=[0.2, 0.6],
                             global_backdoor=[0.2, 0.2]))
    shared = localisation.shares(rows)
    assert shared.share_alone.isna().tolist() == [True, False] and shared.share_alone[1] == 1.0
    assert shared.share_removed[1] == 1.0


@pytest.mark.parametrize("changes, message", [
    (dict(attack="none"), "needs an attack"), (dict(threshold=0.0), "threshold must be between")])
def test_substitution_refuses_what_it_cannot_measure(tiny_config, changes, message):
    threshold = changes.pop("threshold", 0.9)
    with pytest.raises(ValueError, match=message):
        localisation.substitution(tiny_config.replace(**changes), threshold)


def test_tensor_shares_count_only_the_attackers_that_learned_the_backdoor():
    rows = pd.DataFrame(dict(backdoor="b", tensor=["t", "u"] * 3, own_backdoor=[0.8, 0.8, 0.6, 0.6, 0.1, 0.1],
                             global_backdoor=0.1, backdoor_alone=[0.8, 0.1, 0.5, 0.1, 0.1, 0.1],
                             backdoor_without=[0.1, 0.8, 0.1, 0.6, 0.1, 0.1],
                             critical=[True, False, True, False, False, False]))
    table = localisation.tensor_shares(localisation.shares(rows)).set_index("tensor")
    assert table.models.tolist() == [2, 2] and table.critical.tolist() == [2, 0]  # the third learned nothing
    assert table.share_alone["t"] == pytest.approx(0.9) and table.share_alone["u"] == 0.0
    assert table.share_alone_lo["t"] < 0.9 < table.share_alone_hi["t"]
    assert table.share_removed["t"] == 1.0 and table.share_removed["u"] == 0.0


def test_the_bootstrap_interval_of_a_mean_stays_within_the_values():
    values = [1.0, 1.0, 1.0, 0.6, 1.0]
    mean, low, high = localisation.bootstrap_mean(values)
    assert mean == pytest.approx(0.92) and 0.6 <= low < mean < high <= 1.0
    assert localisation.bootstrap_mean(values) == (mean, low, high)  # seeded
    mean, low, high = localisation.bootstrap_mean([0.5, float("nan")])  # NaN dropped: one value, no interval
    assert mean == 0.5 and np.isnan(low) and np.isnan(high)
