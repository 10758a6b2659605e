"""The server's pre-training is kept for the runs of a process that pre-train on the same inputs
(flsim/pretraining.py): a kept result is the bits of a new training, and runs that differ in
what the training reads train again."""

import numpy as np
import torch

import flsim
from flsim import pretraining

from .test_sweep import assert_same_results


def test_runs_that_differ_only_in_what_the_clients_do_share_one_pretraining(tiny_config):
    other = tiny_config.replace(malicious_data_rate=2, aggregator="median", num_rounds=1)
    flsim.run(tiny_config, cache=False)
    assert len(pretraining._kept) == 1
    shared = flsim.run(other, cache=False)
    assert len(pretraining._kept) == 1  # the other dose and rule found it kept
    pretraining.forget()
    alone = flsim.run(other, cache=False)
    assert_same_results(shared, alone)
    assert np.array_equal(shared.final_weights, alone.final_weights)


def test_what_the_training_reads_gives_another_pretraining(tiny_config):
    kept = []
    for config in (tiny_config, tiny_config.replace(lr=0.05), tiny_config.replace(seed=1),
                   tiny_config.replace(server_share=0.1), tiny_config.replace(local_epochs=2),
                   tiny_config.replace(attack="trigger")):  # the semantic backdoor's images out of the pool
        kept.append(flsim.setup(config).global_weights)
        assert len(pretraining._kept) == len(kept)
    assert all(not torch.equal(kept[0], other) for other in kept[1:])


def test_a_kept_pretraining_is_not_changed_by_its_users(tiny_config):
    first = flsim.setup(tiny_config)
    before = first.global_weights.clone()
    first.global_weights.add_(1.0)  # a caller training in place
    assert torch.equal(flsim.setup(tiny_config).global_weights, before)


def test_only_the_last_few_are_kept(tiny_config, monkeypatch):
    monkeypatch.setattr(pretraining, "KEPT", 2)
    for seed in range(3):
        flsim.setup(tiny_config.replace(seed=seed))
    assert len(pretraining._kept) == 2
