"""flsim.setup: the federation simulate runs, so that round 1 by hand is round 1 of flsim.run."""

import numpy as np
import pytest
import torch

import flsim
from flsim.metrics import update_statistics


def test_round_1_by_hand_is_round_1_of_run(tiny_config):
    federation = flsim.setup(tiny_config)
    results = flsim.run(tiny_config)
    assert federation.evaluate(federation.global_weights)["main_accuracy"] == results.rounds.main_accuracy[0]
    round_1 = federation.round(1)
    weights = federation.trainer.train_clients(federation.global_weights, round_1.datasets,
                                               tiny_config.local_epochs, round_1.orders)
    stats = update_statistics(weights, federation.global_weights, federation.trainer.layers)
    table = results.updates[results.updates["round"] == 1]
    assert table.max_abs_deviation.tolist() == stats["max_abs_deviation"].reshape(-1).tolist()  # the same bits
    assert round_1.malicious.tolist() == table.drop_duplicates("client").malicious.tolist() == [True, False, False, False]
    assert torch.equal(round_1.datasets[0][0], federation.poisoned_data[0][0])  # the attacker trains on its poison
    assert federation.backdoor.kind == "semantic" and len(federation.clean_data) == tiny_config.num_clients


def test_rounds_are_asked_for_in_order(tiny_config):
    federation = flsim.setup(tiny_config.replace(clients_per_round=2))
    assert len(federation.round(1).chosen) == 2
    with pytest.raises(ValueError, match="the next round is 2"):
        federation.round(3)


def test_the_final_model_is_kept_saved_and_rebuilt(tiny_config, tmp_path):
    results = flsim.run(tiny_config)
    federation = flsim.setup(tiny_config)
    final = torch.from_numpy(results.final_weights)
    assert federation.evaluate(final)["main_accuracy"] == results.rounds.main_accuracy.iloc[-1]
    model = results.model()
    assert isinstance(model, flsim.models.PaperCNN) and not model.training
    x, y = federation.test
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    assert accuracy == pytest.approx(results.rounds.main_accuracy.iloc[-1], abs=1.5 / len(y))
    loaded = flsim.Results.load(results.save(tmp_path / "run"))
    assert np.array_equal(loaded.final_weights, results.final_weights) and loaded.output_layer == "fc2"
